"""Fakes for the collector's tests: a clock, a board, a browser and a receiver."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from brain_collector.acquisition import Window
from brain_collector.config import Settings
from brain_collector.session import Services
from brain_collector.stimuli import StimulusPlan
from brain_core.codec import decode_recording
from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import DependencyError
from brain_core.models import Device, PhasePrediction

TRUTH = date(1991, 3, 2)
PASSWORD = "collector-test-password"


class FakeClock:
    """UNIX seconds that move only when told (``sleep``) or by ``advance``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeBoard:
    """A board whose stream has as many samples as the fake clock says (noise, 10 µV)."""

    def __init__(self, clock: FakeClock, sfreq: float = 256.0, flat: tuple[str, ...] = (),
                 seed: int = 0) -> None:
        self.clock = clock
        self.sfreq = sfreq
        self.ch_names = CROWN_CH_NAMES
        self.device = Device(name="fake", board_id=None)
        self.error = None
        self.t0 = clock()
        self.flat = flat
        self.rng = np.random.default_rng(seed)
        self.presented: list[tuple[str, tuple[int, ...]]] = []
        self.marks: list[float] = []
        self.stopped = False
        self.clock_offset_s = 0.002

    @property
    def n_times(self) -> int:
        return int((self.clock() - self.t0) * self.sfreq)

    def _noise(self, n: int) -> np.ndarray:
        data = self.rng.normal(0.0, 10e-6, (len(self.ch_names), n)).astype(np.float32)
        for name in self.flat:
            data[self.ch_names.index(name)] = 0.0
        return data

    def stop(self) -> None:
        self.stopped = True

    def present(self, phase, values, onsets) -> None:
        self.presented.append((phase, tuple(values)))

    def mark(self, code: float) -> float:
        self.marks.append(code)
        return self.clock()

    def marker_lag(self, code: float, host_time: float) -> float:
        return 0.001

    def wait_for(self, host_time: float, timeout_s: float) -> bool:
        if self.clock() < host_time:
            self.clock.now = host_time + 0.05
        return True

    def host_to_index(self, host_times) -> np.ndarray:
        return (np.asarray(host_times, dtype=float) - self.t0) * self.sfreq

    def window(self, start_host: float, stop_host: float) -> Window:
        first, last = self.host_to_index([start_host, stop_host])
        lo, hi = int(np.ceil(first)), int(np.floor(last)) + 1
        return Window(data=self._noise(hi - lo), first_index=lo, sfreq=self.sfreq,
                      first_host_time=self.t0 + lo / self.sfreq)

    def latest(self, seconds: float) -> np.ndarray:
        return self._noise(int(seconds * self.sfreq))


class FakeBrowser:
    """Shows a plan instantly: each item in the 60 Hz frame nearest its due time."""

    def __init__(self, clock: FakeClock, frame_s: float = 1 / 60) -> None:
        self.clock = clock
        self.frame_s = frame_s
        self.shown: list[StimulusPlan] = []
        self.hold = False  # True: the phase is still running (no report yet)

    def __call__(self, plan: StimulusPlan):
        self.shown.append(plan)
        if self.hold:
            return None
        frames = np.round(plan.due_s / self.frame_s) * self.frame_s
        self.clock.now = max(self.clock.now, plan.end_s)
        return {"run_id": plan.run_id, "phase": plan.phase,
                "onsets_ms": (frames * 1000).tolist(), "planned_ms": (plan.due_s * 1000).tolist(),
                "start_shift_ms": 0.0, "frame_interval_ms": self.frame_s * 1000,
                "n_frames": 100, "long_frames": 0, "hidden_frames": 0}


class FakeReceiver:
    """Answers uploads like the receiver, predicting TRUTH with a given confidence."""

    def __init__(self, confidence: float = 0.9, indeterminate: bool = False) -> None:
        self.confidence = confidence
        self.indeterminate = indeterminate
        self.down = False
        self.phases: list[tuple[str, str]] = []
        self.labels: list[tuple[str, str, date]] = []
        self.closed = 0

    def __call__(self, settings: Settings) -> FakeReceiver:
        return self

    def upload_phase(self, payload: bytes, *, session_id, phase):
        if self.down:
            raise DependencyError("receiver unreachable: [Errno 111] Connection refused")
        recording = decode_recording(payload)
        self.phases.append((str(session_id), phase))
        items = recording.paradigm.items
        top = {"day": TRUTH.day, "month": TRUTH.month, "year": TRUTH.year}[phase]
        top = top if top in items else items[0]
        rest = (1.0 - self.confidence) / (len(items) - 1)
        probabilities = tuple(self.confidence if v == top else rest for v in items)
        return {"stored": True, "duplicate": False, "prediction_error": None,
                "prediction": PhasePrediction(
                    session_id=session_id, phase=phase, items=items,
                    probabilities=probabilities, top_item=top, confidence=self.confidence,
                    indeterminate=self.indeterminate, model_name="fake", model_version="1")}

    def upload_label(self, session_id, subject, birthdate):
        if self.down:
            raise DependencyError("receiver unreachable")
        self.labels.append((str(session_id), subject, birthdate))
        return {"session_id": str(session_id), "stored": True, "duplicate": False}

    def close(self) -> None:
        self.closed += 1


def make_settings(tmp_path, **overrides) -> Settings:
    values = {"api_url": "http://127.0.0.1:9", "api_username": "lab1",
              "api_password": PASSWORD, "time_interval": 0.5, "start_year": 1990,
              "end_year": 1993, "days": "1-4", "months": "1-4", "repetitions": 3,
              "board": "synthetic", "outbox_dir": tmp_path / "outbox", "seed": 7,
              "prepare_s": 1.0}
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("API_URL", "API_USERNAME", "API_PASSWORD", "API_PASSWORD_FILE",
                 "TIME_INTERVAL", "START_YEAR", "END_YEAR"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in list(os.environ):
        if name.startswith("BRAIN_COLLECTOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def fakes(tmp_path, clean_env):
    """Services made of fakes, and the fakes themselves."""
    clock = FakeClock()
    boards: list[FakeBoard] = []

    def open_board(settings, subject):
        boards.append(FakeBoard(clock))
        return boards[-1]

    receiver = FakeReceiver()
    browser = FakeBrowser(clock)
    services = Services(settings=make_settings(tmp_path), open_board=open_board,
                        make_client=receiver, display=browser, clock=clock, sleep=clock.sleep)

    class Fakes:
        pass

    f = Fakes()
    f.clock, f.boards, f.receiver, f.browser, f.services = clock, boards, receiver, browser, \
        services
    f.tmp_path = tmp_path
    return f
