"""Importing EDF/FIF files with stim annotations and legacy MLOPS-BRAIN sessions."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import mne
import numpy as np
import pytest

from brain_core import bids, importers
from brain_core.codec import encode_recording
from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import InvalidInputError
from brain_core.models import Device
from brain_core.paradigm import make_paradigm, make_schedule

SFREQ = 256.0
MEAS_DATE = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_raw(*, n_seconds: float = 30.0) -> tuple[mne.io.RawArray, dict[str, list]]:
    """4 EEG channels + 1 EOG at 256 Hz, ~1e-5 V, day and month stimuli made by the paradigm."""
    info = mne.create_info(["Cz", "Pz", "Oz", "Fz", "HEOG"], SFREQ, ["eeg"] * 4 + ["eog"])
    rng = np.random.default_rng(1)
    raw = mne.io.RawArray(rng.standard_normal((5, int(n_seconds * SFREQ))) * 1e-5, info,
                          verbose=False)
    raw.set_meas_date(MEAS_DATE)
    stims: dict[str, list] = {}
    onsets, descriptions = [], []
    for phase, lead, items in (("day", 2.0, [3, 17, 28]), ("month", 16.0, [1, 6, 12])):
        schedule = make_schedule(make_paradigm(phase, items=items, repetitions=4, seed=2), lead)
        stims[phase] = list(zip(schedule.onsets, schedule.values, strict=True))
        onsets += list(schedule.onsets)
        descriptions += [f"stim/{phase}/{v}" for v in schedule.values]
    raw.set_annotations(mne.Annotations(onsets + [0.3], [0.0] * (len(onsets) + 1),
                                        descriptions + ["BAD_blink"]))
    return raw, stims


def test_recordings_from_raw_splits_by_phase_and_crops(tmp_path):
    raw, stims = make_raw()
    session = uuid4()
    day, month = importers.recordings_from_raw(raw, subject="ext1", session_id=session,
                                               device=Device(name="cyton", board_id=0))
    assert (day.phase, month.phase) == ("day", "month")
    assert day.ch_names == ("Cz", "Pz", "Oz", "Fz")  # the EOG channel is left out
    assert day.session_id == month.session_id == session
    assert day.device.name == "cyton"
    for recording in (day, month):
        first, last = stims[recording.phase.value][0][0], stims[recording.phase.value][-1][0]
        start = int(np.floor((first - 1.0) * SFREQ))
        stop = int(np.ceil((last + 1.0) * SFREQ)) + 1
        assert recording.n_times == stop - start
        assert np.array_equal(recording.data, raw.get_data(picks="eeg")[:, start:stop]
                              .astype(np.float32))
        onsets = [e.onset for e in recording.events]
        assert onsets == pytest.approx([t - start / SFREQ for t, _ in stims[recording.phase]])
        assert [e.value for e in recording.events] == [v for _, v in stims[recording.phase]]
        assert recording.meas_date == MEAS_DATE + timedelta(seconds=start / SFREQ)
        assert recording.paradigm.repetitions == 4
        assert recording.paradigm.soa_s == pytest.approx(0.5, abs=0.05)
    assert day.paradigm.items == (3, 17, 28)
    assert np.abs(day.data).max() < 1e-3  # volts, not µV


def test_recordings_from_raw_clips_the_margin_to_the_data():
    raw, _ = make_raw()
    raw.set_annotations(mne.Annotations([0.4, 0.9, 29.5], [0.0] * 3,
                                        ["stim/year/1990", "stim/year/1991", "stim/year/1990"]))
    (year,) = importers.recordings_from_raw(raw, subject="x")
    assert year.n_times == raw.n_times
    assert [e.onset for e in year.events] == [0.4, 0.9, 29.5]
    again = importers.recordings_from_raw(raw, subject="x")[0]
    assert again.session_id == year.session_id  # derived from the data: stable


def test_no_stim_annotations_is_refused():
    raw, _ = make_raw()
    raw.set_annotations(mne.Annotations([1.0], [0.0], ["Stimulus/S  1"]))
    with pytest.raises(InvalidInputError, match="No stimulus annotations.*stim/<phase>/<value>"):
        importers.recordings_from_raw(raw, subject="x")


def test_edf_made_by_mne_imports(tmp_path):
    raw, stims = make_raw()
    edf = tmp_path / "session-01 A.edf"
    mne.export.export_raw(edf, raw.copy().pick("eeg"), verbose=False)
    recordings = importers.import_file(edf)
    assert [r.phase for r in recordings] == ["day", "month"]
    assert {r.subject for r in recordings} == {"session01A"}
    day = recordings[0]
    assert len(day.events) == 12
    assert [e.value for e in day.events] == [v for _, v in stims["day"]]
    start = day.meas_date - MEAS_DATE
    # EDF stores onsets to 100 µs and samples as 16-bit integers.
    assert [e.onset + start.total_seconds() for e in day.events] == pytest.approx(
        [t for t, _ in stims["day"]], abs=1e-3)
    original = raw.get_data(picks="eeg")[:, round(start.total_seconds() * SFREQ):][
        :, : day.n_times]
    assert np.abs(day.data - original).max() < 1e-8

    assert importers.import_file(edf, subject="s9")[0].subject == "s9"
    with pytest.raises(InvalidInputError, match="'subject'"):
        importers.import_file(edf, subject="not valid!")


def test_fif_and_brainrec_import(tmp_path):
    raw, _ = make_raw()
    raw.save(tmp_path / "x_raw.fif", verbose=False)
    recordings = importers.import_file(tmp_path / "x_raw.fif", subject="f1")
    assert [r.phase for r in recordings] == ["day", "month"]

    (tmp_path / "one.brainrec").write_bytes(encode_recording(recordings[1]))
    (back,) = importers.import_file(tmp_path / "one.brainrec")
    assert back == recordings[1]
    assert importers.import_file(tmp_path / "one.brainrec", subject="z")[0].subject == "z"


# --------------------------------------------------------------------------- legacy


def legacy_csv(phase: str, n_times: int, *, seed: int = 0, jitter: bool = True) -> tuple[
        bytes, np.ndarray]:
    """A legacy CSV (LSL timestamps from an arbitrary origin, µV) and its µV samples."""
    rng = np.random.default_rng(seed)
    uv = np.round(rng.standard_normal((8, n_times)) * 10.0, 3)
    times = 5123.25 + np.arange(n_times) / SFREQ
    if jitter:
        times = times + rng.uniform(-4e-4, 4e-4, n_times)
    lines = ["Task_Phase,Timestamp," + ",".join(f"Channel_{i}" for i in range(1, 9))]
    for t in range(n_times):
        lines.append(f"{phase},{times[t]:.6f}," + ",".join(f"{v:.3f}" for v in uv[:, t]))
    return ("\n".join(lines) + "\n").encode(), uv


METADATA = {"start_year": 1990, "end_year": 1999, "time_interval": 0.5,
            "device_name": "crown-A1B2", "notes": "", "files": [],
            "subject_date_of_birth": "1994-07-15"}


def test_legacy_phase_becomes_an_untimed_recording():
    csv_bytes, uv = legacy_csv("days", 1000)
    session = uuid4()
    recording = importers.legacy_phase_to_recording(csv_bytes, "days", METADATA,
                                                    subject="L1", session_id=session)
    assert recording.untimed is True
    assert recording.phase == "day" and recording.sfreq == 256.0
    assert recording.ch_names == CROWN_CH_NAMES
    assert np.array_equal(recording.data, (uv * 1e-6).astype(np.float32))
    assert [e.value for e in recording.events] == list(range(1, 32))
    assert [round(e.onset * 256) for e in recording.events] == [i * 1000 // 31
                                                                for i in range(31)]
    assert recording.paradigm.repetitions == 1 and recording.paradigm.soa_s == 0.5
    assert recording.device.name == "crown-A1B2" and recording.device.board_id == 23
    assert recording.session_id == session


def test_legacy_years_and_sfreq_fallback():
    csv_bytes, _ = legacy_csv("years", 500, jitter=False)
    recording = importers.legacy_phase_to_recording(csv_bytes, "year", METADATA, subject="L1",
                                                    session_id=uuid4())
    assert recording.paradigm.items == tuple(range(1990, 2000))
    assert recording.meas_date == bids.UNKNOWN_MEAS_DATE  # LSL time is not a date
    lines = csv_bytes.decode().splitlines()
    constant = "\n".join([lines[0]] + [",".join(["years", "7.0", *line.split(",")[2:]])
                                       for line in lines[1:]])
    recording = importers.legacy_phase_to_recording(constant.encode(), "years", METADATA,
                                                    subject="L1", session_id=uuid4())
    assert recording.sfreq == 256.0  # the Crown's rate when timestamps cannot tell


@pytest.mark.parametrize("text, expected", [
    ("1994-07-15", date(1994, 7, 15)),
    ("01-January-2000", date(2000, 1, 1)),
])
def test_legacy_label_accepts_both_date_formats(text, expected):
    session = uuid4()
    label = importers.legacy_label({"subject_date_of_birth": text}, subject="L1",
                                   session_id=session)
    assert label is not None and label.birthdate == expected and label.session_id == session
    assert importers.legacy_label({}, subject="L1", session_id=session) is None


def test_legacy_label_refuses_a_bad_date_without_echoing_it():
    with pytest.raises(InvalidInputError, match="subject_date_of_birth") as info:
        importers.legacy_label({"subject_date_of_birth": "15/07/1994"}, subject="L1",
                               session_id=uuid4())
    assert "1994" not in str(info.value)


def _drop_column(csv_bytes: bytes, column: str) -> bytes:
    import pandas as pd

    table = pd.read_csv(io.BytesIO(csv_bytes))
    return table.drop(columns=[column]).to_csv(index=False).encode()


def _set_cell(csv_bytes: bytes, row: int, column: int, value: str) -> bytes:
    lines = csv_bytes.decode().splitlines()
    cells = lines[row].split(",")
    cells[column] = value
    lines[row] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


GOOD, _ = legacy_csv("days", 100)


@pytest.mark.parametrize("csv_bytes, field, message", [
    (_drop_column(GOOD, "Channel_3"), "Channel_3", "lacks column.*Channel_3"),
    (_drop_column(GOOD, "Timestamp"), "Timestamp", "lacks column.*Timestamp"),
    (_set_cell(GOOD, 1, 1, "abc"), "Timestamp", "'Timestamp'.*data row 1 holds 'abc'"),
    (_set_cell(GOOD, 3, 6, "n/a"), "Channel_5", "'Channel_5' must hold finite numbers"),
    (b"", "csv_file", "empty"),
    (GOOD.split(b"\n")[0] + b"\n", "csv_file", "no rows"),
    (GOOD.replace(b"\ndays,", b"\nmonths,"), "Task_Phase", "'Task_Phase'.*'day'"),
    (b"\n".join(GOOD.split(b"\n")[:21]), "csv_file", "fewer than the 31 items"),
    (GOOD[:400], "Channel_1", "'Channel_1'.*data row 5 holds no value"),
])
def test_bad_legacy_csv_is_refused_naming_the_column(csv_bytes, field, message):
    with pytest.raises(InvalidInputError, match=message) as info:
        importers.legacy_phase_to_recording(csv_bytes, "days", METADATA, subject="L1",
                                            session_id=uuid4())
    if field is not None:
        assert info.value.field == field


@pytest.mark.parametrize("metadata, field", [
    ({**METADATA, "start_year": "nineteen"}, "start_year"),
    ({**METADATA, "end_year": 1980}, "end_year"),
    ({**METADATA, "time_interval": -1}, "time_interval"),
])
def test_bad_legacy_metadata_is_refused_naming_the_field(metadata, field):
    csv_bytes, _ = legacy_csv("years", 100)
    with pytest.raises(InvalidInputError, match=field):
        importers.legacy_phase_to_recording(csv_bytes, "years", metadata, subject="L1",
                                            session_id=uuid4())
    with pytest.raises(InvalidInputError, match="'phase'"):
        importers.legacy_phase_to_recording(csv_bytes, "weeks", metadata, subject="L1",
                                            session_id=uuid4())


def write_legacy_session(folder: Path, name: str = "subject_07", *,
                         birthdate: str = "12-March-1993") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, legacy in enumerate(("days", "months", "years")):
        (folder / f"{name}_{legacy}.csv").write_bytes(legacy_csv(legacy, 400, seed=i)[0])
    metadata = {**METADATA, "subject_date_of_birth": birthdate,
                "files": [f"{name}_{p}.csv" for p in ("days", "months", "years")]}
    (folder / f"{name}_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return folder


def test_import_legacy_folder(tmp_path):
    folder = write_legacy_session(tmp_path / "legacy")
    recordings, label = importers.import_legacy(folder)
    assert [r.phase for r in recordings] == ["day", "month", "year"]
    assert all(r.untimed and r.subject == "subject07" for r in recordings)
    assert len({r.session_id for r in recordings}) == 1
    assert label is not None and label.birthdate == date(1993, 3, 12)
    assert label.session_id == recordings[0].session_id
    again, _ = importers.import_legacy(folder / "subject_07_months.csv", subject="p2")
    assert [r.phase for r in again] == ["day", "month", "year"]
    assert again[0].subject == "p2"


def test_import_source_writes_bids_and_is_idempotent(tmp_path):
    folder = write_legacy_session(tmp_path / "legacy")
    root = tmp_path / "bids"
    report = importers.import_source(folder, root)
    assert (report.kind, report.recordings, report.written, report.labels, report.subjects) == (
        "legacy", 3, 3, 1, 1)
    assert bids.read_labels(root) == {"subject07": date(1993, 3, 12)}
    assert importers.import_source(folder, root).written == 0

    copy = tmp_path / "copy"
    report = importers.import_source(root, copy, labels=False)
    assert (report.kind, report.recordings, report.written, report.labels) == ("bids", 3, 3, 0)
    originals = list(bids.iter_recordings(root))
    assert list(bids.iter_recordings(copy)) == originals
    assert bids.read_labels(copy) == {}

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="neither a BIDS dataset .* nor a legacy"):
        importers.import_source(empty, tmp_path / "x")


def test_legacy_values_in_volts_break_the_contract():
    # Samples already in volts get multiplied by 1e-6 again; samples in nV or ADC counts
    # end up above 1 V and are refused rather than stored wrongly.
    csv_bytes, _ = legacy_csv("days", 100)
    wrong = _set_cell(csv_bytes, 2, 3, "5000000")
    with pytest.raises(InvalidInputError, match="data.*volts"):
        importers.legacy_phase_to_recording(wrong, "days", METADATA, subject="L1",
                                            session_id=UUID(int=5))
