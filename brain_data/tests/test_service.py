"""`python -m brain_data` as a real process: it watches the spool, and SIGKILL loses nothing.

The crash test writes 50 recordings into the spool the way the receiver does (fsynced
temporary file, atomic rename) while the service is killed with SIGKILL at random moments
of its work and restarted each time. At the end the raw repository holds each of the 50
exactly once, everything is on the remote, and the spool is empty.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from brain_core import bids
from brain_core.codec import encode_recording
from brain_data.config import Settings
from brain_data.raw import committed_recordings, list_quarantine, raw_repository
from brain_data.tests.helpers import (
    make_settings,
    remote_has,
    spool_files,
    spool_recording,
    tiny_recording,
)
from brain_receiver.spool import atomic_write

pytestmark = [pytest.mark.integration]


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "BRAIN_DATA_SPOOL_DIR": str(settings.spool_dir),
        "BRAIN_DATA_RAW_REPO": str(settings.raw_repo),
        "BRAIN_DATA_FEATURE_REPO": str(settings.feature_repo),
        "BRAIN_DATA_RAW_REMOTE": str(settings.raw_remote),
        "BRAIN_DATA_FEATURE_REMOTE": str(settings.feature_remote),
        "BRAIN_DATA_SETTLE_S": "0.1",
        "BRAIN_DATA_RESCAN_INTERVAL_S": "2",
        "BRAIN_DATA_BATCH_MAX_FILES": "6",
    }


class Service:
    """``python -m brain_data`` with its log in a file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings, self.log_path = settings, log_path
        self.proc: subprocess.Popen | None = None
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()

    def start(self) -> None:
        self._mark = self.log_path.stat().st_size
        self.proc = subprocess.Popen([sys.executable, "-m", "brain_data"],
                                     env=_env(self.settings), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_watching(self, timeout_s: float = 60) -> None:
        """Until this run logged that it watches the spool."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as handle:
                handle.seek(self._mark)
                if b"watching" in handle.read():
                    return
            assert self.proc.poll() is None, self.tail()
            time.sleep(0.05)
        raise AssertionError(f"brain_data did not start watching: {self.tail()}")

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no clean-up of any kind
        self.proc.wait()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self._log.close()


@pytest.fixture
def service(tmp_path):
    settings = make_settings(tmp_path)
    running = Service(settings, tmp_path / "brain_data.log")
    yield running
    running.close()


def _wait_until(predicate, timeout_s: float, what: str, service: Service) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert service.proc.poll() is None, service.tail()
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{service.tail()}"
        time.sleep(0.1)


def _drained(settings: Settings) -> bool:
    repo = raw_repository(settings.raw_repo)
    return (not [n for n in spool_files(settings) if not n.startswith(".")]
            and repo.head() is not None and repo.pushed_revision() == repo.head())


@pytest.mark.slow
def test_service_creates_the_repositories_ingests_arrivals_and_stops_on_sigterm(service):
    settings = service.settings
    service.start()
    service.wait_watching()
    assert raw_repository(settings.raw_repo).exists()  # created on first start
    recording = tiny_recording(1)
    spool_recording(settings, recording)
    _wait_until(lambda: _drained(settings) and committed_recordings(settings.raw_repo),
                60, "the recording to be pushed", service)
    [ref] = committed_recordings(settings.raw_repo)
    assert bids.read_recording(settings.raw_repo / ref.path) == recording
    assert service.terminate() == 0
    lines = [json.loads(line) for line in service.log_path.read_text().splitlines()
             if line.startswith("{")]
    assert all(entry["service"] == "brain_data" for entry in lines)
    assert not [entry for entry in lines if entry["level"] == "ERROR"]


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(service):
    settings = service.settings
    rng = random.Random(20261126)
    recordings = [tiny_recording(100 + i, subject=f"S{i % 7}", repetitions=1)
                  for i in range(50)]
    payloads = [(f"{r.session_id}_{r.phase.value}.brainrec", encode_recording(r))
                for r in recordings]
    settings.incoming.mkdir(parents=True, exist_ok=True)

    def receiver() -> None:  # arrivals at random intervals, written as the receiver does
        for name, payload in payloads:
            atomic_write(settings.incoming / name, payload)
            time.sleep(rng.uniform(0.0, 0.25))

    arrivals = threading.Thread(target=receiver)
    kills = 0
    service.start()
    service.wait_watching()
    arrivals.start()
    deadline = time.monotonic() + 240
    while (arrivals.is_alive() or kills < 8) and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.05, 2.0))  # somewhere in the middle of its work
        service.kill()
        kills += 1
        service.start()
        service.wait_watching()
    arrivals.join()
    _wait_until(lambda: _drained(settings), 120, "the spool to drain", service)
    assert service.terminate() == 0

    stored = committed_recordings(settings.raw_repo)
    assert sorted(r.key for r in stored) == sorted(
        f"{r.session_id}/{r.phase.value}" for r in recordings)  # all 50, none twice
    expected = {r.session_id: r for r in recordings}
    for ref in stored:
        assert bids.read_recording(settings.raw_repo / ref.path) == expected[ref.session_id]
    repo = raw_repository(settings.raw_repo)
    assert not repo.is_dirty()
    files = {p.relative_to(settings.raw_repo / "bids").as_posix()
             for p in (settings.raw_repo / "bids").rglob("*") if p.is_file()}
    assert files == set(repo.manifest("bids"))  # no half-written or stray file
    assert all(remote_has(settings.raw_remote, md5) for md5 in repo.manifest("bids").values())
    assert spool_files(settings) == [] and list_quarantine(settings.quarantine) == []
    assert kills >= 8
