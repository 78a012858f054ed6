"""The session's state machine and the recording it builds."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from brain_collector.acquisition import Window
from brain_collector.session import CollectorSession, Stage, build_recording, subject_errors
from brain_core.codec import decode_recording
from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import InvalidInputError
from brain_core.models import Device
from brain_core.paradigm import make_paradigm


def test_subject_ids_must_be_bids_labels():
    assert subject_errors("S01") == []
    assert subject_errors(" ") == ["Enter a subject ID: a pseudonym such as S01."]
    assert "not valid" in subject_errors("sub-01")[0]
    assert "never a name" in subject_errors("Ada Lovelace")[0]


def test_build_recording_puts_events_on_the_eeg_clock():
    paradigm = make_paradigm("day", repetitions=1, items=(1, 2, 3), seed=0)
    data = np.zeros((8, 1000), dtype=np.float32)
    window = Window(data=data, first_index=500, sfreq=250.0, first_host_time=1_700_000_000.0)
    recording = build_recording(
        session_id=uuid.uuid4(), subject="S01", phase="day", paradigm=paradigm,
        window=window, ch_names=CROWN_CH_NAMES, device=Device(name="x", board_id=-1),
        values=(2, 1, 3), onset_indices=np.array([750.0, 875.5, 1000.25]),
        timing={"jitter_sd_s": 0.004})
    assert [e.onset for e in recording.events] == [1.0, 1.502, 2.001]
    assert [e.value for e in recording.events] == [2, 1, 3]
    assert recording.meas_date.timestamp() == 1_700_000_000.0
    assert recording.timing == {"jitter_sd_s": 0.004}
    assert recording.software_version.startswith("brain-collector ")


def test_stages_only_move_forward_in_order(fakes):
    session = CollectorSession(fakes.services)
    with pytest.raises(InvalidInputError, match="cannot start the phases from stage 'setup'"):
        session.start_phases()
    assert session.submit_setup("S01", True) == []
    assert session.stage == Stage.signal_check
    session.start_phases()
    with pytest.raises(InvalidInputError, match="cannot advance from stage 'day'"):
        session.advance()  # the day phase has not been recorded yet
    with pytest.raises(InvalidInputError, match="no phase is running"):
        session.finish_phase({})
    plan = session.begin_phase()
    assert session.begin_phase() is plan  # once per phase
    with pytest.raises(InvalidInputError, match="is for run 'nope'"):
        session.finish_phase({"run_id": "nope"})
    outcome = session.finish_phase(fakes.browser(plan))
    assert outcome.upload == "sent" and outcome.prediction.top_item == 2
    session.advance()
    assert session.stage == Stage.month


def test_a_finished_phase_is_in_the_outbox_before_the_upload(fakes):
    fakes.receiver.down = True
    session = CollectorSession(fakes.services)
    session.submit_setup("S01", True)
    session.start_phases()
    plan = session.begin_phase()
    outcome = session.finish_phase(fakes.browser(plan))
    assert outcome.upload == "waiting"
    pending = session.outbox.pending()
    assert [(i.session_id, i.phase) for i in pending] == [(session.session_id, "day")]
    stored = decode_recording(pending[0].path.read_bytes())
    assert stored == outcome.recording
    assert len(stored.events) == len(plan.values) == 12
    assert [e.value for e in stored.events] == list(plan.values)
    assert stored.paradigm == plan.paradigm
    assert set(stored.timing) >= {"jitter_mean_s", "jitter_sd_s", "jitter_max_s",
                                  "frame_interval_s", "clock_offset_s", "marker_lag_s"}
    # The first stimulus comes lead_s after the recording's first sample.
    assert stored.events[0].onset == pytest.approx(
        fakes.services.settings.lead_s + (plan.due_s[0] - plan.start_s - 1.0), abs=0.02)
    assert "could not take them" in session.upload_message
    fakes.receiver.down = False
    session.flush()
    assert outcome.upload == "sent" and outcome.prediction is not None
    assert session.upload_message is None


def test_the_session_seed_makes_the_schedules_reproducible(fakes):
    one, two = CollectorSession(fakes.services), CollectorSession(fakes.services)
    assert one.paradigm("year") == two.paradigm("year")
    assert one.paradigm("day").seed != one.paradigm("month").seed
    assert one.paradigm("year").items == (1990, 1991, 1992, 1993)
    assert one.paradigm("month").items == (1, 2, 3, 4)
