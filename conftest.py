"""Fixtures shared by every package's tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from brain_core.devices import CROWN_CH_NAMES
from brain_core.models import Device, Recording
from brain_core.paradigm import make_paradigm, make_schedule


@pytest.fixture
def make_recording():
    """Factory of small valid recordings: random EEG-scale noise in volts, real events."""

    def _make(phase: str = "day", *, repetitions: int = 2, sfreq: float = 256.0,
              ch_names=CROWN_CH_NAMES, seed: int = 0, subject: str = "S01",
              items=None, years=(1990, 1999)) -> Recording:
        paradigm = make_paradigm(phase, repetitions=repetitions, seed=seed, items=items,
                                 years=years)
        schedule = make_schedule(paradigm)
        n_times = int((schedule.onsets[-1] + 1.5) * sfreq)
        rng = np.random.default_rng(seed)
        data = rng.normal(0.0, 10e-6, size=(len(ch_names), n_times)).astype(np.float32)
        return Recording(
            session_id=uuid.UUID(int=seed + 1),
            subject=subject,
            phase=phase,
            sfreq=sfreq,
            ch_names=tuple(ch_names),
            data=data,
            meas_date=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
            events=schedule.events(phase),
            device=Device(name="CrownOSC", board_id=23),
            paradigm=paradigm,
            software_version="0.1.0",
        )

    return _make
