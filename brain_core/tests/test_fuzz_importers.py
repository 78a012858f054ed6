"""Fuzzing of the importers: broken files give a BrainError and write nothing.

Sources are made once (a legacy session, EDF, BDF, BrainVision, FIF and a small BIDS
dataset), then mutated by hypothesis (derandomized, no database: the same examples on
every run). MNE's warnings about odd files are ignored here, as in production: what is
checked is the exception that comes out and the target folder left behind.
"""

import json
import shutil
import struct
import warnings
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import mne
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from brain_core import bids, importers
from brain_core.errors import BrainError
from brain_core.models import Device, Event, Paradigm, Recording

FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
SESSION = UUID(int=7)
SFREQ = 128.0


def _outcome(call, *args, **kwargs):
    """Run ``call``: its result, or the BrainError it raised (anything else fails)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call(*args, **kwargs)
        except BrainError as err:
            assert str(err), "a BrainError must say what is wrong"
            return err


def _import_or_nothing(src: Path, target: Path) -> None:
    """Import ``src`` into a fresh ``target``; a refused import leaves no file there."""
    assert not target.exists()
    result = _outcome(importers.import_source, src, target)
    if isinstance(result, BrainError):
        written = [p for p in target.rglob("*")] if target.exists() else []
        assert not written, (result, written)
    shutil.rmtree(target, ignore_errors=True)


# --- legacy MLOPS-BRAIN CSV + metadata JSON --------------------------------------------

CELLS = st.one_of(
    st.floats(-1e6, 1e6).map(repr), st.integers().map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", "days", "months", "years", "meta",
                     '"', "a,b", "\x00", "1,5", " 12 "]),
    st.text(max_size=6),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6,
)
METADATA = st.dictionaries(
    st.sampled_from(["start_year", "end_year", "time_interval", "device_name",
                     "subject_date_of_birth"]) | st.text(max_size=6),
    st.sampled_from([1990, 1991, 1899, 2101, "1990", 10**400, -1, 0.5, 11, "2000-01-31",
                     "31-January-2000", "2999-01-01", "1800-01-01", "30-February-2000"])
    | JSON_VALUES,
    max_size=5,
)


def _legacy_csv(phase: str, n_rows: int, *, sfreq: float = SFREQ, start: float = 1.7e9) -> str:
    rng = np.random.default_rng(n_rows)
    lines = ["Task_Phase,Timestamp," + ",".join(importers.LEGACY_CHANNELS)]
    for i in range(n_rows):
        cells = ",".join(f"{v:.3f}" for v in rng.normal(0, 10, 8))
        lines.append(f"{phase},{start + i / sfreq:.6f},{cells}")
    return "\n".join(lines) + "\n"


@st.composite
def legacy_csvs(draw) -> bytes:
    """A valid months CSV with rows, columns or cells replaced, or garbage outright."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    rows = [line.split(",") for line in _legacy_csv("months", 16).splitlines()]
    for _ in range(draw(st.integers(1, 4))):
        r = draw(st.integers(0, len(rows) - 1))
        action = draw(st.sampled_from(["cell", "drop_row", "drop_column", "cut"]))
        if action == "cell":
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(CELLS)
        elif action == "drop_row":
            del rows[r]
        elif action == "drop_column":
            c = draw(st.integers(0, 9))
            rows = [row[:c] + row[c + 1:] for row in rows]
        else:
            rows = rows[:r]
        if not rows:
            break
    return "\n".join(",".join(row) for row in rows).encode()


@given(csv_bytes=legacy_csvs(), metadata=METADATA,
       phase=st.sampled_from(["months", "years", "day", "week"]))
@settings(FUZZ, max_examples=300)
@example(csv_bytes=_legacy_csv("months", 16).encode(), metadata={"time_interval": 10**400},
         phase="months")
@example(csv_bytes=_legacy_csv("years", 16).encode(),
         metadata={"start_year": 10**400, "end_year": 1991}, phase="years")
@example(csv_bytes=_legacy_csv("years", 16).encode(),
         metadata={"start_year": 1990.5, "end_year": 1e300}, phase="years")
@example(csv_bytes=_legacy_csv("months", 16, sfreq=1e-6).encode(), metadata={},
         phase="months")
def test_legacy_phases_give_a_recording_or_an_input_error(csv_bytes, metadata, phase):
    result = _outcome(importers.legacy_phase_to_recording, csv_bytes, phase, metadata,
                      subject="S1", session_id=SESSION)
    assert isinstance(result, Recording | BrainError)
    label = _outcome(importers.legacy_label, metadata, subject="S1", session_id=SESSION)
    assert label is None or isinstance(label, BrainError) or label.birthdate.year >= 1900


@given(csv_bytes=legacy_csvs(), metadata=METADATA | JSON_VALUES)
@settings(FUZZ, max_examples=25)
def test_a_refused_legacy_import_writes_nothing(tmp_path_factory, csv_bytes, metadata):
    folder = tmp_path_factory.mktemp("legacy")
    (folder / "rec1_metadata.json").write_text(json.dumps(metadata))
    (folder / "rec1_months.csv").write_bytes(csv_bytes)
    (folder / "rec1_days.csv").write_text(_legacy_csv("days", 40))
    _import_or_nothing(folder, folder.with_name(folder.name + "-bids"))


def test_legacy_metadata_that_is_not_json_is_refused(tmp_path):
    (tmp_path / "rec1_metadata.json").write_bytes(b"\xff{" + b"[" * 100_000)
    (tmp_path / "rec1_days.csv").write_text(_legacy_csv("days", 40))
    with pytest.raises(BrainError, match="metadata"):
        importers.import_legacy(tmp_path)


# --- files MNE reads: EDF, BDF, BrainVision, FIF -----------------------------------------


def _small_raw() -> mne.io.RawArray:
    info = mne.create_info(["Cz", "Pz", "Oz"], SFREQ, "eeg")
    data = np.random.default_rng(3).standard_normal((3, int(6 * SFREQ))) * 1e-5
    raw = mne.io.RawArray(data, info, verbose=False)
    raw.set_meas_date(datetime(2024, 1, 2, tzinfo=UTC))
    onsets = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    raw.set_annotations(mne.Annotations(onsets, [0.0] * 6,
                                        [f"stim/month/{m}" for m in (1, 6, 12, 1, 6, 12)]))
    return raw


@pytest.fixture(scope="module")
def mne_files(tmp_path_factory) -> dict[str, Path]:
    """Valid small EDF and FIF files (BrainVision is fuzzed inside the BIDS dataset)."""
    folder = tmp_path_factory.mktemp("mne-files")
    raw = _small_raw()
    raw.save(folder / "rec_raw.fif", verbose=False)
    mne.export.export_raw(folder / "rec.edf", raw, fmt="edf", verbose=False)
    files = {"fif": folder / "rec_raw.fif", "edf": folder / "rec.edf"}
    for path in files.values():
        assert len(importers.import_file(path)) == 1  # the unmutated file imports
    return files


@st.composite
def mutations(draw, content: bytes) -> bytes:
    """Cuts, bit flips, overwritten spans and text edits of a file's bytes."""
    blob = bytearray(content)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["cut", "flip", "span", "digits"]))
        i = draw(st.integers(0, max(len(blob) - 1, 0)))
        if kind == "cut":
            blob = blob[:i]
        elif kind == "flip" and blob:
            blob[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "span":
            blob[i:i + draw(st.integers(1, 16))] = draw(st.binary(min_size=1, max_size=16))
        elif blob:  # numbers in text headers (EDF, .vhdr, .vmrk): a digit becomes another
            digits = [j for j, b in enumerate(blob[:2048]) if chr(b).isdigit()]
            if digits:
                j = draw(st.sampled_from(digits))
                blob[j] = ord(draw(st.sampled_from("0123456789-.e")))
    return bytes(blob)


@pytest.mark.parametrize("fmt", ["edf", "fif"])
@given(data=st.data())
@settings(FUZZ, max_examples=40)
def test_mutated_mne_files_give_recordings_or_an_input_error(mne_files, tmp_path_factory,
                                                             fmt, data):
    path = tmp_path_factory.mktemp(fmt) / mne_files[fmt].name
    path.write_bytes(data.draw(mutations(mne_files[fmt].read_bytes())))
    result = _outcome(importers.import_file, path)
    assert isinstance(result, list | BrainError)


def test_a_fif_file_whose_tags_loop_is_refused_not_read_forever(mne_files, tmp_path):
    # Found by the fuzzing: MNE's directory rebuild followed the loop without end.
    # Tags: file id (16 + 20 bytes), directory pointer (16 + 4), then the third at 56.
    blob = bytearray(mne_files["fif"].read_bytes())
    struct.pack_into(">i", blob, 52, -1)  # no directory: MNE rebuilds it tag by tag
    struct.pack_into(">ii", blob, 56 + 8, -16, 0)  # the third tag leads back to itself
    path = tmp_path / "loop_raw.fif"
    path.write_bytes(bytes(blob))
    with pytest.raises(BrainError, match="reached twice"):
        importers.import_file(path)


# --- BIDS datasets: participants.tsv, events.tsv, sidecars --------------------------------


@pytest.fixture(scope="module")
def bids_dataset(tmp_path_factory) -> Path:
    """Two phases of one session, written by BRAIN, with a birthdate."""
    root = tmp_path_factory.mktemp("bids-src") / "ds"
    for phase, items in (("day", (1, 17)), ("month", (3, 6))):
        data = np.random.default_rng(5).normal(0, 1e-5, (2, 512)).astype(np.float32)
        bids.write_recording(Recording(
            session_id=SESSION, subject="S1", phase=phase, sfreq=SFREQ, ch_names=("C3", "C4"),
            data=data, meas_date=datetime(2024, 1, 2, tzinfo=UTC),
            events=tuple(Event(onset=0.5 + i, phase=phase, value=v)
                         for i, v in enumerate(items)),
            device=Device(name="CrownOSC"), paradigm=Paradigm(items=items),
            software_version="0.1.0"), root)
    bids.write_labels(root, {"S1": datetime(1990, 5, 17).date()})
    return root


def _bids_files(root: Path) -> list[str]:
    names = ["participants.tsv"]
    for pattern in ("**/*_events.tsv", "**/*_channels.tsv", "**/*_scans.tsv", "**/*_eeg.json"):
        names += sorted(str(p.relative_to(root)) for p in root.glob(pattern))
    return names


TSV_CELLS = st.sampled_from(["n/a", "", "1990-05-17", "1990-13-45", "nan", "inf", "-1",
                             "1e400", "stim/day/17", "stim/month/99", "stim/week/1",
                             "stim/day/" + "9" * 5000, "\x00", "0001-01-01T00:00:00+05:00",
                             "9999-12-31T23:59:59-05:00", "EEG", "MISC"]) | st.text(max_size=8)


@st.composite
def tsv_edits(draw, content: bytes) -> bytes:
    """A TSV/JSON file with cells replaced, lines dropped, or garbage bytes."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.binary(max_size=200) | mutations(content))
    text = content.decode("utf-8")
    rows = [line.split("\t") for line in text.splitlines()]
    for _ in range(draw(st.integers(1, 3))):
        r = draw(st.integers(0, len(rows) - 1))
        if draw(st.booleans()) and rows[r]:
            rows[r][draw(st.integers(0, len(rows[r]) - 1))] = draw(TSV_CELLS)
        else:
            del rows[r]
        if not rows:
            break
    return "\n".join("\t".join(row) for row in rows).encode("utf-8", "surrogatepass")


def _read_all(root: Path) -> tuple[list[Recording], dict]:
    source = importers.read_source(root)
    return list(source.recordings), source.birthdates


@given(data=st.data())
@settings(FUZZ, max_examples=80)
def test_broken_bids_datasets_give_recordings_or_an_input_error(bids_dataset,
                                                                tmp_path_factory, data):
    root = tmp_path_factory.mktemp("bids-fuzz") / "ds"
    shutil.copytree(bids_dataset, root)
    for name in data.draw(st.lists(st.sampled_from(_bids_files(root)), min_size=1,
                                   max_size=2, unique=True)):
        path = root / name
        path.write_bytes(data.draw(tsv_edits(path.read_bytes())))
    result = _outcome(_read_all, root)
    assert isinstance(result, tuple | BrainError)


@given(data=st.data())
@settings(FUZZ, max_examples=40)
def test_mutated_brainvision_files_give_a_recording_or_an_input_error(bids_dataset,
                                                                      tmp_path_factory, data):
    root = tmp_path_factory.mktemp("vhdr-fuzz") / "ds"
    shutil.copytree(bids_dataset, root)
    files = sorted(root.glob("**/*_task-day_eeg.*"))
    victim = data.draw(st.sampled_from([p for p in files if p.suffix != ".json"]))
    victim.write_bytes(data.draw(mutations(victim.read_bytes())))
    vhdr = next(p for p in files if p.suffix == ".vhdr")
    result = _outcome(_read_all, vhdr)
    assert isinstance(result, tuple | BrainError)


@pytest.mark.slow
@pytest.mark.parametrize(("broken", "content"), [
    ("task-month_events.tsv", b"onset\tduration\ttrial_type\ninf\t0\tstim/month/3\n"),
    ("task-day_eeg.json", b"{not json"),
    ("task-day_eeg.json", b'{"BrainRecording": {"subject": "S2"}}'),
    ("task-month_eeg.eeg", b"\0" * 100),
    ("task-month_eeg.vmrk", b"\xff\xfe"),
])
def test_a_bids_import_that_fails_on_any_recording_writes_nothing(bids_dataset, tmp_path,
                                                                   broken, content):
    # Found by the fuzzing: each of these raised a non-BrainError, and the recordings
    # read before the broken one were already written.
    root = tmp_path / "ds"
    shutil.copytree(bids_dataset, root)
    next(root.glob(f"**/*_{broken}")).write_bytes(content)
    target = tmp_path / "target"
    with pytest.raises(BrainError):
        importers.import_source(root, target)
    assert not (target.exists() and list(target.rglob("*")))


@given(content=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
@settings(FUZZ, max_examples=200)
@example(content=b"participant_id\tbirthdate\nsub-S1\t\xff\n")
def test_participants_tsv_garbage_gives_labels_or_an_input_error(tmp_path_factory, content):
    root = tmp_path_factory.mktemp("participants")
    (root / "participants.tsv").write_bytes(b"participant_id\tbirthdate\n" + content)
    result = _outcome(bids.read_labels, root)
    assert isinstance(result, dict | BrainError)
