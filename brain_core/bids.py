"""Recordings and labels on disk as BIDS-EEG, written with mne-bids.

Layout (one recording = one phase of one session)::

    <bids_root>/
        dataset_description.json  README  participants.tsv  participants.json
        sub-<subject>/ses-<session_id.hex>/
            sub-<subject>_ses-<hex>_scans.tsv                  acq_time = meas_date (UTC, µs)
            eeg/sub-<subject>_ses-<hex>_task-<phase>_eeg.vhdr  BrainVision, IEEE_FLOAT_32
                ..._eeg.vmrk  ..._eeg.eeg  ..._channels.tsv
                ..._eeg.json     BIDS sidecar + key "BrainRecording" (see below)
                ..._events.tsv   trial_type = stim/<phase>/<value>, onset in seconds

What BIDS has no field for (session UUID, device, paradigm, software version, the
``untimed`` flag, measured timing, schema version) is kept in the ``eeg.json`` sidecar
under :data:`SIDECAR_KEY`, so that ``read_recording(write_recording(r)) == r`` holds
exactly: samples, onsets, sampling rate and measurement date included.

A labelled dataset carries the birthdate in ``participants.tsv`` column ``birthdate``
(``YYYY-MM-DD``, ``n/a`` when unknown); the other columns there are kept as they are.

Writes are staged in a hidden folder inside ``bids_root`` and moved into place file by
file with :func:`os.replace`, the ``.vhdr`` last: a recording is visible (to
:func:`find_recordings`) only once all its files are there, and a crash leaves at most
the hidden staging folder behind. Replacing a *different* recording with
``overwrite=True`` is not atomic as a whole: a crash in the middle can mix old and new
sidecars of that one recording; writing it again repairs it.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import logging
import math
import os
import re
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import numpy as np
from pydantic import ValidationError

from brain_core.errors import ConflictError, InvalidInputError, NotFoundError, check_option
from brain_core.files import atomic_write, fsync_dir
from brain_core.models import (
    PHASES,
    Device,
    Event,
    Label,
    Paradigm,
    Phase,
    Recording,
    parse_trial_type,
)

log = logging.getLogger(__name__)

#: Key of the ``eeg.json`` sidecar that holds what BIDS has no field for.
SIDECAR_KEY = "BrainRecording"
#: The participants.tsv column that carries the label.
BIRTHDATE_COLUMN = "birthdate"
DATATYPE = "eeg"
#: EEG data formats BIDS allows and :func:`read_recording` reads.
DATA_EXTENSIONS = (".vhdr", ".edf", ".bdf", ".set")
#: meas_date of data that carry none (a Recording needs one).
UNKNOWN_MEAS_DATE = datetime(1970, 1, 1, tzinfo=UTC)
#: Namespace of the session ids derived for data not written by BRAIN.
SESSION_NAMESPACE = UUID("6f1c2f0e-8d4b-5b7a-9c3e-2a7d1e4b9c10")
DATASET_NAME = "BRAIN EEG recordings"

# pybv stores float32 samples as value_in_µV / resolution. With a resolution of
# 1e6 / 2**20 µV the stored number is volts * 2**20: a power of two, so the float32
# written equals the float32 given, and reading back (times 2**-20 in float64) rounds
# to the same float32. mne-bids' own BrainVision writer uses 0.1 µV, which changes
# about one sample in ten in the last bit.
_RESOLUTION_UV = 1e6 / 2**20
_NA = "n/a"
_STAGING_PREFIX = ".brain-staging-"


# --------------------------------------------------------------------------- names


def session_label(session_id: UUID) -> str:
    """The BIDS ``ses`` label of a session: its UUID as 32 hex digits (no hyphens)."""
    return UUID(str(session_id)).hex


def derived_session_id(subject: str, session: str | None) -> UUID:
    """Session id of BIDS data not written by BRAIN.

    A ``ses`` label of 32 hex digits is read as the UUID it spells; any other label
    (or none) gives a name-based UUID of ``(subject, session)``, the same on every
    read, shared by the day, month and year recordings of that session.
    """
    if session and re.fullmatch(r"[0-9a-fA-F]{32}", session):
        return UUID(hex=session)
    return uuid5(SESSION_NAMESPACE, f"bids/{subject}/{session or ''}")


def recording_path(bids_root: Path, subject: str, session_id: UUID, phase: str) -> Path:
    """Where :func:`write_recording` puts the ``.vhdr`` of this recording."""
    phase = check_option("phase", str(phase), PHASES)
    ses = session_label(session_id)
    base = f"sub-{subject}_ses-{ses}_task-{phase}"
    return Path(bids_root) / f"sub-{subject}" / f"ses-{ses}" / DATATYPE / f"{base}_eeg.vhdr"


def bids_root_of(path: Path) -> Path | None:
    """The dataset folder of a file under ``sub-<label>/``, or None if it is not in one."""
    path = Path(path).absolute()
    for parent in path.parents:
        if parent.name.startswith("sub-"):
            return parent.parent
    return None


def natural_key(text: str) -> list[Any]:
    """Sort key that orders digit runs by value: ``sub-2`` before ``sub-10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _strip_sub(subject: str) -> str:
    return subject[4:] if subject.startswith("sub-") else subject


# --------------------------------------------------------------------------- small file helpers


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_fsync_dir = fsync_dir


def _write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary sibling, fsync it, then rename it over ``path``."""
    atomic_write(path, text.encode("utf-8"), prefix=f".{path.name}.")


def _move_into_place(src: Path, dst: Path) -> None:
    _fsync_file(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dst)


def _read_tsv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Columns and rows of a BIDS TSV file; every value is kept as text."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            rows = [row for row in reader if row]
    except (UnicodeDecodeError, csv.Error) as err:
        raise InvalidInputError(f"{path.name} is not a UTF-8 TSV file: {err}",
                                field=path.name) from None
    if not rows:
        return [], []
    columns = [c.strip() for c in rows[0]]
    records = []
    for row in rows[1:]:
        values = [v.strip() for v in row] + [_NA] * (len(columns) - len(row))
        records.append(dict(zip(columns, values, strict=False)))
    return columns, records


def _format_tsv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    def cell(value: Any) -> str:
        text = _NA if value is None else str(value)
        return re.sub(r"[\t\r\n]+", " ", text) or _NA

    lines = ["\t".join(columns)]
    lines += ["\t".join(cell(row.get(c)) for c in columns) for row in rows]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def _root_lock(bids_root: Path) -> Iterator[None]:
    """Serialize writers of one BIDS root (they share participants.tsv and scans.tsv).

    The lock is taken on the root folder itself, so no lock file lands in the dataset.
    """
    fd = os.open(bids_root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


# --------------------------------------------------------------------------- writing


def write_recording(recording: Recording, bids_root: Path, *, overwrite: bool = False) -> Path:
    """Write one recording into a BIDS-EEG dataset (created if needed).

    Parameters
    ----------
    recording : Recording
        The phase to write; samples are stored as float32 BrainVision, bit-exact.
    bids_root : Path
        The dataset's root folder.
    overwrite : bool
        Replace a *different* recording already stored under the same subject, session
        and phase. Writing the same recording again is always a no-op.

    Returns
    -------
    Path
        The recording's ``.vhdr`` file.

    Raises
    ------
    ConflictError
        If a different recording is stored there and ``overwrite`` is False.
    """
    return _write_recording(recording, Path(bids_root), overwrite=overwrite)[0]


def _write_recording(
    recording: Recording, bids_root: Path, *, overwrite: bool
) -> tuple[Path, bool]:
    """Like :func:`write_recording`; the flag says whether anything was written."""
    if not isinstance(recording, Recording):
        raise InvalidInputError(
            f"Invalid value for the 'recording' parameter: expected a Recording, got "
            f"{type(recording).__name__}.",
            field="recording",
        )
    target = recording_path(bids_root, recording.subject, recording.session_id, recording.phase)
    bids_root.mkdir(parents=True, exist_ok=True)
    with _root_lock(bids_root):
        # Writers stage inside this lock, so any staging folder now is a killed writer's.
        for stale in bids_root.glob(f"{_STAGING_PREFIX}*"):
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            if _same_as_stored(recording, target):
                return target, False
            if not overwrite:
                raise ConflictError(
                    f"A different recording of subject {recording.subject!r}, session "
                    f"{recording.session_id} and phase {recording.phase.value!r} is already "
                    f"stored at {target}; pass overwrite=True to replace it."
                )
        with tempfile.TemporaryDirectory(dir=bids_root, prefix=_STAGING_PREFIX) as tmp:
            staged_root = _stage(recording, Path(tmp))
            _commit(staged_root, bids_root, target)
    log.info("wrote %s", target)
    return target, True


def _same_as_stored(recording: Recording, target: Path) -> bool:
    try:
        return read_recording(target) == recording
    except InvalidInputError as err:  # unreadable or foreign: it is not this recording
        log.debug("stored recording %s is unreadable (%s)", target, err)
        return False


def _stage(recording: Recording, work: Path) -> Path:
    """Write ``recording`` as a complete one-recording BIDS dataset under ``work``."""
    import mne
    import pybv
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    phase = recording.phase.value
    source = work / "source"
    # Write the BrainVision files ourselves (exact resolution, see _RESOLUTION_UV) and
    # let mne-bids copy them: it converts preloaded data with its own 0.1 µV resolution.
    values = sorted(set(recording.paradigm.items))
    markers = [
        {"onset": _onset_sample(e.onset, recording.sfreq, recording.n_times),
         "description": e.value, "type": "Stimulus"}
        for e in recording.events
    ]
    pybv.write_brainvision(
        data=recording.data,
        sfreq=recording.sfreq,
        ch_names=list(recording.ch_names),
        fname_base="recording",
        folder_out=source,
        events=markers or None,
        resolution=_RESOLUTION_UV,
        unit="µV",
        fmt="binary_float32",
        meas_date=recording.meas_date,
    )
    raw = mne.io.read_raw_brainvision(source / "recording.vhdr", preload=False, verbose=False)
    raw.set_annotations(
        mne.Annotations(
            onset=[e.onset for e in recording.events],
            duration=[0.0] * len(recording.events),
            description=[e.trial_type for e in recording.events],
            orig_time=raw.info["meas_date"],
        )
    )
    staged_root = work / "bids"
    staged_root.mkdir()
    make_dataset_description(
        path=staged_root, name=DATASET_NAME, dataset_type="raw",
        generated_by=[{"Name": "BRAIN", "Version": recording.software_version}],
        verbose=False,
    )
    bids_path = BIDSPath(
        subject=recording.subject, session=session_label(recording.session_id), task=phase,
        datatype=DATATYPE, root=staged_root,
    )
    event_id = {f"stim/{phase}/{v}": int(v) for v in values}
    with warnings.catch_warnings():
        # A phase cut short before its first stimulus has no events; the contract allows
        # it, mne-bids warns about it (and suggests a task named "rest").
        warnings.filterwarnings("ignore", message="No events found or provided",
                                category=RuntimeWarning)
        write_raw_bids(raw, bids_path, event_id=event_id, format="auto", verbose=False)
    vhdr = bids_path.copy().update(suffix="eeg", extension=".vhdr").fpath
    _exact_onsets(_sibling(vhdr, "events.tsv"), recording.events)
    _update_sidecar(vhdr.with_suffix(".json"), recording)
    return staged_root


def _onset_sample(onset: float, sfreq: float, n_times: int) -> int:
    return min(int(round(onset * sfreq)), n_times - 1)


def _sibling(data_file: Path, suffix_ext: str) -> Path:
    """``sub-1_ses-x_task-day_eeg.vhdr`` -> ``sub-1_ses-x_task-day_<suffix_ext>``."""
    name = data_file.name
    return data_file.with_name(f"{name[: name.rfind('_')]}_{suffix_ext}")


def _exact_onsets(events_tsv: Path, events: Sequence[Event]) -> None:
    """Put the exact onsets back into events.tsv.

    mne-bids writes each onset as its sample index / sfreq; the collector measures
    onsets more finely than one sample, and those seconds are what BIDS asks for.
    """
    if not events:
        return
    columns, rows = _read_tsv(events_tsv)
    if [r.get("trial_type") for r in rows] != [e.trial_type for e in events]:
        raise RuntimeError(f"mne-bids wrote unexpected events to {events_tsv}")
    for row, event in zip(rows, events, strict=True):
        row["onset"] = repr(float(event.onset))
    events_tsv.write_text(_format_tsv(columns, rows), encoding="utf-8")


def _update_sidecar(sidecar: Path, recording: Recording) -> None:
    meta = json.loads(sidecar.read_text(encoding="utf-8"))
    # mne-bids names the file format's maker (Brain Products); the amplifier is the
    # device that recorded, which BRAIN knows only by its board name.
    meta["Manufacturer"] = _NA
    meta["ManufacturersModelName"] = recording.device.name
    # BrainVision stores the sampling interval in µs as text, which does not always
    # give back the same float; the sidecar keeps the exact rate.
    meta["SamplingFrequency"] = recording.sfreq
    stored = recording.metadata()
    meta[SIDECAR_KEY] = {
        key: stored[key]
        for key in ("schema_version", "session_id", "device", "paradigm", "software_version",
                    "untimed", "timing")
    }
    sidecar.write_text(json.dumps(meta, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def _commit(staged_root: Path, bids_root: Path, target: Path) -> None:
    """Move a staged recording into ``bids_root``; the ``.vhdr`` goes last."""
    for name in ("dataset_description.json", "README", "participants.json"):
        if (staged_root / name).exists() and not (bids_root / name).exists():
            _move_into_place(staged_root / name, bids_root / name)

    rel_dir = target.parent.relative_to(bids_root)
    staged_dir = staged_root / rel_dir
    base = target.name[: target.name.rfind("_")]
    staged = {p.name: p for p in staged_dir.iterdir() if p.name.startswith(base + "_")}
    stale = [p for p in target.parent.glob(base + "_*") if p.name not in staged] \
        if target.parent.exists() else []
    for name, path in sorted(staged.items()):
        if name != target.name:
            _move_into_place(path, target.parent / name)
    for path in stale:  # left by a replaced recording (e.g. an events.tsv it had)
        path.unlink()

    session_dir = target.parent.parent
    for scans in (staged_root / session_dir.relative_to(bids_root)).glob("*_scans.tsv"):
        _merge_rows(scans, session_dir / scans.name, key="filename")
    _merge_participant(staged_root / "participants.tsv", bids_root / "participants.tsv")

    _move_into_place(staged[target.name], target)
    _fsync_dir(target.parent)


def _merge_rows(staged_tsv: Path, final_tsv: Path, *, key: str) -> None:
    """Put the rows of ``staged_tsv`` into ``final_tsv``, replacing rows with the same key."""
    new_columns, new_rows = _read_tsv(staged_tsv)
    if not final_tsv.exists():
        _move_into_place(staged_tsv, final_tsv)
        return
    columns, rows = _read_tsv(final_tsv)
    columns += [c for c in new_columns if c not in columns]
    replaced = {r[key] for r in new_rows}
    rows = [r for r in rows if r.get(key) not in replaced] + new_rows
    rows.sort(key=lambda r: natural_key(r.get(key, "")))
    _write_text_atomic(final_tsv, _format_tsv(columns, rows))


def _merge_participant(staged_tsv: Path, final_tsv: Path) -> None:
    """Add the staged subject to participants.tsv if missing; existing rows stay as they are."""
    if not final_tsv.exists():
        _move_into_place(staged_tsv, final_tsv)
        return
    columns, rows = _read_tsv(final_tsv)
    _, new_rows = _read_tsv(staged_tsv)
    known = {r.get("participant_id") for r in rows}
    added = [
        {c: r.get("participant_id", "") if c == "participant_id" else _NA for c in columns}
        for r in new_rows if r.get("participant_id") not in known
    ]
    if added:
        rows = sorted(rows + added, key=lambda r: natural_key(r.get("participant_id", "")))
        _write_text_atomic(final_tsv, _format_tsv(columns, rows))


# --------------------------------------------------------------------------- labels


def write_labels(bids_root: Path, birthdates: Mapping[str, date | None]) -> Path:
    """Set the ``birthdate`` column of participants.tsv for the given subjects.

    Parameters
    ----------
    bids_root : Path
        The dataset's root folder (created if needed).
    birthdates : mapping of str to date or None
        Subject label (with or without ``sub-``) to birthdate; None writes ``n/a``.
        Subjects not listed keep their value; other columns and rows are kept.

    Returns
    -------
    Path
        The participants.tsv file.
    """
    bids_root = Path(bids_root)
    bids_root.mkdir(parents=True, exist_ok=True)
    updates: dict[str, str] = {}
    for subject, birthdate in birthdates.items():
        label = _strip_sub(str(subject))
        if not re.fullmatch(r"[A-Za-z0-9]{1,64}", label):
            raise InvalidInputError(
                f"Invalid subject label {subject!r}: BIDS labels are 1-64 letters or digits.",
                field="subject",
            )
        if birthdate is not None and not isinstance(birthdate, date):
            raise InvalidInputError(
                f"Invalid birthdate for subject {label!r}: expected a date or None, got "
                f"{type(birthdate).__name__}.",
                field=BIRTHDATE_COLUMN,
            )
        updates[f"sub-{label}"] = birthdate.isoformat() if birthdate else _NA
    path = bids_root / "participants.tsv"
    with _root_lock(bids_root):
        if path.exists():
            columns, rows = _read_tsv(path)
        else:
            columns, rows = ["participant_id"], []
        if "participant_id" not in columns:
            raise InvalidInputError(
                f"{path} has no 'participant_id' column.", field="participant_id"
            )
        if BIRTHDATE_COLUMN not in columns:
            columns.append(BIRTHDATE_COLUMN)
        by_id = {r["participant_id"]: r for r in rows}
        for participant, value in updates.items():
            row = by_id.get(participant)
            if row is None:
                row = {c: _NA for c in columns}
                row["participant_id"] = participant
                rows.append(row)
                by_id[participant] = row
            row[BIRTHDATE_COLUMN] = value
        rows.sort(key=lambda r: natural_key(r.get("participant_id", "")))
        _write_text_atomic(path, _format_tsv(columns, rows))
        _describe_birthdate(bids_root / "participants.json")
    return path


def _describe_birthdate(path: Path) -> None:
    meta = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if BIRTHDATE_COLUMN in meta:
        return
    meta.setdefault("participant_id", {"Description": "Unique participant identifier"})
    meta[BIRTHDATE_COLUMN] = {
        "Description": "The participant's birthdate: the label BRAIN predicts from the EEG.",
        "Format": "YYYY-MM-DD; n/a when unknown",
    }
    _write_text_atomic(path, json.dumps(meta, indent=4) + "\n")


def read_labels(bids_root: Path) -> dict[str, date]:
    """Birthdates from participants.tsv, by subject label (only subjects that have one).

    Raises
    ------
    InvalidInputError
        If a ``birthdate`` cell is neither ``YYYY-MM-DD`` nor ``n/a`` (the message names
        the subject, never the value).
    """
    path = Path(bids_root) / "participants.tsv"
    if not path.exists():
        return {}
    columns, rows = _read_tsv(path)
    if BIRTHDATE_COLUMN not in columns:
        return {}
    labels: dict[str, date] = {}
    for row in rows:
        value = row.get(BIRTHDATE_COLUMN, _NA)
        if value in (_NA, ""):
            continue
        subject = _strip_sub(row.get("participant_id", ""))
        try:
            labels[subject] = date.fromisoformat(value)
        except ValueError:
            raise InvalidInputError(
                f"participants.tsv column 'birthdate' of subject {subject!r} is not a date "
                "in the form YYYY-MM-DD (or n/a).",
                field=BIRTHDATE_COLUMN,
            ) from None
    return labels


# --------------------------------------------------------------------------- reading


def read_recording(path: Path) -> Recording:
    """Read one recording from an EEG file inside a BIDS dataset.

    Files written by BRAIN come back exactly as written. For BIDS data from elsewhere
    (no ``BrainRecording`` key in the sidecar) what is missing is derived: the session
    id from the ``ses`` label (see :func:`derived_session_id`), ``Device(name="unknown")``,
    the paradigm from the ``stim/<phase>/<value>`` events (see
    :func:`paradigm_from_events`); only channels of type EEG are kept.

    Parameters
    ----------
    path : Path
        The data file (``.vhdr``, ``.edf``, ``.bdf`` or ``.set``) under
        ``sub-<label>/[ses-<label>/]eeg/``.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    InvalidInputError
        If it is not a BIDS EEG file or breaks the data contract.
    """
    import mne
    from mne_bids import get_entities_from_fname

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"No such recording file: {path}")
    if path.suffix.lower() not in DATA_EXTENSIONS:
        raise InvalidInputError(
            f"Invalid recording file {path.name}: expected one of "
            f"{', '.join(DATA_EXTENSIONS)}.",
            field="path",
        )
    entities = get_entities_from_fname(path.name, on_error="ignore")
    subject, session, task = entities.get("subject"), entities.get("session"), entities.get("task")
    if not subject or f"sub-{subject}" not in path.parts:
        raise InvalidInputError(
            f"{path} is not inside a BIDS dataset (expected sub-<label>/.../eeg/"
            "sub-<label>_..._eeg<ext>).",
            field="path",
        )
    sidecar = _read_sidecar(path.with_suffix(".json"))
    stored = sidecar.get(SIDECAR_KEY)
    if stored is not None and not isinstance(stored, dict):
        raise InvalidInputError(f"{path.with_suffix('.json').name}: {SIDECAR_KEY!r} must be "
                                "a JSON object.", field=SIDECAR_KEY)

    try:
        # preload: a truncated data file fails here, not later in get_data()
        raw = mne.io.read_raw(path, preload=True, verbose=False)
    except Exception as err:  # MNE raises many types for unreadable files
        raise InvalidInputError(f"Cannot read {path}: {err}", field="path") from err
    picks = _eeg_channels(raw, _sibling(path, "channels.tsv"))
    sfreq = float(raw.info["sfreq"])
    exact_sfreq = sidecar.get("SamplingFrequency")
    if isinstance(exact_sfreq, int | float) and abs(exact_sfreq - sfreq) <= 1e-9 * sfreq:
        sfreq = float(exact_sfreq)
    data = raw.get_data(picks=picks).astype(np.float32)
    duration = data.shape[1] / sfreq
    meas_date = _scans_acq_time(path, subject, session) or raw.info["meas_date"]

    all_events = _read_events_tsv(_sibling(path, "events.tsv"))
    phase = task if task in PHASES else _phase_of(all_events, path)
    events = [e for e in all_events if e.phase == phase]
    outside = [e for e in events if not 0 <= e.onset < duration]
    if outside:
        log.warning("%s: ignoring %d event(s) outside the data", path.name, len(outside))
        events = [e for e in events if 0 <= e.onset < duration]

    try:
        if stored is not None:
            fields = dict(stored)
        else:
            fields = {
                "session_id": derived_session_id(subject, session),
                "device": Device(name="unknown", board_id=None),
                "paradigm": paradigm_from_events(events, field=f"{path.name} events"),
                "software_version": _brain_version(),
            }
        # What the file itself says wins over keys a damaged sidecar may repeat.
        return Recording.model_validate({
            **fields,
            "subject": subject,
            "phase": Phase(phase),
            "sfreq": sfreq,
            "ch_names": tuple(picks),
            "data": data,
            "meas_date": meas_date or UNKNOWN_MEAS_DATE,
            "events": tuple(events),
        })
    except ValidationError as err:
        from brain_core.codec import validation_message

        raise InvalidInputError(f"{path}: {validation_message(err)}", field="path") from err


def _read_sidecar(path: Path) -> dict[str, Any]:
    """The JSON object of an ``eeg.json`` sidecar; ``{}`` when there is none."""
    if not path.exists():
        return {}
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as err:  # bad UTF-8 or JSON, or nested too deep
        raise InvalidInputError(f"{path.name} is not valid UTF-8 JSON: {err}",
                                field=path.name) from None
    if not isinstance(sidecar, dict):
        raise InvalidInputError(f"{path.name} must hold a JSON object.", field=path.name)
    return sidecar


def _brain_version() -> str:
    from brain_core import __version__

    return __version__


def _eeg_channels(raw: Any, channels_tsv: Path) -> list[str]:
    if channels_tsv.exists():
        _, rows = _read_tsv(channels_tsv)
        eeg = {r.get("name") for r in rows if r.get("type", "").upper() == "EEG"}
        picks = [name for name in raw.ch_names if name in eeg]
    else:
        picks = [raw.ch_names[i] for i in _pick_eeg(raw)]
    if not picks:
        raise InvalidInputError(
            f"{channels_tsv.name.replace('_channels.tsv', '')} has no EEG channel.",
            field="ch_names",
        )
    return picks


def _pick_eeg(raw: Any) -> list[int]:
    import mne

    return list(mne.pick_types(raw.info, eeg=True, exclude=()))


def _scans_acq_time(path: Path, subject: str, session: str | None) -> datetime | None:
    folder = path.parent.parent
    prefix = f"sub-{subject}" + (f"_ses-{session}" if session else "")
    scans = folder / f"{prefix}_scans.tsv"
    if not scans.exists():
        return None
    _, rows = _read_tsv(scans)
    wanted = f"{path.parent.name}/{path.name}"
    for row in rows:
        if row.get("filename") == wanted and row.get("acq_time", _NA) != _NA:
            text = row["acq_time"]
            try:
                value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                log.warning("%s: unreadable acq_time for %s", scans.name, path.name)
                return None
            # BIDS: acq_time without an offset is local time of an unknown zone; UTC is
            # the best guess we can make.
            return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _read_events_tsv(events_tsv: Path) -> list[Event]:
    """Stimulus events (``stim/<phase>/<value>``) of an events.tsv, sorted by onset."""
    if not events_tsv.exists():
        return []
    _, rows = _read_tsv(events_tsv)
    events = []
    for i, row in enumerate(rows):
        parsed = parse_trial_type(row.get("trial_type", ""))
        if parsed is None:
            continue
        try:
            onset = float(row["onset"])  # float() of the text written by repr(): exact
            if not math.isfinite(onset):
                raise ValueError(onset)
        except (KeyError, ValueError):
            raise InvalidInputError(
                f"{events_tsv.name} row {i + 1}: 'onset' is not a number.", field="onset"
            ) from None
        if onset < 0:
            log.warning("%s row %d: ignoring a negative onset", events_tsv.name, i + 1)
            continue
        events.append(Event(onset=onset, phase=Phase(parsed[0]), value=parsed[1]))
    events.sort(key=lambda e: e.onset)
    return events


def _phase_of(events: Sequence[Event], path: Path) -> str:
    phases = sorted({e.phase.value for e in events}, key=PHASES.index)
    if len(phases) != 1:
        found = ", ".join(phases) or "none"
        raise InvalidInputError(
            f"{path.name}: the task is not one of {', '.join(PHASES)} and its stim events "
            f"name {found} phase(s); import it with brain_core.importers to split it by "
            "phase.",
            field="task",
        )
    return phases[0]


def paradigm_from_events(events: Sequence[Event], *, field: str = "events") -> Paradigm:
    """The paradigm a sequence of events implies, for data that did not record one.

    Items are the distinct values shown (sorted); ``repetitions`` is the largest number
    of showings of one item; ``soa_s`` the median onset difference rounded to 1 ms;
    no jitter, seed 0.

    Raises
    ------
    InvalidInputError
        If there is no event.
    """
    if not events:
        raise InvalidInputError(
            f"No stimulus events in {field}: expected annotations or trial_type values "
            "like 'stim/day/17', 'stim/month/3' or 'stim/year/1994'.",
            field="events",
        )
    counts = Counter(e.value for e in events)
    onsets = np.sort([e.onset for e in events])
    soa_s = round(float(np.median(np.diff(onsets))), 3) if len(onsets) > 1 else 0.5
    soa_s = min(max(soa_s, 0.001), 10.0)  # the Paradigm's allowed range
    try:
        return Paradigm(
            soa_s=soa_s, repetitions=max(counts.values()), jitter_s=0.0, seed=0,
            items=tuple(sorted(counts)),
        )
    except ValidationError as err:
        from brain_core.codec import validation_message

        raise InvalidInputError(
            f"The events in {field} do not form a valid paradigm: {validation_message(err)}",
            field="events",
        ) from err


# --------------------------------------------------------------------------- datasets


def find_recordings(
    bids_root: Path,
    subjects: Iterable[str] | None = None,
    phases: Iterable[str] | None = None,
) -> list[Path]:
    """The EEG files of a BIDS dataset whose task is a phase, in a stable, natural order.

    Parameters
    ----------
    bids_root : Path
        The dataset's root folder.
    subjects : iterable of str | None
        Only these subject labels (with or without ``sub-``); None for all.
    phases : iterable of str | None
        Only these phases; None for all.

    Returns
    -------
    list of Path
        Sorted by subject (natural order: ``sub-2`` before ``sub-10``), session, then
        phase in the order day, month, year.
    """
    from mne_bids import get_entities_from_fname

    bids_root = Path(bids_root)
    if not bids_root.is_dir():
        raise NotFoundError(f"No such BIDS dataset folder: {bids_root}")
    wanted_subjects = None if subjects is None else {_strip_sub(s) for s in subjects}
    wanted_phases = PHASES if phases is None else tuple(
        check_option("phase", str(p), PHASES) for p in phases
    )
    found = []
    for subject_dir in bids_root.glob("sub-*"):
        if not subject_dir.is_dir():
            continue
        if wanted_subjects is not None and subject_dir.name[4:] not in wanted_subjects:
            continue
        for path in subject_dir.glob(f"**/{DATATYPE}/*_{DATATYPE}.*"):
            if path.suffix.lower() not in DATA_EXTENSIONS:
                continue
            entities = get_entities_from_fname(path.name, on_error="ignore")
            if entities.get("task") not in wanted_phases:
                continue
            found.append((entities, path))

    def order(item: tuple[dict, Path]) -> tuple:
        entities, path = item
        return (
            natural_key(entities.get("subject") or ""),
            natural_key(entities.get("session") or ""),
            PHASES.index(entities["task"]),
            natural_key(path.name),
        )

    return [path for _, path in sorted(found, key=order)]


def iter_recordings(
    bids_root: Path,
    subjects: Iterable[str] | None = None,
    phases: Iterable[str] | None = None,
) -> Iterator[Recording]:
    """Read the recordings :func:`find_recordings` lists, one at a time."""
    for path in find_recordings(bids_root, subjects=subjects, phases=phases):
        yield read_recording(path)


def write_dataset(
    bids_root: Path,
    recordings: Iterable[Recording],
    labels: Iterable[Label] = (),
    *,
    progress: bool = False,
) -> int:
    """Write recordings (and their labels) into a BIDS dataset.

    Parameters
    ----------
    bids_root : Path
        The dataset's root folder (created if needed).
    recordings : iterable of Recording
        Written one by one (a generator is fine); identical ones already stored are
        skipped, different ones raise :class:`ConflictError`.
    labels : iterable of Label
        Birthdates for participants.tsv (one per subject).
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    int
        How many recordings were written (those already stored are not counted).
    """
    from tqdm import tqdm

    bids_root = Path(bids_root)
    written = 0
    for recording in tqdm(recordings, desc="Writing BIDS", unit="rec",
                          disable=not progress):
        written += _write_recording(recording, bids_root, overwrite=False)[1]
    birthdates = labels_by_subject(labels)
    if birthdates:
        write_labels(bids_root, birthdates)
    return written


def labels_by_subject(labels: Iterable[Label]) -> dict[str, date]:
    """Birthdate per subject; two different birthdates for one subject are a conflict."""
    birthdates: dict[str, date] = {}
    for label in labels:
        known = birthdates.setdefault(label.subject, label.birthdate)
        if known != label.birthdate:
            raise ConflictError(
                f"Subject {label.subject!r} has labels with two different birthdates "
                "(participants.tsv holds one per subject)."
            )
    return birthdates


def meas_date_at(meas_date: datetime | None, seconds: float) -> datetime:
    """``meas_date`` shifted by ``seconds`` (UTC; :data:`UNKNOWN_MEAS_DATE` if None)."""
    start = meas_date if meas_date is not None else UNKNOWN_MEAS_DATE
    return start.astimezone(UTC) + timedelta(seconds=float(seconds))
