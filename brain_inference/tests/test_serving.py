"""The three services under uvicorn, a real MLflow server, real HTTP between them."""

import threading
import time
import uuid

import httpx
import numpy as np
import pytest

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_receiver.auth import hash_password
from brain_sim.simulate import make_subject, simulate_session

pytestmark = [pytest.mark.integration, pytest.mark.slow]

YEARS = (1990, 1999)
PASSWORD = "integration-test-password"


@pytest.fixture(scope="module")
def fleet(mlflow_server, start_server, tmp_path_factory):
    from brain_model.training import train_local

    first = train_local(mlflow_server.url, n_subjects=6, n_eval_subjects=3, preset="easy",
                        repetitions=6, years=YEARS, seed=1, progress=False)
    assert first.promotion.promoted and first.promotion.reason == "no champion yet"
    root = tmp_path_factory.mktemp("fleet")
    credentials = root / "credentials"
    credentials.write_text(f"lab1:{hash_password(PASSWORD)}\n")
    transform = start_server("brain_transform_service", env={"BRAIN_TRANSFORM_PORT": "{port}"})
    inference = start_server("brain_inference", env={
        "BRAIN_INFERENCE_PORT": "{port}",
        "BRAIN_INFERENCE_TRACKING_URI": mlflow_server.url,
        "BRAIN_INFERENCE_TRANSFORM_URL": transform.url,
        "BRAIN_INFERENCE_POLL_INTERVAL_S": "1",
    }, timeout_s=120)
    receiver = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(credentials),
        "BRAIN_RECEIVER_SPOOL_DIR": str(root / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(root / "state"),
        "BRAIN_RECEIVER_INFERENCE_URL": inference.url,
    })
    return {"mlflow": mlflow_server, "transform": transform, "inference": inference,
            "receiver": receiver, "root": root, "first": first}


def _new_session(seed: int, subject: str = "NEW1"):
    person = make_subject(subject, preset="easy", seed=seed, years=YEARS)
    return simulate_session(person, preset="easy", repetitions=6, years=YEARS, seed=seed)


def _upload(receiver, recording):
    return httpx.put(
        f"{receiver.url}/v1/sessions/{recording.session_id}/phases/{recording.phase.value}",
        content=encode_recording(recording), headers={"Content-Type": MEDIA_TYPE},
        auth=("lab1", PASSWORD), timeout=60)


def test_an_unseen_subject_gets_the_right_birthdate(fleet):
    from brain_model.scoring import combine_birthdate

    recordings, label = _new_session(seed=77)
    predictions = {}
    for recording in recordings:
        response = _upload(fleet["receiver"], recording)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["stored"] and body["prediction_error"] is None
        prediction = body["prediction"]
        assert prediction["model_name"] == "brain-p300"
        assert prediction["model_version"] == fleet["first"].version
        assert abs(sum(prediction["probabilities"]) - 1) < 1e-6
        predictions[recording.phase.value] = prediction
    truth = label.birthdate
    assert predictions["day"]["top_item"] == truth.day
    assert predictions["month"]["top_item"] == truth.month
    assert predictions["year"]["top_item"] == truth.year
    from brain_core.models import PhasePrediction

    birthdate = combine_birthdate(*(PhasePrediction.model_validate(predictions[p])
                                    for p in ("day", "month", "year")))
    assert birthdate.date == truth
    spooled = sorted(p.name for p in (fleet["root"] / "spool" / "incoming").iterdir())
    assert spooled == sorted(f"{label.session_id}_{p}.brainrec" for p in ("day", "month", "year"))


def test_recording_that_does_not_fit_the_model_gets_422(fleet):
    recordings, _ = _new_session(seed=78, subject="NEW2")
    day = recordings[0]
    renamed = day.model_copy(update={"ch_names": tuple(f"X{i}" for i in range(8))})
    response = httpx.post(f"{fleet['inference'].url}/v1/predict",
                          content=encode_recording(renamed),
                          headers={"Content-Type": MEDIA_TYPE}, timeout=30)
    assert response.status_code == 422
    assert "lacks channel(s)" in response.json()["detail"]


def test_a_new_champion_is_served_without_restart_while_requests_keep_succeeding(fleet):
    from brain_model.training import train_local

    recordings, _ = _new_session(seed=79, subject="NEW3")
    payload = encode_recording(recordings[1])  # the month phase: small
    url = f"{fleet['inference'].url}/v1/predict"
    statuses, versions, stop = [], [], threading.Event()

    def hammer():
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                r = client.post(url, content=payload, headers={"Content-Type": MEDIA_TYPE})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    versions.append(r.json()["model_version"])

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        second = train_local(fleet["mlflow"].url, n_subjects=6, n_eval_subjects=3,
                             preset="easy", repetitions=6, years=YEARS, seed=2,
                             force_champion=True, progress=False)
        promoted_at = time.monotonic()
        deadline = promoted_at + 60
        while time.monotonic() < deadline:
            health = httpx.get(f"{fleet['inference'].url}/health").json()
            if health["model"]["version"] == second.version:
                break
            time.sleep(0.2)
        swap_s = time.monotonic() - promoted_at
        time.sleep(1.0)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert health["model"]["version"] == second.version, health
    assert swap_s < 30
    assert statuses and set(statuses) == {200}
    assert versions[0] == fleet["first"].version and versions[-1] == second.version


def test_a_champion_that_fails_to_load_leaves_the_old_one_serving(fleet, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from brain_model.registry import P300Pyfunc

    before = httpx.get(f"{fleet['inference'].url}/health").json()["model"]["version"]
    mlflow.set_tracking_uri(fleet["mlflow"].url)
    mlflow.set_registry_uri(fleet["mlflow"].url)
    broken = tmp_path / "p300_model.pkl"
    broken.write_bytes(b"this is not a pickle")
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=P300Pyfunc(),
                                       artifacts={"p300_model": str(broken)},
                                       pip_requirements=["numpy"])
    version = mlflow.register_model(info.model_uri, "brain-p300")
    MlflowClient().set_registered_model_alias("brain-p300", "champion", version.version)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = httpx.get(f"{fleet['inference'].url}/health").json()
        if health["last_error"]:
            break
        time.sleep(0.2)
    assert health["status"] == "degraded"
    assert f"version {version.version} failed to load" in health["last_error"]
    assert health["model"]["version"] == before
    recordings, _ = _new_session(seed=80, subject="NEW4")
    response = httpx.post(f"{fleet['inference'].url}/v1/predict",
                          content=encode_recording(recordings[1]),
                          headers={"Content-Type": MEDIA_TYPE}, timeout=30)
    assert response.status_code == 200 and response.json()["model_version"] == before


def test_inference_down_still_stores_the_upload(fleet, start_server, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text(f"lab1:{hash_password(PASSWORD)}\n")
    lonely = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(credentials),
        "BRAIN_RECEIVER_SPOOL_DIR": str(tmp_path / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(tmp_path / "state"),
        "BRAIN_RECEIVER_INFERENCE_URL": "http://127.0.0.1:9",  # nothing listens there
        "BRAIN_RECEIVER_DRIFT_URL": "http://127.0.0.1:9",
    })
    recordings, _ = _new_session(seed=81, subject="NEW5")
    response = _upload(lonely, recordings[1])
    assert response.status_code == 200
    body = response.json()
    assert body["stored"] is True and body["prediction"] is None
    assert "unreachable" in body["prediction_error"]
    assert (tmp_path / "spool" / "incoming" / f"{recordings[1].session_id}_month.brainrec").exists()
    assert np.isfinite(recordings[1].data).all() and uuid.UUID(str(body["session_id"]))
