"""BIDS-EEG round trips, labels in participants.tsv, ordering, foreign datasets."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID, uuid4

import mne
import numpy as np
import pytest
from mne_bids import BIDSPath, write_raw_bids

from brain_core import bids
from brain_core.devices import CROWN_BOARD_ID, CROWN_CH_NAMES
from brain_core.errors import ConflictError, InvalidInputError, NotFoundError
from brain_core.models import Device, Label, Recording
from brain_core.paradigm import make_paradigm, make_schedule


def make_recording(phase: str = "month", *, subject: str = "s01", session_id: UUID | None = None,
                   sfreq: float = 256.0, seed: int = 0, events: bool = True) -> Recording:
    """8 channels, ~20 s, 36 jittered stimuli (12 items x 3) at ~1e-5 V."""
    first = 1990 if phase == "year" else 1
    paradigm = make_paradigm(phase, repetitions=3, seed=seed, items=range(first, first + 12))
    schedule = make_schedule(paradigm, lead_s=1.0)
    n_times = int(sfreq * (schedule.onsets[-1] + 1.5))
    rng = np.random.default_rng(seed)
    return Recording(
        session_id=session_id or uuid4(), subject=subject, phase=phase, sfreq=sfreq,
        ch_names=CROWN_CH_NAMES, data=rng.standard_normal((8, n_times)) * 1e-5,
        meas_date=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        events=schedule.events(phase) if events else (),
        device=Device(name="crown", board_id=CROWN_BOARD_ID), paradigm=paradigm,
        software_version="0.1.0", timing={"onset_jitter_s": 0.0012},
    )


def test_round_trip_is_exact(tmp_path):
    recording = make_recording()
    path = bids.write_recording(recording, tmp_path)
    ses = recording.session_id.hex
    assert path == (tmp_path / "sub-s01" / f"ses-{ses}" / "eeg"
                    / f"sub-s01_ses-{ses}_task-month_eeg.vhdr")
    assert "BinaryFormat=IEEE_FLOAT_32" in path.read_text(encoding="utf-8")

    back = bids.read_recording(path)
    assert back == recording
    assert np.array_equal(back.data, recording.data)  # bit for bit, float32
    assert back.meas_date == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    assert back.events == recording.events

    events_tsv = path.with_name(f"sub-s01_ses-{ses}_task-month_events.tsv")
    lines = events_tsv.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    first = dict(zip(header, lines[1].split("\t"), strict=True))
    assert first["trial_type"] == recording.events[0].trial_type
    assert first["trial_type"].startswith("stim/month/")
    assert float(first["onset"]) == recording.events[0].onset
    assert len(lines) == 1 + len(recording.events) == 37

    description = json.loads((tmp_path / "dataset_description.json").read_text())
    assert description["Name"] and description["BIDSVersion"]
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar[bids.SIDECAR_KEY]["session_id"] == str(recording.session_id)
    assert not list(tmp_path.glob(".brain-staging-*"))


def test_round_trip_of_odd_rate_and_no_events(tmp_path):
    # 879.102 Hz does not survive BrainVision's text sampling interval by itself.
    recording = make_recording("day", sfreq=879.102, events=False)
    assert bids.read_recording(bids.write_recording(recording, tmp_path)) == recording


def test_same_recording_twice_is_a_noop_and_different_one_conflicts(tmp_path):
    recording = make_recording()
    path = bids.write_recording(recording, tmp_path)
    stamp = path.stat().st_mtime_ns
    assert bids.write_recording(recording, tmp_path) == path
    assert path.stat().st_mtime_ns == stamp

    changed = recording.model_copy(update={"events": (), "software_version": "9"})
    with pytest.raises(ConflictError, match="already stored.*overwrite=True"):
        bids.write_recording(changed, tmp_path)
    bids.write_recording(changed, tmp_path, overwrite=True)
    assert bids.read_recording(path) == changed
    assert not list(path.parent.glob("*_events.tsv"))  # the old events went with it


def test_a_crash_before_commit_leaves_nothing(tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bids, "_commit", crash)
    with pytest.raises(KeyboardInterrupt):
        bids.write_recording(make_recording(), tmp_path)
    assert list(tmp_path.iterdir()) == []

    # A writer killed outright leaves its staging folder; the next writer removes it.
    monkeypatch.undo()
    (tmp_path / ".brain-staging-killed" / "bids").mkdir(parents=True)
    bids.write_recording(make_recording(), tmp_path)
    assert not list(tmp_path.glob(".brain-staging-*"))


def test_labels_merge_into_participants_keeping_other_columns(tmp_path):
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tage\thand\nsub-s02\t31\tR\nsub-s01\t25\tL\n", encoding="utf-8")
    bids.write_labels(tmp_path, {"s01": date(1990, 4, 17), "sub-s03": None})
    lines = (tmp_path / "participants.tsv").read_text(encoding="utf-8").splitlines()
    assert lines == [
        "participant_id\tage\thand\tbirthdate",
        "sub-s01\t25\tL\t1990-04-17",
        "sub-s02\t31\tR\tn/a",
        "sub-s03\tn/a\tn/a\tn/a",
    ]
    assert bids.read_labels(tmp_path) == {"s01": date(1990, 4, 17)}
    assert "birthdate" in json.loads((tmp_path / "participants.json").read_text())

    bids.write_labels(tmp_path, {"s02": date(2001, 1, 2)})
    assert bids.read_labels(tmp_path) == {"s01": date(1990, 4, 17), "s02": date(2001, 1, 2)}


def test_writing_recordings_keeps_labels_and_columns(tmp_path):
    bids.write_labels(tmp_path, {"s01": date(1990, 4, 17)})
    bids.write_recording(make_recording(subject="s01"), tmp_path)
    bids.write_recording(make_recording(subject="s02"), tmp_path)
    text = (tmp_path / "participants.tsv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "participant_id\tbirthdate"
    assert "sub-s02\tn/a" in text
    assert bids.read_labels(tmp_path) == {"s01": date(1990, 4, 17)}


def test_unreadable_birthdate_is_refused_without_echoing_it(tmp_path):
    (tmp_path / "participants.tsv").write_text(
        "participant_id\tbirthdate\nsub-a\t17/04/1990\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="'birthdate' of subject 'a'") as info:
        bids.read_labels(tmp_path)
    assert "1990" not in str(info.value)


def test_find_recordings_sorts_naturally_and_filters(tmp_path):
    session = UUID(int=1)
    for subject in ("10", "2", "1"):
        for phase in ("year", "day", "month"):
            bids.write_recording(make_recording(phase, subject=subject, session_id=session),
                                 tmp_path)
    found = [(p.parts[-4], p.name.split("_task-")[1][:-9])
             for p in bids.find_recordings(tmp_path)]
    assert found == [(f"sub-{s}", p) for s in ("1", "2", "10") for p in ("day", "month", "year")]

    subset = bids.find_recordings(tmp_path, subjects=["sub-10", "2"], phases=["year"])
    assert [p.parts[-4] for p in subset] == ["sub-2", "sub-10"]
    recordings = list(bids.iter_recordings(tmp_path, subjects=["2"], phases=["day", "year"]))
    assert [(r.subject, r.phase.value) for r in recordings] == [("2", "day"), ("2", "year")]
    with pytest.raises(InvalidInputError, match="'phase'"):
        bids.find_recordings(tmp_path, phases=["week"])


def test_write_dataset_counts_and_labels(tmp_path):
    session = uuid4()
    recordings = [make_recording(p, subject="s7", session_id=session) for p in ("day", "month")]
    label = Label(session_id=session, subject="s7", birthdate=date(1985, 12, 1))
    assert bids.write_dataset(tmp_path, iter(recordings), [label]) == 2
    assert bids.write_dataset(tmp_path, recordings, [label]) == 0
    assert bids.read_labels(tmp_path) == {"s7": date(1985, 12, 1)}
    other = Label(session_id=uuid4(), subject="s7", birthdate=date(1985, 12, 2))
    with pytest.raises(ConflictError, match="two different birthdates"):
        bids.write_dataset(tmp_path, [], [label, other])


def _foreign_dataset(root: Path, session: str) -> Path:
    """A BIDS dataset written by plain mne-bids, not by BRAIN, with an EOG channel."""
    info = mne.create_info(["Cz", "Pz", "HEOG"], 200.0, ["eeg", "eeg", "eog"])
    rng = np.random.default_rng(3)
    raw = mne.io.RawArray(rng.standard_normal((3, 200 * 12)) * 1e-5, info, verbose=False)
    raw.set_meas_date(datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC))
    raw.info["line_freq"] = 50.0
    onsets = [1.0, 1.5, 2.0, 2.5, 3.0, 3.6, 4.1]
    values = [1, 2, 3, 1, 2, 1, 3]
    raw.set_annotations(mne.Annotations(onsets, [0.0] * 7, [f"stim/day/{v}" for v in values]))
    path = BIDSPath(subject="07", session=session, task="day", datatype="eeg", root=root)
    write_raw_bids(raw, path, format="BrainVision", allow_preload=True, verbose=False)
    return path.copy().update(suffix="eeg", extension=".vhdr").fpath


def test_foreign_bids_is_read_with_derived_metadata(tmp_path):
    recording = bids.read_recording(_foreign_dataset(tmp_path, "01"))
    assert recording.subject == "07" and recording.phase == "day"
    assert recording.ch_names == ("Cz", "Pz")  # EEG channels only
    assert recording.device == Device(name="unknown")
    assert recording.paradigm.items == (1, 2, 3)
    assert recording.paradigm.repetitions == 3
    assert recording.paradigm.soa_s == 0.5
    assert recording.paradigm.jitter_s == 0 and recording.paradigm.seed == 0
    assert recording.session_id == bids.derived_session_id("07", "01")
    assert recording.meas_date == datetime(2023, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert [e.value for e in recording.events] == [1, 2, 3, 1, 2, 1, 3]

    hex_session = UUID(int=12345)
    again = bids.read_recording(_foreign_dataset(tmp_path / "b", hex_session.hex))
    assert again.session_id == hex_session


def test_read_recording_refuses_what_is_not_a_bids_recording(tmp_path):
    with pytest.raises(NotFoundError, match="No such recording"):
        bids.read_recording(tmp_path / "nope_eeg.vhdr")
    stray = tmp_path / "loose.vhdr"
    stray.write_text("x", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not inside a BIDS dataset"):
        bids.read_recording(stray)


def test_session_label_and_natural_key():
    session = UUID("12345678-1234-5678-1234-567812345678")
    assert bids.session_label(session) == "12345678123456781234567812345678"
    assert sorted(["sub-10", "sub-2", "sub-1"], key=bids.natural_key) == [
        "sub-1", "sub-2", "sub-10"]
    assert os.sep not in bids.session_label(session)
