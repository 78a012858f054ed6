"""Fixtures shared by every package's tests."""

from __future__ import annotations

import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from brain_core.devices import CROWN_CH_NAMES
from brain_core.models import Device, Recording
from brain_core.paradigm import make_paradigm, make_schedule
from brain_core.testing import Server, free_port


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


@pytest.fixture(scope="session", autouse=True)
def label_key_file(tmp_path_factory):
    """A label key for the whole run (labels are encrypted at rest; there is no default key).

    Set in ``os.environ`` so that servers and CLIs started as child processes use the
    same key as the test process.
    """
    from brain_data.label_keys import LABEL_KEY_SETTING, create_key_file

    path = tmp_path_factory.mktemp("label-key") / "label_key"
    create_key_file(path)
    previous = os.environ.get(f"{LABEL_KEY_SETTING}_FILE")
    os.environ[f"{LABEL_KEY_SETTING}_FILE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop(f"{LABEL_KEY_SETTING}_FILE", None)
    else:
        os.environ[f"{LABEL_KEY_SETTING}_FILE"] = previous


# --- Real servers for integration tests ---------------------------------------------



@pytest.fixture(scope="session")
def server_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


@pytest.fixture(scope="session")
def start_server(server_logs):
    """Start ``python -m MODULE`` (or any argv) as a real server; all stopped at the end.

    ``{port}`` in an environment value is replaced by the server's port.
    """
    started: list[Server] = []

    def _start(name: str, argv: list[str] | None = None, *, env: dict[str, str] | None = None,
               port: int | None = None, health: str = "/health",
               timeout_s: float = 60.0) -> Server:
        port = port or free_port()
        argv = argv or [sys.executable, "-m", name]
        env = {key: value.format(port=port) for key, value in (env or {}).items()}
        server = Server(name, argv, port, env, server_logs, health, timeout_s)
        started.append(server)
        return server

    yield _start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(start_server, tmp_path_factory):
    """A real MLflow tracking server on sqlite with local artifacts."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    argv = [str(Path(sys.executable).with_name("mlflow")), "server",
            "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    return start_server("mlflow", argv, port=port,
                        env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, timeout_s=120)
