"""Fault tolerance of the whole fleet: each dependency goes away and comes back while a
collector keeps uploading, and nothing is lost or stored twice.

One real fleet on 127.0.0.1: MLflow (sqlite) with a trained champion, the transform
service, inference, drift pushing to a fake Uptime Kuma, the receiver, and brain_data's
spool watcher committing into the raw DVC repository and pushing to an S3 remote (moto's
server). A client thread uploads simulated sessions (every phase, then the label, and one
phase twice, as a collector's retry would) for the whole test. Meanwhile MLflow, the
transform service, the DVC remote, the drift service, Uptime Kuma and inference itself
are stopped and started again, one at a time. During each outage the services that
depend on it say so in their health (naming the dependency), and every upload is still
answered 200 and stored; without inference or the transform service it comes without a
prediction but with the reason.

The DVC remote's outage is a cut TCP relay in front of moto (``TcpProxy``): moto keeps
its buckets in memory, so stopping moto would not be an outage but the loss of the
remote's content, which no real S3 or MinIO does on a restart. For the client, a cut
relay looks like a dropped network: connections refused, open ones reset.

Afterwards, once brain_data has caught up: every uploaded (session, phase) and label is
in the raw repository exactly once, a fresh ``git clone`` + ``dvc pull`` from the remote
gives the same, the spool is empty, nothing is quarantined, inference predicts with the
champion again, every session reached drift, and the status change drift made while
Uptime Kuma was down was delivered once Kuma came back.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from brain_core.models import PHASES
from brain_core.testing import Server, TcpProxy, free_port
from brain_core.upload import ReceiverClient
from brain_data.config import Settings as DataSettings
from brain_data.raw import (
    committed_labels,
    committed_recordings,
    list_quarantine,
    raw_repository,
    scan_spool,
)
from brain_data.service import read_health
from brain_drift.reference import save_reference, simulated_reference
from brain_drift.tests.fake_kuma import FakeKuma
from brain_receiver.auth import hash_password
from brain_sim.simulate import make_subject, simulate_session

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # brain_core.testing.Server leaves its log file object to the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*server-logs:pytest.PytestUnraisableExceptionWarning"),
]

YEARS = (1990, 1994)
REPETITIONS = 2
COLLECTOR, PASSWORD = "lab1", "fault-suite-password"
# Dummy credentials of moto's S3 API, in the environment of brain_data and `dvc pull` only.
AWS_ENV = {"AWS_ACCESS_KEY_ID": "fault-suite-key-id",
           "AWS_SECRET_ACCESS_KEY": "fault-suite-secret-key"}
BUCKET = "brain-faults"
WAIT_S = 180.0  # a bound for each wait, not an expected duration


def wait_for(predicate: Callable[[], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def health(server: Server) -> dict[str, Any]:
    try:
        return httpx.get(f"{server.url}/health", timeout=5).json()
    except httpx.HTTPError:
        return {}


# --------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class Upload:
    """One request of the client and its answer (or the error it got)."""

    session_id: UUID
    what: str  # a phase, or "label"
    started: float
    ended: float
    answer: dict[str, Any] | None
    error: str | None = None


@dataclass
class Window:
    """The time a dependency was away; ``end`` is set when it is started again."""

    name: str
    start: float
    end: float | None = None


@dataclass
class Uploader:
    """Uploads simulated sessions one after another, as a collector does, until stopped."""

    url: str
    uploads: list[Upload] = field(default_factory=list)
    sessions: dict[UUID, tuple[list, Any]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="uploader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=120)
        assert not self._thread.is_alive(), "the uploader did not finish its session"

    def _run(self) -> None:
        seed = 5000
        with ReceiverClient(self.url, COLLECTOR, PASSWORD, timeout_s=60) as client:
            while not self._stop.is_set():
                person = make_subject(f"F{seed}", preset="easy", seed=seed, years=YEARS)
                recordings, label = simulate_session(person, preset="easy",
                                                     repetitions=REPETITIONS, years=YEARS,
                                                     seed=seed, pause_s=1.0)
                with self._lock:
                    self.sessions[label.session_id] = (recordings, label)
                for recording in recordings:
                    self._send(client.upload_phase, label.session_id, recording.phase.value,
                               recording)
                # A collector that lost the first answer sends the phase again.
                self._send(client.upload_phase, label.session_id, recordings[0].phase.value,
                           recordings[0])
                self._send(client.upload_label, label.session_id, "label",
                           label.session_id, label.subject, label.birthdate)
                seed += 1
                self._stop.wait(3.0)  # pacing: a collector records for minutes per session

    def _send(self, call: Callable[..., dict[str, Any]], session_id: UUID, what: str,
              *args: Any) -> None:
        started = time.monotonic()
        try:
            answer, error = call(*args), None
        except Exception as err:  # recorded and asserted on: the receiver never goes away
            answer, error = None, f"{type(err).__name__}: {err}"
        with self._lock:
            self.uploads.append(Upload(session_id, what, started, time.monotonic(), answer,
                                       error))

    def during(self, window: Window) -> list[Upload]:
        """Uploads that started after the dependency went away and ended before it was back."""
        end = window.end if window.end is not None else float("inf")
        with self._lock:
            return [u for u in self.uploads if u.started >= window.start and u.ended <= end]

    def after(self, moment: float) -> list[Upload]:
        with self._lock:
            return [u for u in self.uploads if u.started >= moment]

    def whole_sessions(self, uploads: list[Upload]) -> set[UUID]:
        """Sessions whose every phase and label is among ``uploads``."""
        seen: dict[UUID, set[str]] = {}
        for upload in uploads:
            seen.setdefault(upload.session_id, set()).add(upload.what)
        return {s for s, what in seen.items() if what >= {*PHASES, "label"}}


@contextlib.contextmanager
def outage(name: str, stop: Callable[[], None], start: Callable[[], None]
           ) -> Iterator[Window]:
    """``stop`` the dependency, run the block, then ``start`` it again (also on failure)."""
    stop()
    window = Window(name, time.monotonic())
    try:
        yield window
    finally:
        window.end = time.monotonic()
        start()


# --------------------------------------------------------------------------- the fleet


@dataclass
class Fleet:
    mlflow: Server
    transform: Server
    inference: Server
    drift: Server
    receiver: Server
    data: Server
    proxy: TcpProxy
    kuma: FakeKuma
    data_settings: DataSettings
    drift_dir: Path
    champion: str
    root: Path


def _data_env(settings: DataSettings, key_file: Path) -> dict[str, str]:
    return {
        "BRAIN_DATA_SPOOL_DIR": str(settings.spool_dir),
        "BRAIN_DATA_RAW_REPO": str(settings.raw_repo),
        "BRAIN_DATA_FEATURE_REPO": str(settings.feature_repo),
        "BRAIN_DATA_RAW_REMOTE": settings.raw_remote,
        "BRAIN_DATA_FEATURE_REMOTE": settings.feature_remote,
        "BRAIN_DATA_S3_ENDPOINT_URL": str(settings.s3_endpoint_url),
        "BRAIN_DATA_SETTLE_S": "0.2",
        "BRAIN_DATA_RESCAN_INTERVAL_S": "2",
        "BRAIN_DATA_RETRY_MAX_S": "2",
        # Labels are encrypted at rest with this key (a throw-away one for the test).
        "BRAIN_LABEL_KEY_FILE": str(key_file),
        **AWS_ENV,
    }

#: Its own registered model in the session's shared MLflow server.
MODEL_NAME = "brain-p300-faults"


@pytest.fixture(scope="module")
def fleet(mlflow_server, start_server, tmp_path_factory):
    from brain_model.training import train_local

    champion = train_local(mlflow_server.url, n_subjects=4, n_eval_subjects=2,
                           preset="easy", repetitions=4, years=YEARS, seed=1,
                           name=MODEL_NAME, force_champion=True, progress=False)
    root = tmp_path_factory.mktemp("faults")
    credentials = root / "credentials"
    credentials.write_text(f"{COLLECTOR}:{hash_password(PASSWORD)}\n")
    key_file = root / "label_key"
    key_file.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")
    key_file.chmod(0o600)

    moto_port = free_port()
    start_server("moto", [str(Path(sys.executable).with_name("moto_server")),
                          "-H", "127.0.0.1", "-p", str(moto_port)], port=moto_port,
                 health="/")
    proxy = TcpProxy(moto_port)
    assert httpx.put(f"{proxy.url}/{BUCKET}", timeout=10).status_code == 200
    kuma = FakeKuma(token="faultSuiteTok3n").start()

    transform = start_server("brain_transform_service", env={"BRAIN_TRANSFORM_PORT": "{port}"})
    inference = start_server("brain_inference", env={
        "BRAIN_INFERENCE_PORT": "{port}",
        "BRAIN_INFERENCE_TRACKING_URI": mlflow_server.url,
        "BRAIN_INFERENCE_TRANSFORM_URL": transform.url,
        "BRAIN_INFERENCE_MODEL_NAME": MODEL_NAME,
        "BRAIN_INFERENCE_POLL_INTERVAL_S": "1",
    }, timeout_s=120)
    drift_dir = root / "drift"
    drift = start_server("brain_drift", env={
        "BRAIN_DRIFT_PORT": "{port}",
        "BRAIN_DRIFT_REPORTS_DIR": str(drift_dir),
        "BRAIN_DRIFT_PUSH_URL": kuma.url,
        # Every session stays in the window, and no Evidently check runs (none is needed
        # to see that recordings arrive and that status changes are delivered).
        "BRAIN_DRIFT_WINDOW_SIZE": "1000",
        "BRAIN_DRIFT_MIN_SESSIONS": "1000",
        # Long heartbeats: every push after the first is a status change.
        "BRAIN_DRIFT_HEARTBEAT_INTERVAL_S": "3600",
        "BRAIN_DRIFT_PUSH_MAX_BACKOFF_S": "1",
        "BRAIN_DRIFT_PUSH_TIMEOUT_S": "2",
    })
    spool = root / "spool"
    receiver = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(credentials),
        "BRAIN_RECEIVER_SPOOL_DIR": str(spool),
        "BRAIN_RECEIVER_STATE_DIR": str(root / "receiver-state"),
        "BRAIN_RECEIVER_INFERENCE_URL": inference.url,
        "BRAIN_RECEIVER_DRIFT_URL": drift.url,
        "BRAIN_RECEIVER_HEALTH_PROBE_INTERVAL_S": "1",
        "BRAIN_RECEIVER_DRIFT_MAX_BACKOFF_S": "1",
    })
    data_settings = DataSettings(
        spool_dir=spool, raw_repo=root / "data" / "raw", feature_repo=root / "data" / "features",
        raw_remote=f"s3://{BUCKET}/raw", feature_remote=f"s3://{BUCKET}/features",
        s3_endpoint_url=proxy.url)
    data = start_server("brain_data", [sys.executable, "-m", "brain_data"],
                        env=_data_env(data_settings, key_file), health=None)
    wait_for(lambda: b"watching" in data.log_path.read_bytes(), "brain_data to watch the spool")
    yield Fleet(mlflow=mlflow_server, transform=transform, inference=inference, drift=drift,
                receiver=receiver, data=data, proxy=proxy, kuma=kuma,
                data_settings=data_settings, drift_dir=drift_dir, champion=champion.version,
                root=root)
    for server in (data, receiver, drift, inference, transform):
        server.stop()  # now, not at the end of the test session: they cost CPU
    proxy.cut()
    kuma.stop()


# --------------------------------------------------------------------------- checks


def assert_stored(uploads: list[Upload], *, predicted: bool, champion: str,
                  reason: str = "") -> None:
    """Every upload answered and stored; phases predicted by the champion, or not, with
    ``reason`` in the explanation."""
    assert uploads
    for upload in uploads:
        assert upload.error is None, upload
        assert upload.answer is not None and upload.answer["stored"] is True, upload
        if upload.what == "label" or upload.answer["duplicate"]:
            continue  # a duplicate may carry the answer of an upload before the outage
        prediction = upload.answer["prediction"]
        if predicted:
            assert prediction is not None, upload.answer["prediction_error"]
            assert prediction.model_version == champion
        else:
            assert prediction is None, upload
            assert reason in upload.answer["prediction_error"], upload.answer


def clone_and_pull(repo: Path, into: Path) -> Path:
    """What a person does with the raw repository: git clone, then dvc pull."""
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    done = subprocess.run([str(Path(sys.executable).with_name("dvc")), "pull", "-q"],
                          cwd=into, capture_output=True, text=True,
                          env={**os.environ, **AWS_ENV, "DVC_NO_ANALYTICS": "1"})
    assert done.returncode == 0, done.stderr
    return into


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the test


def test_each_dependency_goes_away_and_comes_back_while_uploads_continue(fleet):
    uploader = Uploader(fleet.receiver.url)
    uploader.start()
    try:
        _run_outages(fleet, uploader)
    finally:
        uploader.stop()
    _check_everything_arrived(fleet, uploader)


def _one_session_during(uploader: Uploader, window: Window) -> list[Upload]:
    """Wait until a whole session was uploaded during the outage; its uploads."""
    wait_for(lambda: uploader.whole_sessions(uploader.during(window)),
             f"a whole session uploaded while {window.name} is away")
    return uploader.during(window)


def _predicted_again(uploader: Uploader, since: float, champion: str) -> None:
    """Wait until a phase uploaded after ``since`` got the champion's prediction."""
    def predicted() -> bool:
        return any(u.answer and u.answer.get("prediction")
                   and u.answer["prediction"].model_version == champion
                   for u in uploader.after(since) if u.what != "label")

    wait_for(predicted, "a prediction by the champion again")


def _run_outages(fleet: Fleet, uploader: Uploader) -> None:
    champion = fleet.champion
    _predicted_again(uploader, 0.0, champion)
    # The drift service started without a reference: Uptime Kuma shows it down.
    assert fleet.kuma.wait_for(lambda k: k.statuses()[:1] == ["down"], 30), fleet.kuma.pushes

    # MLflow: inference keeps serving the champion it has, and says MLflow is away.
    with outage("MLflow", fleet.mlflow.stop, fleet.mlflow.start) as window:
        state = wait_for(lambda: (h := health(fleet.inference)).get("dependencies", {})
                         .get("mlflow") == "unreachable" and h, "inference to miss MLflow")
        assert state["status"] == "degraded" and state["model"]["version"] == champion
        assert_stored(_one_session_during(uploader, window), predicted=True,
                      champion=champion)
    wait_for(lambda: health(fleet.inference).get("status") == "ok",
             "inference to see MLflow again")

    # The transform service: no prediction (the reason says why), the upload is stored.
    with outage("the transform service", fleet.transform.stop,
                fleet.transform.start) as window:
        uploads = _one_session_during(uploader, window)
        assert_stored(uploads, predicted=False, champion=champion, reason="transform service")
        # Needs brain_inference/app.py to report the transform service (see the report).
        state = health(fleet.inference)
        assert state["dependencies"]["transform"] == "unreachable", state
        assert state["status"] == "degraded"
        assert health(fleet.receiver)["dependencies"]["inference"] == "failing"
    _predicted_again(uploader, window.end, champion)

    # The DVC remote: brain_data keeps everything in the spool and says the remote is away.
    with outage("the DVC remote", fleet.proxy.cut, fleet.proxy.restore) as window:
        state = wait_for(lambda: (h := read_health(fleet.data_settings) or {})
                         .get("dependencies", {}).get("raw_remote") == "unreachable" and h,
                         "brain_data to miss its remote")
        assert state["status"] == "degraded" and "dvc push" in state["last_error"]
        uploads = _one_session_during(uploader, window)
        assert_stored(uploads, predicted=True, champion=champion)
        waiting = {f.key for f in scan_spool(fleet.data_settings.incoming)}
        assert {f"{u.session_id}_{u.what}" for u in uploads} <= waiting
    wait_for(lambda: (read_health(fleet.data_settings) or {}).get("status") == "ok",
             "brain_data to push again")

    # The drift service: uploads do not notice; the receiver queues what drift must see.
    # (The receiver's `dependencies` and its drift outbox: brain_receiver's own work.)
    with outage("the drift service", fleet.drift.stop, fleet.drift.start) as window:
        wait_for(lambda: health(fleet.receiver).get("dependencies", {}).get("drift")
                 == "unreachable", "the receiver to miss drift")
        assert_stored(_one_session_during(uploader, window), predicted=True,
                      champion=champion)
        assert health(fleet.receiver)["status"] == "degraded"
    wait_for(lambda: health(fleet.receiver).get("dependencies", {}).get("drift") == "ok",
             "the receiver to see drift again")

    # Uptime Kuma: the drift reference arrives meanwhile (drift's status turns up); the
    # change waits in drift's queue and reaches Kuma when it is back.
    pushed_before = len(fleet.kuma.pushes)
    with outage("Uptime Kuma", fleet.kuma.stop, fleet.kuma.start) as window:
        save_reference(simulated_reference(10, preset="easy", repetitions=REPETITIONS),
                       fleet.drift_dir / "reference.parquet")
        state = wait_for(lambda: (h := health(fleet.drift)).get("dependencies", {})
                         .get("uptime_kuma") == "unreachable" and h, "drift to miss Kuma")
        assert state["state"] == "filling" and state["push"]["pending"] >= 1
        assert_stored(_one_session_during(uploader, window), predicted=True,
                      champion=champion)
        assert len(fleet.kuma.pushes) == pushed_before
    assert fleet.kuma.wait_for(lambda k: k.statuses()[pushed_before:] == ["up"], 60), \
        fleet.kuma.pushes[pushed_before:]
    assert fleet.kuma.pushes[-1].msg.startswith("reference loaded")
    wait_for(lambda: (h := health(fleet.drift)).get("dependencies", {}).get("uptime_kuma")
             == "ok" and h["push"]["pending"] == 0, "drift to reach Kuma again")

    # Inference itself: no prediction, the reason says so, the upload is stored.
    with outage("inference", fleet.inference.stop, fleet.inference.start) as window:
        wait_for(lambda: health(fleet.receiver).get("dependencies", {}).get("inference")
                 == "unreachable", "the receiver to miss inference")
        assert_stored(_one_session_during(uploader, window), predicted=False,
                      champion=champion, reason="unreachable")
    _predicted_again(uploader, window.end, champion)
    wait_for(lambda: health(fleet.receiver).get("status") == "ok",
             "the receiver to see every dependency again")


def _caught_up(settings: DataSettings) -> bool:
    repo = raw_repository(settings.raw_repo)
    return (not scan_spool(settings.incoming) and repo.head() is not None
            and repo.pushed_revision() == repo.head())


def _check_everything_arrived(fleet: Fleet, uploader: Uploader) -> None:
    assert [u for u in uploader.uploads if u.error] == []
    assert all(u.answer and u.answer["stored"] for u in uploader.uploads)
    expected = {(s, phase) for s in uploader.sessions for phase in PHASES}
    settings = fleet.data_settings
    wait_for(lambda: _caught_up(settings), "brain_data to ingest and push everything")

    stored = committed_recordings(settings.raw_repo)
    assert Counter((r.session_id, r.phase) for r in stored) == Counter(expected)  # once each
    labels = committed_labels(settings.raw_repo)
    assert set(labels) == set(uploader.sessions)
    assert list_quarantine(settings.quarantine) == []
    assert read_health(settings)["status"] == "ok"

    clone = clone_and_pull(settings.raw_repo, fleet.root / "clone")
    assert committed_recordings(clone) == stored
    assert set(committed_labels(clone)) == set(labels)
    for folder in ("bids", "labels"):
        assert files_of(clone / folder) == files_of(settings.raw_repo / folder)

    # Every session reached drift, the ones uploaded while it was away included.
    # (Needs the receiver's drift outbox.)
    state = wait_for(lambda: (h := health(fleet.drift)).get("window", {}).get("sessions")
                     == len(uploader.sessions) and h, "drift to see every session")
    assert state["recordings_failed"] == 0
    assert health(fleet.inference)["model"]["version"] == fleet.champion
