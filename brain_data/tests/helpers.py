"""Test helpers shared by brain_data's and the transformer pipeline's tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import numpy as np

from brain_core.codec import encode_recording
from brain_core.devices import CROWN_CH_NAMES
from brain_core.models import Device, Label, Recording
from brain_core.paradigm import make_paradigm, make_schedule
from brain_data.config import Settings
from brain_data.features import init_feature_repo
from brain_data.raw import init_raw_repo
from brain_receiver.spool import atomic_write

#: Items shown by :func:`tiny_recording`, per phase (a few, so recordings stay small).
TINY_ITEMS = {"day": (3, 17, 28), "month": (2, 6, 11), "year": (1990, 1994, 1998)}


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with every folder under ``tmp_path`` and local DVC remotes."""
    values: dict[str, object] = {
        "spool_dir": tmp_path / "spool",
        "raw_repo": tmp_path / "raw",
        "feature_repo": tmp_path / "features",
        "raw_remote": str(tmp_path / "remote" / "raw"),
        "feature_remote": str(tmp_path / "remote" / "features"),
    }
    values.update(overrides)
    return Settings(**values)


def init_repos(settings: Settings) -> None:
    init_raw_repo(settings.raw_repo, settings.raw_remote,
                  endpoint_url=settings.s3_endpoint_url)
    init_feature_repo(settings.feature_repo, settings.feature_remote,
                      endpoint_url=settings.s3_endpoint_url)


def tiny_recording(seed: int, *, subject: str = "S01", phase: str = "day",
                   session_id: uuid.UUID | None = None, repetitions: int = 2) -> Recording:
    """A valid recording of a few seconds: 3 items, EEG-scale noise in volts."""
    paradigm = make_paradigm(phase, repetitions=repetitions, seed=seed,
                             items=TINY_ITEMS[phase])
    schedule = make_schedule(paradigm)
    n_times = int((schedule.onsets[-1] + 1.5) * 256)
    rng = np.random.default_rng(seed)
    data = rng.normal(0.0, 10e-6, size=(len(CROWN_CH_NAMES), n_times)).astype(np.float32)
    return Recording(
        session_id=session_id or uuid.UUID(int=seed + 1),
        subject=subject, phase=phase, sfreq=256.0, ch_names=CROWN_CH_NAMES, data=data,
        meas_date=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), events=schedule.events(phase),
        device=Device(name="CrownOSC", board_id=23), paradigm=paradigm,
        software_version="0.1.0")


def tiny_session(seed: int, subject: str = "S01", birthdate: date = date(1994, 6, 17)
                 ) -> tuple[list[Recording], Label]:
    """Day, month and year tiny recordings of one session, and its label."""
    session_id = uuid.UUID(int=10_000 + seed)
    recordings = [tiny_recording(seed * 3 + i, subject=subject, phase=phase,
                                 session_id=session_id)
                  for i, phase in enumerate(("day", "month", "year"))]
    return recordings, Label(session_id=session_id, subject=subject, birthdate=birthdate)


def spool_name(recording: Recording) -> str:
    return f"{recording.session_id}_{recording.phase.value}.brainrec"


def spool_recording(settings: Settings, recording: Recording) -> Path:
    """Put ``recording`` into the spool the way the receiver does (fsync + rename)."""
    path = settings.incoming / spool_name(recording)
    atomic_write(path, encode_recording(recording))
    return path


def spool_label(settings: Settings, label: Label) -> Path:
    path = settings.incoming / f"{label.session_id}_label.json"
    atomic_write(path, label.model_dump_json().encode())
    return path


def spool_bytes(settings: Settings, name: str, payload: bytes) -> Path:
    path = settings.incoming / name
    atomic_write(path, payload)
    return path


def spool_files(settings: Settings) -> list[str]:
    """Names in the spool's incoming folder (temporary ones included)."""
    return sorted(p.name for p in settings.incoming.iterdir()) \
        if settings.incoming.exists() else []


def commit_count(repo: Path) -> int:
    out = subprocess.run(["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
                         capture_output=True, text=True, check=True).stdout
    return int(out)


def remote_has(remote: Path, md5: str) -> bool:
    """Whether a local DVC remote holds the object ``md5``."""
    return (Path(remote) / "files" / "md5" / md5[:2] / md5[2:]).is_file()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(argv: list[str], url: str, log_path: Path, *, env: dict[str, str] | None = None,
            health: str = "/health", timeout_s: float = 60.0) -> Iterator[str]:
    """Run ``argv`` as a child process until ``url + health`` answers; stop it afterwards.

    Unlike brain_core.testing.Server, keeps its log file open for the process's lifetime
    and closes it (an unclosed file is a ResourceWarning, an error under pytest here).
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"{argv[0]} exited: {log_path.read_text()[-2000:]}")
                try:
                    if httpx.get(url + health, timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url}{health} did not answer within {timeout_s} s")
                time.sleep(0.1)
            yield url
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
