"""The monitor's state machine, window, persistence and reports (checks run in-process)."""

import json

import numpy as np
import pandas as pd
import pytest

from brain_core.errors import DependencyError
from brain_drift.evidently_report import DriftRule
from brain_drift.monitor import DriftMonitor, DriftState
from brain_drift.storage import save_table

pytestmark = pytest.mark.slow  # Evidently: ~10 s to import, ~0.3 s per check

FEATURES = ["alpha_log_uv2:C3", "line_log_uv2:C3", "kurtosis:C3"]


def _reference(shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(100, len(FEATURES))) + shift, columns=FEATURES)
    table.insert(0, "session_id", [f"r{i}" for i in range(100)])
    table.insert(1, "subject", "R")
    table.insert(2, "n_recordings", 1)
    return table


class Sessions:
    """Feeds sessions whose features are N(shift, 1)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(1)
        self.count = 0

    def add(self, monitor: DriftMonitor, n: int, shift: float = 0.0) -> list:
        """Add ``n`` sessions, checking after each one; returns the states."""
        states = []
        for _ in range(n):
            self.count += 1
            values = self.rng.normal(size=len(FEATURES)) + shift
            monitor.add(f"s{self.count}", "S", "month", dict(zip(FEATURES, values, strict=True)))
            monitor.check_once()
            states.append(monitor.state)
        return states


@pytest.fixture
def setup(tmp_path):
    save_table(_reference(), tmp_path / "reference.parquet")
    heard = []

    def make(**kwargs) -> DriftMonitor:
        monitor = DriftMonitor(tmp_path, tmp_path / "reference.parquet", window_size=10,
                               min_sessions=5, detailed=False, **kwargs)
        monitor.add_listener(lambda status, message: heard.append(status))
        monitor.start(background=False)
        return monitor

    return make, heard, tmp_path


def test_one_alert_per_episode(setup):
    make, heard, _ = setup
    monitor, sessions = make(), Sessions()
    assert sessions.add(monitor, 4) == [DriftState.filling] * 4
    assert monitor.current() == ("up", "collecting sessions: 4 of 5 needed before the "
                                       "first check")
    assert sessions.add(monitor, 6)[-1] == DriftState.ok
    drifted = sessions.add(monitor, 15, shift=3.0)
    assert drifted[-1] == DriftState.drifting
    assert drifted.index(DriftState.drifting) < 8
    first = drifted.index(DriftState.drifting)
    assert set(drifted[first:]) == {DriftState.drifting}  # held: no flapping
    assert monitor.current()[0] == "down" and "DRIFT" in monitor.current()[1]
    assert sessions.add(monitor, 25)[-1] == DriftState.ok  # once the window is fresh again
    # reference loaded (down -> up), drift (up -> down), recovery (down -> up)
    assert heard == ["up", "down", "up"]


def test_the_window_and_the_state_survive_a_restart(setup):
    make, heard, folder = setup
    monitor, sessions = make(), Sessions()
    sessions.add(monitor, 10, shift=3.0)
    assert monitor.state == DriftState.drifting
    monitor.stop()
    heard.clear()
    again = make()
    assert again.state == DriftState.drifting and heard == []  # no second alert
    assert again.health()["window"]["sessions"] == 10
    saved = json.loads((folder / "state.json").read_text())
    assert saved["state"] == "drifting" and len(saved["window"]) == 10


def test_a_phase_sent_twice_counts_once_and_old_sessions_leave(setup):
    make, _, _ = setup
    monitor = make()
    for _ in range(2):
        monitor.add("same", "S", "month", dict.fromkeys(FEATURES, 0.5))
    monitor.add("same", "S", "day", dict.fromkeys(FEATURES, 1.5))
    table = monitor.window_table()
    assert len(table) == 1 and table["n_recordings"].iloc[0] == 2
    assert table[FEATURES[0]].iloc[0] == pytest.approx(1.0)
    Sessions().add(monitor, 12)
    assert len(monitor.window_table()) == 10 and "same" not in set(
        monitor.window_table()["session_id"])


def test_reports_are_saved_and_pruned(setup):
    make, _, folder = setup
    monitor = make(keep_reports=3)
    Sessions().add(monitor, 8)
    reports = sorted((folder / "reports").glob("drift-*.json"))
    assert len(reports) == 3 and len(list((folder / "reports").glob("*.html"))) == 3
    latest = json.loads(monitor.reports.latest("json").read_text())
    assert latest["state"] == "ok" and latest["n_current_sessions"] == 8
    assert latest["reference"]["sessions"] == 100


def test_without_a_reference_the_status_is_down_until_one_appears(tmp_path):
    heard = []
    monitor = DriftMonitor(tmp_path, tmp_path / "reference.csv", window_size=10,
                           min_sessions=5, detailed=False)
    monitor.add_listener(lambda status, message: heard.append(status))
    monitor.start(background=False)
    assert monitor.state == DriftState.no_reference
    status, message = monitor.current()
    assert status == "down" and "brain drift reference" in message
    save_table(_reference(), tmp_path / "reference.csv")
    monitor.reload_reference()
    assert monitor.state == DriftState.filling and heard == ["up"]


def test_a_new_reference_is_checked_at_once(setup):
    make, heard, folder = setup
    monitor = make()
    Sessions().add(monitor, 10)
    assert monitor.state == DriftState.ok
    save_table(_reference(shift=3.0), folder / "reference.parquet")
    monitor.reload_reference()
    monitor.check_once()  # nothing new in the window, but the reference changed
    assert monitor.state == DriftState.drifting and heard[-1] == "down"


def test_a_full_queue_refuses_more(setup, make_recording):
    make, _, _ = setup
    monitor = make(max_queue=1)
    monitor.submit(make_recording("month"))
    with pytest.raises(DependencyError, match="busy"):
        monitor.submit(make_recording("month"))
    assert monitor.health()["recordings_queued"] == 1


def test_rule_reaches_the_check(setup):
    make, _, _ = setup
    monitor = make(rule=DriftRule(min_drifted=2))
    Sessions().add(monitor, 10)
    latest = json.loads(monitor.reports.latest("json").read_text())
    assert latest["rule"]["min_drifted"] == 2
