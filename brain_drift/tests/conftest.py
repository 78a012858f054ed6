"""Simulated sessions shared by the drift tests (made once per test session), and a fake
Uptime Kuma.

All sessions are month phases with 3 repetitions (about 20 s of 8-channel EEG) of the
``realistic`` preset: the reference (seed 101), a pool of fresh sessions from the same
distribution (seed 202: other subjects), and one pool per drift kind.
"""

from __future__ import annotations

from functools import cache

import pandas as pd
import pytest

from brain_drift.features import session_table
from brain_drift.scenarios import DRIFT_KINDS, simulate_sessions
from brain_drift.tests.fake_kuma import FakeKuma

N_REFERENCE = 100
N_FRESH = 120
N_DRIFTED = 30
REFERENCE_SEED = 101
FRESH_SEED = 202
DRIFTS = tuple(k for k in DRIFT_KINDS if k != "none")


@cache
def recordings(kind: str) -> tuple:
    """The pool of simulated recordings of a drift kind ('reference', 'none', ...)."""
    if kind == "reference":
        return tuple(simulate_sessions(N_REFERENCE, seed=REFERENCE_SEED))
    if kind == "none":
        return tuple(simulate_sessions(N_FRESH, seed=FRESH_SEED))
    return tuple(simulate_sessions(N_DRIFTED, drift=kind, seed=303 + DRIFTS.index(kind)))


@cache
def table(kind: str) -> pd.DataFrame:
    """The features table (one row per session) of :func:`recordings`."""
    return session_table(recordings(kind))


@pytest.fixture(scope="session")
def reference_table() -> pd.DataFrame:
    return table("reference")


@pytest.fixture
def kuma():
    fake = FakeKuma().start()
    yield fake
    fake.stop()
