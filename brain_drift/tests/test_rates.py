"""How often the drift rule alarms on fresh sessions, and how well it catches real drift.

Checks run as the service runs them (:func:`brain_drift.monitor.replay`): after every new
session, on the last ``WINDOW`` sessions (once ``MIN_SESSIONS`` are in), against 100
reference sessions, with the default rule (KS per feature at 0.02 / n_features, drift
from one feature; 0.2 / n_features keeps an open episode open). Evidently's
dataset-level test alone gives the same verdict at a tenth of the cost of a detailed
report, which makes a few hundred checks affordable. Run with ``-s`` to see the rates.
"""

import pandas as pd
import pytest

from brain_drift.monitor import replay
from brain_drift.tests.conftest import DRIFTS, table

pytestmark = pytest.mark.slow

WINDOW = 20
MIN_SESSIONS = 10
N_FRESH_CHECKED = 80
N_DRIFTED_CHECKED = 25


def _alerts(states: list[bool]) -> int:
    return sum(1 for before, after in zip([False, *states], states, strict=False)
               if after and not before)


def test_fresh_sessions_rarely_alarm(reference_table):
    fresh = table("none").iloc[:N_FRESH_CHECKED]
    results = replay(reference_table, fresh, window_size=WINDOW, min_sessions=MIN_SESSIONS)
    alarms = sum(step.alarm for step in results)
    rate = alarms / len(results)
    drifting = sum(step.drifting for step in results) / len(results)
    print(f"\nfalse alarms: {alarms}/{len(results)} checks = {rate:.1%} ({len(fresh)} fresh "
          f"sessions, window {WINDOW}); time spent 'drifting' {drifting:.1%}, "
          f"{_alerts([step.drifting for step in results])} alert(s)")
    assert len(results) >= 50
    assert rate <= 0.10
    assert drifting <= 0.10


@pytest.mark.parametrize("kind", DRIFTS)
def test_each_drift_kind_is_detected(reference_table, kind):
    # The window first holds fresh sessions only, then drifted ones arrive one by one.
    stream = pd.concat([table("none").iloc[-WINDOW:],
                        table(kind).iloc[:N_DRIFTED_CHECKED]], ignore_index=True)
    results = replay(reference_table, stream, window_size=WINDOW, start=WINDOW + 1)
    entries = [step.alarm for step in results]
    states = [step.drifting for step in results]
    delay = entries.index(True) + 1 if any(entries) else None
    full = entries[WINDOW - 1:]  # windows made of drifted sessions only
    rate = sum(full) / len(full)
    held = sum(states[delay - 1:]) / len(states[delay - 1:]) if delay else 0.0
    print(f"\n{kind}: first alarm after {delay} drifted session(s); windows of drifted "
          f"sessions flagged {sum(full)}/{len(full)} = {rate:.0%}; episode held in "
          f"{held:.0%} of later checks; {_alerts(states)} alert(s)")
    assert delay is not None and delay <= WINDOW
    assert held >= 0.8
    assert _alerts(states) == 1
    if kind != "line_noise_x2":  # a subtle drift: flagged by part of the windows only
        assert rate >= 0.9
    else:
        assert rate >= 0.5
