"""Recordings made elsewhere, turned into contract :class:`~brain_core.models.Recording`\\ s.

Three kinds of sources:

- Anything MNE reads (EDF/BDF, BrainVision, FIF, ...) whose annotations mark the
  stimuli as ``stim/<phase>/<value>``: one recording per phase found
  (:func:`recordings_from_raw`, :func:`import_file`).
- Legacy MLOPS-BRAIN recordings, the original system: one CSV per phase
  (``Task_Phase, Timestamp, Channel_1..Channel_8``; microvolts, Crown channel order) and
  a metadata JSON. They carry no stimulus markers: every item was shown once, in order,
  so each item gets an equal chunk of the phase and the recording is flagged
  ``untimed`` (:func:`legacy_phase_to_recording`, :func:`import_legacy`).
- BIDS datasets and encoded recordings (``*.brainrec``), read as they are.

:func:`import_source` recognizes the kind and writes the result into a BIDS dataset.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import struct
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

import numpy as np
from pydantic import ValidationError

from brain_core import bids
from brain_core.codec import decode_recording, validation_message
from brain_core.devices import CROWN_BOARD_ID, CROWN_CH_NAMES, CROWN_SFREQ
from brain_core.errors import InvalidInputError, NotFoundError, check_option
from brain_core.models import (
    PHASES,
    SUBJECT_PATTERN,
    Device,
    Event,
    Label,
    Paradigm,
    Phase,
    Recording,
    parse_trial_type,
)
from brain_core.paradigm import phase_items

log = logging.getLogger(__name__)

#: Seconds kept before the first and after the last stimulus of a phase.
MARGIN_S = 1.0
#: Suffix of encoded recordings (brain_core.codec).
BRAINREC_SUFFIX = ".brainrec"
#: Legacy phase names (file suffixes and Task_Phase values) and the phases they are.
LEGACY_PHASES = {"days": "day", "months": "month", "years": "year"}
LEGACY_CHANNELS = tuple(f"Channel_{i}" for i in range(1, 9))
LEGACY_COLUMNS = ("Task_Phase", "Timestamp", *LEGACY_CHANNELS)
#: Date formats seen in the legacy ``subject_date_of_birth`` field.
LEGACY_DATE_FORMATS = ("%Y-%m-%d", "%d-%B-%Y")
_MICROVOLT = 1e-6


def _version() -> str:
    from brain_core import __version__

    return __version__


def _check_subject(subject: str) -> str:
    if not isinstance(subject, str) or not re.fullmatch(SUBJECT_PATTERN, subject):
        raise InvalidInputError(
            f"Invalid value for the 'subject' parameter: a pseudonym of 1-64 letters or "
            f"digits (a BIDS label), got {subject!r}.",
            field="subject",
        )
    return subject


def subject_from_name(name: str) -> str:
    """A subject label made from a file name: its letters and digits (``rec-01`` -> ``rec01``)."""
    label = re.sub(r"[^A-Za-z0-9]", "", name)[:64]
    return label or "imported"


def _recording(**fields: Any) -> Recording:
    try:
        return Recording(**fields)
    except ValidationError as err:
        raise InvalidInputError(
            f"The imported recording breaks the data contract: {validation_message(err)}",
            field="recording",
        ) from err


# --------------------------------------------------------------------------- MNE sources


def recordings_from_raw(
    raw: Any,
    *,
    subject: str,
    session_id: UUID | None = None,
    device: Device | None = None,
) -> list[Recording]:
    """Split an MNE raw into one recording per phase marked in its annotations.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        EEG whose annotations name stimuli as ``stim/<phase>/<value>``; other
        annotations are ignored, and so are channels that are not EEG.
    subject : str
        The pseudonym (BIDS label) to file the recordings under.
    session_id : UUID | None
        The session; None derives one from the data (the same raw always gives the same
        id, so importing a file twice is a no-op).
    device : Device | None
        The recording board; None gives ``Device(name="unknown")``.

    Returns
    -------
    list of Recording
        In the order day, month, year; each cropped to its stimuli with
        :data:`MARGIN_S` seconds on either side (clipped to the data), samples as
        float32 volts ``(n_eeg_channels, n_times)``.

    Raises
    ------
    InvalidInputError
        If no annotation is a stimulus, there is no EEG channel, or the data break the
        contract.
    """
    import mne

    _check_subject(subject)
    sfreq = float(raw.info["sfreq"])
    n_times = int(raw.n_times)
    annotations = raw.annotations
    # Annotations tied to a measurement date count from it; the first sample sits
    # first_time seconds later. Without a date they count from the first sample.
    offset = raw.first_time if annotations.orig_time is not None else 0.0
    by_phase: dict[str, list[Event]] = {p: [] for p in PHASES}
    skipped = 0
    for onset, description in zip(annotations.onset, annotations.description, strict=True):
        parsed = parse_trial_type(str(description))
        if parsed is None:
            continue
        seconds = float(onset) - offset
        if not 0 <= seconds < n_times / sfreq:
            skipped += 1
            continue
        by_phase[parsed[0]].append(Event(onset=seconds, phase=Phase(parsed[0]), value=parsed[1]))
    if skipped:
        log.warning("ignoring %d stimulus annotation(s) outside the data", skipped)
    if not any(by_phase.values()):
        raise InvalidInputError(
            "No stimulus annotations found: BRAIN needs annotations named "
            "'stim/<phase>/<value>' (e.g. 'stim/day/17', 'stim/month/3', "
            "'stim/year/1994') to know which item was shown when.",
            field="annotations",
        )
    picks = list(mne.pick_types(raw.info, eeg=True, exclude=()))
    if not picks:
        raise InvalidInputError(
            f"No EEG channel among {list(raw.ch_names)[:10]}.", field="ch_names"
        )
    ch_names = tuple(raw.ch_names[i] for i in picks)
    data = raw.get_data(picks=picks).astype(np.float32)
    meas_date = raw.info["meas_date"]
    if session_id is None:
        fingerprint = (f"{subject}|{sfreq!r}|{n_times}|{meas_date}|{ch_names}|"
                       f"{zlib.crc32(data.tobytes())}")
        session_id = uuid5(bids.SESSION_NAMESPACE, f"raw/{fingerprint}")

    recordings = []
    for phase, events in by_phase.items():
        if not events:
            continue
        events.sort(key=lambda e: e.onset)
        start = max(0, int(np.floor((events[0].onset - MARGIN_S) * sfreq)))
        stop = min(n_times, int(np.ceil((events[-1].onset + MARGIN_S) * sfreq)) + 1)
        shift = start / sfreq
        recordings.append(_recording(
            session_id=session_id,
            subject=subject,
            phase=phase,
            sfreq=sfreq,
            ch_names=ch_names,
            data=data[:, start:stop],
            meas_date=bids.meas_date_at(meas_date, raw.first_time + shift),
            events=tuple(e.model_copy(update={"onset": e.onset - shift}) for e in events),
            device=device or Device(name="unknown", board_id=None),
            paradigm=bids.paradigm_from_events(events, field="the annotations"),
            software_version=_version(),
        ))
    return recordings


def import_file(path: Path, *, subject: str | None = None) -> list[Recording]:
    """Recordings of one file: an encoded ``*.brainrec`` or anything ``mne.io.read_raw`` reads.

    Parameters
    ----------
    path : Path
        EDF/BDF, BrainVision ``.vhdr``, FIF, ... with ``stim/<phase>/<value>``
        annotations, or a ``.brainrec`` file.
    subject : str | None
        Pseudonym to file them under; None uses the file name's letters and digits
        (for ``.brainrec`` files, the subject stored in them).
    """
    import mne

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"No such file: {path}")
    if path.suffix.lower() == BRAINREC_SUFFIX:
        recording = decode_recording(path.read_bytes())
        if subject is not None:
            recording = recording.model_copy(update={"subject": _check_subject(subject)})
        return [recording]
    subject = _check_subject(subject) if subject is not None else subject_from_name(path.stem)
    if path.suffix.lower() == ".fif":
        _check_fif_tag_chain(path)
    try:
        # preload: a truncated data block fails here, not later in get_data()
        raw = mne.io.read_raw(path, preload=True, verbose=False)
    except Exception as err:  # MNE raises ValueError, RuntimeError, OSError, ... here
        raise InvalidInputError(
            f"MNE cannot read {path.name}: {err}", field="path"
        ) from err
    return recordings_from_raw(raw, subject=subject)


def _check_fif_tag_chain(path: Path) -> None:
    """Refuse a FIF file whose chain of tags loops back on itself.

    When a FIF file's tag directory is damaged, MNE walks the chain of tag headers
    (big-endian ``kind, type, size, next``) and never stops if a ``next`` or a negative
    ``size`` leads back to a tag already seen: the import would hang, its memory
    growing. This walks the chain the same way first, reading 16 bytes per tag.
    """
    seen: set[int] = set()
    position: int | None = 0
    with path.open("rb") as handle:
        while position is not None and position >= 0:  # MNE refuses what stops here
            if position in seen:
                raise InvalidInputError(
                    f"{path.name} is a corrupt FIF file: its tag at byte {position} is "
                    "reached twice.", field="path")
            seen.add(position)
            handle.seek(position)
            header = handle.read(16)
            if len(header) != 16:
                return
            _, _, size, following = struct.unpack(">iIii", header)
            if following == 0:
                position = position + 16 + size
            else:
                position = following if following > 0 else None


# --------------------------------------------------------------------------- legacy MLOPS-BRAIN


def legacy_phase(phase: str) -> str:
    """``days``/``months``/``years`` (or ``day``/``month``/``year``) -> the phase name."""
    phase = LEGACY_PHASES.get(phase, phase)
    return check_option("phase", phase, PHASES)


def _legacy_years(metadata: Mapping) -> tuple[int, int]:
    years = []
    for key in ("start_year", "end_year"):
        value = metadata.get(key)
        try:
            if value is None or isinstance(value, bool):
                raise TypeError
            years.append(int(value))
        except (TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
            raise InvalidInputError(
                f"Legacy metadata field {key!r} must be a year (an integer), got {value!r}.",
                field=key,
            ) from None
    return years[0], years[1]


def _legacy_table(csv_bytes: bytes, phase: str) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps (s) and channels (µV, ``(8, n_times)``) of a legacy CSV, checked."""
    import pandas as pd

    try:
        table = pd.read_csv(io.BytesIO(csv_bytes), skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InvalidInputError("The legacy CSV is empty.", field="csv_file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InvalidInputError(f"The legacy CSV cannot be parsed: {err}",
                                field="csv_file") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in LEGACY_COLUMNS if c not in table.columns]
    if missing:
        raise InvalidInputError(
            f"The legacy CSV lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(LEGACY_COLUMNS)}.",
            field=missing[0],
        )
    if table.empty:
        raise InvalidInputError("The legacy CSV holds a header but no rows.", field="csv_file")
    phases = {legacy_phase_or_none(str(v).strip()) for v in table["Task_Phase"]}
    if phases != {phase}:
        found = sorted(set(map(str, table["Task_Phase"])))[:5]
        raise InvalidInputError(
            f"Column 'Task_Phase' must hold the phase {phase!r} (legacy "
            f"{_legacy_name(phase)!r}) on every row, got {found}.",
            field="Task_Phase",
        )
    numbers = {}
    for column in ("Timestamp", *LEGACY_CHANNELS):
        values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.argmax(bad))
            cell = table[column].iloc[row]
            shown = "no value" if pd.isna(cell) else repr(str(cell))
            raise InvalidInputError(
                f"Column {column!r} must hold finite numbers; data row {row + 1} holds "
                f"{shown}.",
                field=column,
            )
        numbers[column] = values
    channels_uv = np.vstack([numbers[c] for c in LEGACY_CHANNELS])
    return numbers["Timestamp"], channels_uv


def legacy_phase_or_none(text: str) -> str | None:
    """The phase a legacy ``Task_Phase`` value names, or None."""
    text = LEGACY_PHASES.get(text, text)
    return text if text in PHASES else None


def _legacy_name(phase: str) -> str:
    return {v: k for k, v in LEGACY_PHASES.items()}[phase]


def _legacy_sfreq(timestamps: np.ndarray) -> float:
    """Sampling rate from the median timestamp step, to the nearest Hz.

    LSL timestamps jitter by a few ms; the median step is robust to the occasional
    gap. When the timestamps cannot tell (constant, decreasing, a single row), the
    Crown's 256 Hz is the answer: the legacy system recorded only the Crown.
    """
    if len(timestamps) > 1:
        step = float(np.median(np.diff(timestamps)))
        if np.isfinite(step) and step > 0:
            sfreq = round(1.0 / step)
            if 1 <= sfreq <= 100_000:
                return float(sfreq)
    log.warning("legacy timestamps do not give a sampling rate; assuming %g Hz", CROWN_SFREQ)
    return CROWN_SFREQ


def _legacy_meas_date(first_timestamp: float) -> datetime:
    # LSL timestamps count from the host's boot, not from 1970; only values that look
    # like Unix time (2001-2096) are taken as a date.
    if 1e9 <= first_timestamp <= 4e9:
        return datetime.fromtimestamp(first_timestamp, UTC)
    return bids.UNKNOWN_MEAS_DATE


def legacy_phase_to_recording(
    csv_bytes: bytes,
    phase: str,
    metadata: Mapping,
    *,
    subject: str,
    session_id: UUID,
) -> Recording:
    """One legacy MLOPS-BRAIN phase CSV as a contract recording.

    Parameters
    ----------
    csv_bytes : bytes
        The CSV: ``Task_Phase, Timestamp, Channel_1..Channel_8``, timestamps in seconds
        (LSL clock), channels in µV in Crown order (CP3, C3, F5, PO3, PO4, F6, C4, CP4).
    phase : str
        ``day``, ``month`` or ``year`` (legacy ``days``, ``months``, ``years`` too).
    metadata : mapping
        The legacy metadata JSON: ``start_year``, ``end_year`` (for the year phase),
        ``time_interval`` (seconds per item), ``device_name``, ...
    subject : str
        Pseudonym to file the recording under.
    session_id : UUID
        The session the phase belongs to.

    Returns
    -------
    Recording
        Samples in volts (float32); ``untimed=True`` with one event per item, item ``i``
        of ``n_items`` at sample ``i * n_times // n_items`` (items in the order shown:
        days 1-31, months 1-12, years start_year-end_year); a paradigm of one repetition.

    Raises
    ------
    InvalidInputError
        If a column is missing, non-numeric or empty, ``Task_Phase`` is not this phase,
        or a metadata field is invalid (the message names the column or field).
    """
    phase = legacy_phase(phase)
    _check_subject(subject)
    if not isinstance(metadata, Mapping):
        raise InvalidInputError("The legacy metadata must be a JSON object.", field="metadata")
    years = _legacy_years(metadata) if phase == "year" else (1950, 2009)
    items = phase_items(phase, years)
    timestamps, channels_uv = _legacy_table(csv_bytes, phase)
    sfreq = _legacy_sfreq(timestamps)
    n_times = channels_uv.shape[1]
    n_items = len(items)
    if n_times < n_items:
        raise InvalidInputError(
            f"The legacy CSV holds {n_times} row(s), fewer than the {n_items} items of the "
            f"{phase!r} phase: it cannot hold one showing of each.",
            field="csv_file",
        )
    events = tuple(
        Event(onset=(i * n_times // n_items) / sfreq, phase=Phase(phase), value=item)
        for i, item in enumerate(items)
    )
    soa_s = _legacy_soa(metadata, n_times / sfreq / n_items)
    device_name = str(metadata.get("device_name") or "crown").strip()[:64] or "crown"
    return _recording(
        session_id=session_id,
        subject=subject,
        phase=phase,
        sfreq=sfreq,
        ch_names=CROWN_CH_NAMES,
        data=(channels_uv * _MICROVOLT).astype(np.float32),
        meas_date=_legacy_meas_date(float(timestamps[0])),
        events=events,
        device=Device(name=device_name, board_id=CROWN_BOARD_ID),
        paradigm=Paradigm(soa_s=soa_s, repetitions=1, jitter_s=0.0, seed=0, items=items),
        software_version=_version(),
        untimed=True,
    )


def _legacy_soa(metadata: Mapping, measured_s: float) -> float:
    value = metadata.get("time_interval")
    if value is None:
        return min(max(round(measured_s, 3), 0.001), 10.0)
    try:
        soa_s = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int of 400 digits
        soa_s = float("nan")
    if not 0 < soa_s <= 10:
        raise InvalidInputError(
            f"Legacy metadata field 'time_interval' must be seconds per item in (0, 10], "
            f"got {value!r}.",
            field="time_interval",
        )
    return soa_s


def legacy_label(metadata: Mapping, *, subject: str, session_id: UUID) -> Label | None:
    """The birthdate of a legacy session, or None when its metadata has none.

    ``subject_date_of_birth`` was written as ``2000-01-31`` or as ``31-January-2000``;
    both are read. Error messages never repeat the value.
    """
    value = metadata.get("subject_date_of_birth")
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    birthdate = _parse_legacy_date(str(value).strip())
    try:
        return Label(session_id=session_id, subject=_check_subject(subject), birthdate=birthdate)
    except ValidationError:
        raise InvalidInputError(
            "Legacy metadata field 'subject_date_of_birth' is not a plausible birthdate "
            "(before 1900 or in the future).",
            field="subject_date_of_birth",
        ) from None


def _parse_legacy_date(text: str) -> date:
    for fmt in LEGACY_DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise InvalidInputError(
        "Legacy metadata field 'subject_date_of_birth' is not a date in the form "
        "YYYY-MM-DD or DD-Month-YYYY (e.g. 01-January-2000).",
        field="subject_date_of_birth",
    )


def _legacy_files(source: Path) -> tuple[Path, dict[str, Path]]:
    """The metadata JSON and the phase CSVs of the legacy session at ``source``."""
    folder = source if source.is_dir() else source.parent
    if source.is_dir():
        candidates = sorted(folder.glob("*_metadata.json"))
        if len(candidates) != 1:
            names = ", ".join(p.name for p in candidates) or "none"
            raise InvalidInputError(
                f"{folder} must hold exactly one *_metadata.json (found {names}); pass the "
                "metadata file of the session to import.",
                field="metadata_file",
            )
        metadata_path = candidates[0]
    elif source.name.endswith("_metadata.json"):
        metadata_path = source
    else:
        match = re.fullmatch(r"(.*)_(days|months|years)\.csv", source.name)
        if match is None:
            raise InvalidInputError(
                f"{source.name} is not a legacy file (<name>_days.csv, _months.csv, "
                "_years.csv or _metadata.json).",
                field="path",
            )
        metadata_path = folder / f"{match.group(1)}_metadata.json"
        if not metadata_path.exists():
            raise NotFoundError(f"No metadata file {metadata_path.name} next to {source.name}")
    prefix = metadata_path.name[: -len("_metadata.json")]
    csvs = {}
    for legacy, phase in LEGACY_PHASES.items():
        path = folder / f"{prefix}_{legacy}.csv"
        if not path.exists():
            others = sorted(folder.glob(f"*_{legacy}.csv"))
            path = others[0] if len(others) == 1 and source.is_dir() else path
        if path.exists():
            csvs[phase] = path
    if not csvs:
        raise InvalidInputError(
            f"No legacy phase CSV ({prefix}_days.csv, _months.csv, _years.csv) next to "
            f"{metadata_path.name}.",
            field="csv_file",
        )
    return metadata_path, csvs


def is_legacy(path: Path) -> bool:
    """Whether ``path`` is a legacy session folder or one of its files."""
    path = Path(path)
    if path.is_dir():
        return any(path.glob("*_metadata.json")) and any(
            any(path.glob(f"*_{legacy}.csv")) for legacy in LEGACY_PHASES
        )
    return bool(re.fullmatch(r".*_((days|months|years)\.csv|metadata\.json)", path.name))


def import_legacy(
    folder_or_csvs: Path, *, subject: str | None = None
) -> tuple[list[Recording], Label | None]:
    """Import one legacy MLOPS-BRAIN session.

    Parameters
    ----------
    folder_or_csvs : Path
        A folder holding ``<name>_metadata.json`` and ``<name>_days.csv``,
        ``_months.csv``, ``_years.csv`` (any subset), or one of those files.
    subject : str | None
        Pseudonym to file the session under; None uses ``<name>``'s letters and digits.

    Returns
    -------
    recordings : list of Recording
        One per phase CSV found, in the order day, month, year (all ``untimed``).
    label : Label | None
        The birthdate when the metadata has one.
    """
    source = Path(folder_or_csvs)
    if not source.exists():
        raise NotFoundError(f"No such file or folder: {source}")
    metadata_path, csvs = _legacy_files(source)
    metadata_bytes = metadata_path.read_bytes()
    try:
        metadata = json.loads(metadata_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidInputError(
            f"{metadata_path.name} is not valid JSON: {err}", field="metadata_file"
        ) from None
    if not isinstance(metadata, dict):
        raise InvalidInputError(f"{metadata_path.name} must hold a JSON object.",
                                field="metadata_file")
    prefix = metadata_path.name[: -len("_metadata.json")]
    subject = _check_subject(subject) if subject is not None else subject_from_name(prefix)
    # The same session imported twice gets the same id, so the second import is a no-op.
    digest = hashlib.sha256(metadata_bytes).hexdigest()
    session_id = uuid5(bids.SESSION_NAMESPACE, f"legacy/{subject}/{digest}")
    recordings = []
    for phase, path in csvs.items():
        try:
            recordings.append(legacy_phase_to_recording(
                path.read_bytes(), phase, metadata, subject=subject, session_id=session_id
            ))
        except InvalidInputError as err:
            raise InvalidInputError(f"{path.name}: {err}", field=err.field) from err
    return recordings, legacy_label(metadata, subject=subject, session_id=session_id)


# --------------------------------------------------------------------------- any source


@dataclass
class Source:
    """What a source holds: recordings (read lazily) and birthdates by subject."""

    kind: str
    recordings: Iterable[Recording]
    birthdates: dict[str, date] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    """What :func:`import_source` did."""

    kind: str
    recordings: int  # found in the source
    written: int  # new in the dataset (the others were already there, identical)
    labels: int  # subjects whose birthdate was written
    subjects: int

    def summary(self) -> str:
        return (f"{self.recordings} recording(s) of {self.subjects} subject(s) from a "
                f"{self.kind} source: {self.written} written, "
                f"{self.recordings - self.written} already present; "
                f"{self.labels} label(s) written.")


def is_bids_root(path: Path) -> bool:
    """Whether ``path`` is a BIDS dataset folder."""
    path = Path(path)
    return path.is_dir() and (
        (path / "dataset_description.json").exists()
        or any(p.is_dir() for p in path.glob("sub-*"))
    )


def read_source(src: Path, *, subject: str | None = None) -> Source:
    """Open any importable source.

    Parameters
    ----------
    src : Path
        A BIDS dataset folder, a legacy session (folder or file), a ``*.brainrec`` file,
        or a file MNE reads.
    subject : str | None
        For a BIDS dataset: only this subject. For anything else: the pseudonym to file
        the recordings under (default: from the file name, or as stored).

    Returns
    -------
    Source
        ``kind`` is ``bids``, ``bids-file``, ``legacy``, ``brainrec`` or ``mne``.
    """
    src = Path(src)
    if not src.exists():
        raise NotFoundError(f"No such file or folder: {src}")
    if is_bids_root(src):
        birthdates = bids.read_labels(src)
        subjects = None if subject is None else [subject]
        if subject is not None:
            birthdates = {k: v for k, v in birthdates.items() if k == bids._strip_sub(subject)}
        return Source("bids", _BidsRecordings(src, subjects), birthdates)
    if is_legacy(src):
        recordings, label = import_legacy(src, subject=subject)
        return Source("legacy", recordings,
                      {label.subject: label.birthdate} if label else {})
    if src.is_dir():
        raise InvalidInputError(
            f"{src} is neither a BIDS dataset (no dataset_description.json or sub-* "
            "folders) nor a legacy session (no *_metadata.json with *_days.csv, "
            "*_months.csv or *_years.csv).",
            field="src",
        )
    root = bids.bids_root_of(src)
    if src.suffix.lower() in bids.DATA_EXTENSIONS and root is not None and is_bids_root(root):
        # One file of a BIDS dataset: read it as BIDS (events.tsv, sidecar), not as a
        # bare file whose markers lack the stim/<phase>/<value> names.
        recording = bids.read_recording(src)
        known = bids.read_labels(root).get(recording.subject)
        if subject is not None:
            recording = recording.model_copy(update={"subject": _check_subject(subject)})
        return Source("bids-file", [recording], {recording.subject: known} if known else {})
    kind = "brainrec" if src.suffix.lower() == BRAINREC_SUFFIX else "mne"
    return Source(kind, import_file(src, subject=subject))


class _BidsRecordings:
    """The recordings of a BIDS dataset, read one at a time on every iteration.

    Re-iterable, unlike a generator: :func:`import_source` reads them all once to check
    them before it writes any.
    """

    def __init__(self, root: Path, subjects: list[str] | None) -> None:
        self.paths = bids.find_recordings(root, subjects=subjects)
        if not self.paths:
            raise InvalidInputError(
                f"The BIDS dataset {root} holds no EEG recording with task day, month or "
                "year" + (f" for subject {subjects[0]!r}" if subjects else "") + ".",
                field="src",
            )

    def __iter__(self) -> Iterator[Recording]:
        return (bids.read_recording(path) for path in self.paths)


def import_source(src: Path, bids_root: Path, *, subject: str | None = None,
                  labels: bool = True, progress: bool = False) -> ImportReport:
    """Import any source into the BIDS dataset at ``bids_root``.

    Parameters
    ----------
    src : Path
        See :func:`read_source`.
    bids_root : Path
        The dataset to write into (created if needed); recordings already there
        identically are skipped, different ones raise :class:`~brain_core.errors.ConflictError`.
    subject : str | None
        See :func:`read_source`.
    labels : bool
        Also write the birthdates the source holds into participants.tsv.
    progress : bool
        Show a progress bar.
    """
    source = read_source(src, subject=subject)
    # Read every recording once before writing any: a source with one damaged file
    # among many is refused with the dataset left as it was.
    for _ in source.recordings:
        pass
    seen: set[str] = set()
    count = 0

    def counted(recordings: Iterable[Recording]) -> Iterator[Recording]:
        nonlocal count
        for recording in recordings:
            count += 1
            seen.add(recording.subject)
            yield recording

    written = bids.write_dataset(bids_root, counted(source.recordings), progress=progress)
    birthdates = {s: d for s, d in source.birthdates.items() if s in seen} if labels else {}
    if birthdates:
        bids.write_labels(bids_root, birthdates)
    return ImportReport(kind=source.kind, recordings=count, written=written,
                        labels=len(birthdates), subjects=len(seen))
