"""The drift service under uvicorn, pushing to a fake Uptime Kuma over real HTTP.

Recordings are posted as the receiver posts them (binary codec); the service checks its
window in the background, so each step waits until /health says the checks caught up.
"""

import itertools
import time

import httpx
import pytest

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_drift.storage import save_table
from brain_drift.tests.conftest import DRIFTS, recordings, table
from brain_drift.tests.fake_kuma import FakeKuma

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BATCH = 5


def _start(start_server, tmp_path_factory, kuma, **env):
    folder = tmp_path_factory.mktemp("drift")
    save_table(table("reference"), folder / "reference.parquet")
    return start_server("brain_drift", env={
        "BRAIN_DRIFT_PORT": "{port}",
        "BRAIN_DRIFT_REPORTS_DIR": str(folder),
        "BRAIN_DRIFT_PUSH_URL": kuma.url,
        # Long heartbeats: every push the fake records is then a status change.
        "BRAIN_DRIFT_HEARTBEAT_INTERVAL_S": "3600",
        "BRAIN_DRIFT_PUSH_MAX_BACKOFF_S": "1",
        "BRAIN_DRIFT_PUSH_TIMEOUT_S": "2",
        **env,
    })


@pytest.fixture(scope="module")
def kuma():
    fake = FakeKuma(token="s3cretPushTok3n").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def detailed(start_server, tmp_path_factory, kuma):
    """The service as deployed: full Evidently reports."""
    return _start(start_server, tmp_path_factory, kuma)


@pytest.fixture(scope="module")
def quick_kuma():
    fake = FakeKuma(token="an0therTok3n").start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def quick(start_server, tmp_path_factory, quick_kuma):
    """Dataset-level verdicts only (same rule, ten times cheaper per check)."""
    return _start(start_server, tmp_path_factory, quick_kuma,
                  BRAIN_DRIFT_DETAILED_REPORTS="false")


_fresh = itertools.cycle(recordings("none"))


def _post(server, recording) -> None:
    response = httpx.post(f"{server.url}/v1/recordings", content=encode_recording(recording),
                          headers={"Content-Type": MEDIA_TYPE}, timeout=10)
    assert response.status_code == 202, response.text


def _health(server) -> dict:
    return httpx.get(f"{server.url}/health", timeout=10).json()


def _wait_idle(server, timeout_s: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        health = _health(server)
        if not health["checking"]:
            return health
        time.sleep(0.2)
    raise AssertionError(f"the drift service did not catch up: {_health(server)}")


def _feed(server, batch) -> str:
    for recording in batch:
        _post(server, recording)
    return _wait_idle(server)["state"]


def _until(server, state: str, source, max_sessions: int = 60) -> list[str]:
    """Post batches from ``source`` until the service reaches ``state``; the states seen."""
    seen = []
    for _ in range(0, max_sessions, BATCH):
        seen.append(_feed(server, [next(source) for _ in range(BATCH)]))
        if seen[-1] == state:
            return seen
    raise AssertionError(f"never reached {state!r}; states after each batch: {seen}")


def test_health_reports_and_bad_input(detailed, kuma):
    health = _health(detailed)
    assert health["state"] == "filling" and health["status"] == "up"
    assert health["window"] == {"sessions": 0, "size": 20, "min_sessions": 10}
    assert health["reference"]["sessions"] == 100 and health["reference"]["features"] == 62
    assert health["push"]["target"].endswith("/api/push/s3***")
    assert kuma.wait_for(lambda k: k.statuses() and set(k.statuses()) == {"up"}, 10)
    assert httpx.get(f"{detailed.url}/reports/latest").status_code == 404

    wrong_type = httpx.post(f"{detailed.url}/v1/recordings", content=b"x",
                            headers={"Content-Type": "application/json"})
    assert wrong_type.status_code == 415
    garbage = httpx.post(f"{detailed.url}/v1/recordings", content=b"not a recording",
                         headers={"Content-Type": MEDIA_TYPE})
    assert garbage.status_code == 422 and garbage.json()["field"]

    states = _until(detailed, "ok", _fresh)
    assert set(states) <= {"filling", "ok"}
    report = httpx.get(f"{detailed.url}/reports/latest?format=json").json()
    assert report["drift"] is False and report["n_features"] == 62
    assert len(report["features"]) == 62 and report["evidently"]["metrics"]
    page = httpx.get(f"{detailed.url}/reports/latest")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "alpha_log_uv2:C3" in page.text and "Drifted Columns" in page.text
    assert set(kuma.statuses()) == {"up"}


def test_push_outage_does_not_stop_the_service_and_is_caught_up(detailed, kuma):
    _until(detailed, "ok", _fresh)
    sent_before = len(kuma.pushes)
    kuma.stop()
    try:
        states = _until(detailed, "drifting", iter(recordings("amplitude_x10")), 30)
        health = _health(detailed)
        assert health["push"]["last"]["ok"] is False and health["push"]["pending"] >= 1
        assert len(kuma.pushes) == sent_before  # nothing got through
        assert states[-1] == "drifting"
    finally:
        kuma.start()  # the same port again
    assert kuma.wait_for(lambda k: "down" in k.statuses()[sent_before:], 15)
    down = [p for p in kuma.pushes[sent_before:] if p.status == "down"]
    assert len(down) == 1 and down[0].msg.startswith("DRIFT:")
    _until(detailed, "ok", _fresh)
    assert kuma.wait_for(lambda k: k.transitions()[-2:] == ["down", "up"], 15)
    assert _health(detailed)["push"]["pending"] == 0


@pytest.mark.parametrize("kind", DRIFTS)
def test_each_drift_kind_pushes_one_down_then_up(quick, quick_kuma, kind):
    _until(quick, "ok", _fresh)
    _feed(quick, [next(_fresh) for _ in range(20)])  # a window of fresh sessions only
    assert _health(quick)["state"] == "ok"
    before = len(quick_kuma.pushes)
    drifted = iter(recordings(kind))
    states = [_feed(quick, [next(drifted) for _ in range(BATCH)]) for _ in range(5)]
    assert states[-1] == "drifting", states
    # Drifting over several checks, and yet one push.
    assert states.count("drifting") >= 2
    assert quick_kuma.wait_for(lambda k: k.statuses()[before:] == ["down"], 10)
    _until(quick, "ok", _fresh)
    assert quick_kuma.wait_for(lambda k: k.statuses()[before:] == ["down", "up"], 10)
    message = quick_kuma.pushes[before].msg
    assert message.startswith("DRIFT:") and "features drifted" in message


def test_the_push_token_is_never_logged(detailed, quick, kuma, quick_kuma):
    for server, fake in ((detailed, kuma), (quick, quick_kuma)):
        log_text = server.log_path.read_text()
        assert "Uptime Kuma" in log_text
        assert fake.token not in log_text
