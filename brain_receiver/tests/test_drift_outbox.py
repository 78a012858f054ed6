"""The drift outbox against the real drift service (brain_drift under uvicorn).

Drift is down first: uploads still succeed and wait on disk, across a receiver restart;
once drift is up, it receives every recording exactly once.
"""

import time

import httpx
import pytest

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_core.testing import free_port
from brain_receiver.auth import hash_password
from brain_receiver.clients import NOT_CONFIGURED, UNREACHABLE, DependencyHealth
from brain_receiver.drift_outbox import DriftOutbox

PASSWORD = "drift-outbox-password"


def _wait_for(condition, what: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _health(server) -> dict:
    return httpx.get(f"{server.url}/health", timeout=10).json()


def _upload(server, recording) -> dict:
    response = httpx.put(
        f"{server.url}/v1/sessions/{recording.session_id}/phases/{recording.phase.value}",
        content=encode_recording(recording), headers={"Content-Type": MEDIA_TYPE},
        auth=("lab1", PASSWORD), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.integration
@pytest.mark.slow
def test_drift_down_then_up_receives_every_recording_once(start_server, tmp_path,
                                                          make_recording):
    drift_port = free_port()
    (tmp_path / "credentials").write_text(f"lab1:{hash_password(PASSWORD)}\n")
    receiver = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "BRAIN_RECEIVER_SPOOL_DIR": str(tmp_path / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(tmp_path / "state"),
        "BRAIN_RECEIVER_DRIFT_URL": f"http://127.0.0.1:{drift_port}",
        "BRAIN_RECEIVER_DRIFT_MAX_BACKOFF_S": "0.5",
    })
    outbox = tmp_path / "state" / "drift-outbox"
    recordings = [make_recording(phase, seed=seed) for seed in (1, 2)
                  for phase in ("day", "month")]

    # Drift is down: uploads are stored and answered; the recordings wait on disk.
    for recording in recordings[:3]:
        assert _upload(receiver, recording)["stored"] is True
    _upload(receiver, recordings[0])  # a retry is not queued twice
    down = _wait_for(lambda: (h := _health(receiver))["dependencies"]["drift"]
                     == UNREACHABLE and h, "the receiver to notice drift is down")
    assert down["status"] == "degraded"
    assert down["dependencies"]["inference"] == NOT_CONFIGURED
    assert down["drift_outbox"]["pending"] == 3
    assert len(list(outbox.glob("*.brainrec"))) == 3

    # A restart keeps them, and takes new ones. (Plus a file drift will refuse for good,
    # as if written by a receiver with another codec version.)
    receiver.stop()
    assert len(list(outbox.glob("*.brainrec"))) == 3
    (outbox / f"{0:020d}-refused.brainrec").write_bytes(b"not a recording")
    receiver.start()
    _upload(receiver, recordings[3])
    assert _health(receiver)["drift_outbox"]["pending"] == 5

    # Drift comes up: everything is delivered, then deleted.
    drift = start_server("brain_drift", port=drift_port, env={
        "BRAIN_DRIFT_PORT": "{port}",
        "BRAIN_DRIFT_REPORTS_DIR": str(tmp_path / "drift"),
    })
    try:
        up = _wait_for(lambda: (h := _health(receiver))["drift_outbox"]["pending"] == 0
                       and h, "the outbox to drain")
        assert up["dependencies"]["drift"] == "ok" and up["status"] == "ok"
        assert up["drift_outbox"]["sent"] == 4 and up["drift_outbox"]["rejected"] == 1
        assert list(outbox.glob("*.brainrec")) == []
        # Drift counts a recording once its features are computed (in the background).
        seen = _wait_for(lambda: (h := _health(drift))["recordings_queued"] == 0
                         and h["recordings_received"] + h["recordings_failed"] >= 4 and h,
                         "drift to take the recordings in", timeout_s=120)
        assert seen["recordings_received"] == 4 and seen["recordings_failed"] == 0
        assert seen["window"]["sessions"] == 2
    finally:
        drift.stop()
        receiver.stop()


def test_outbox_over_its_bound_drops_the_oldest(tmp_path):
    with httpx.Client(base_url="http://127.0.0.1:9") as client:  # never started: no sends
        outbox = DriftOutbox(tmp_path / "outbox", client, DependencyHealth(None),
                             max_bytes=2500)
        (tmp_path / "outbox").mkdir()  # start() would also start sending
        for byte in b"abc":
            outbox.put(bytes([byte]) * 1000)
        kept = [p.read_bytes()[:1] for p in outbox.pending()]
        assert kept == [b"b", b"c"]
        assert outbox.stats()["dropped"] == 1 and outbox.stats()["pending_bytes"] == 2000


def test_without_drift_nothing_is_queued(tmp_path):
    outbox = DriftOutbox(tmp_path / "outbox", None, DependencyHealth(None), max_bytes=10_000)
    outbox.start()
    outbox.put(b"x" * 100)
    outbox.stop()
    assert outbox.pending() == [] and outbox.health.state() == NOT_CONFIGURED
