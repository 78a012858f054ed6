import json
import uuid

import pytest
from fastapi.testclient import TestClient

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_core.testing import free_port
from brain_receiver.app import create_app
from brain_receiver.auth import CredentialStore, hash_password
from brain_receiver.config import Settings

PASSWORD = "correct-horse-battery"


@pytest.fixture
def settings(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"lab1:{hash_password(PASSWORD)}\n")
    return Settings(spool_dir=tmp_path / "spool", state_dir=tmp_path / "state",
                    credentials_file=creds, max_upload_bytes=4 * 1024 * 1024,
                    _env_file=None)


@pytest.fixture
def client(settings):
    with TestClient(create_app(settings)) as c:
        yield c


def _spooled(settings):
    incoming = settings.spool_dir / "incoming"
    return sorted(p.name for p in incoming.iterdir()) if incoming.exists() else []


def _put(client, recording, *, auth=("lab1", PASSWORD), body=None, phase=None,
         session=None, content_type=MEDIA_TYPE):
    return client.put(
        f"/v1/sessions/{session or recording.session_id}/phases/{phase or recording.phase.value}",
        content=encode_recording(recording) if body is None else body,
        headers={"Content-Type": content_type}, auth=auth)


def test_upload_is_spooled_once_and_answered_the_same(client, settings, make_recording):
    rec = make_recording()
    first = _put(client, rec)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["stored"] is True and body["duplicate"] is False
    assert body["prediction"] is None and "no inference service" in body["prediction_error"]
    assert _spooled(settings) == [f"{rec.session_id}_day.brainrec"]
    spooled = settings.spool_dir / "incoming" / f"{rec.session_id}_day.brainrec"
    assert spooled.read_bytes() == encode_recording(rec)
    again = _put(client, rec)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert _spooled(settings) == [f"{rec.session_id}_day.brainrec"]


def test_retry_after_brain_data_took_the_file_is_still_a_duplicate(client, settings,
                                                                    make_recording):
    rec = make_recording()
    assert _put(client, rec).status_code == 200
    (settings.spool_dir / "incoming" / f"{rec.session_id}_day.brainrec").unlink()
    again = _put(client, rec)
    assert again.json()["duplicate"] is True
    assert _spooled(settings) == []


def test_different_content_for_the_same_phase_is_a_conflict(client, settings, make_recording):
    rec = make_recording()
    assert _put(client, rec).status_code == 200
    other = make_recording(seed=5).model_copy(update={"session_id": rec.session_id})
    response = _put(client, other)
    assert response.status_code == 409
    assert "different content" in response.json()["detail"]
    spooled = settings.spool_dir / "incoming" / f"{rec.session_id}_day.brainrec"
    assert spooled.read_bytes() == encode_recording(rec)


@pytest.mark.parametrize("auth", [None, ("lab1", "wrong-password-x"), ("nobody", PASSWORD)])
def test_bad_credentials_get_the_same_401(client, settings, make_recording, auth):
    response = _put(client, make_recording(), auth=auth)
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid credentials."
    assert response.headers["www-authenticate"].startswith("Basic")
    assert _spooled(settings) == []


def test_malformed_bodies_get_422_naming_the_problem(client, settings, make_recording):
    rec = make_recording()
    payload = encode_recording(rec)
    truncated = _put(client, rec, body=payload[:-10])
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]
    garbage = _put(client, rec, body=b"hello")
    assert garbage.status_code == 422
    corrupt = bytearray(payload)
    corrupt[-1] ^= 0xFF
    assert _put(client, rec, body=bytes(corrupt)).status_code == 422
    wrong_phase = _put(client, rec, phase="month")
    assert wrong_phase.status_code == 422 and wrong_phase.json()["field"] == "phase"
    wrong_session = _put(client, rec, session=uuid.uuid4())
    assert wrong_session.status_code == 422 and wrong_session.json()["field"] == "session_id"
    bad_path = _put(client, rec, phase="week")
    assert bad_path.status_code == 422
    not_uuid = _put(client, rec, session="not-a-uuid")
    assert not_uuid.status_code == 422
    assert _put(client, rec, content_type="application/json").status_code == 415
    assert _spooled(settings) == []


def test_oversized_upload_gets_413(client, settings, make_recording):
    big = make_recording(repetitions=10, ch_names=[f"E{i}" for i in range(64)])
    response = _put(client, big)
    assert response.status_code == 413
    assert "above the limit" in response.json()["detail"]
    assert _spooled(settings) == []


def test_label_is_stored_once(client, settings):
    session = uuid.uuid4()
    url = f"/v1/sessions/{session}/label"
    body = {"subject": "S01", "birthdate": "1994-03-17"}
    first = client.put(url, json=body, auth=("lab1", PASSWORD))
    assert first.status_code == 200 and first.json()["duplicate"] is False
    assert client.put(url, json=body, auth=("lab1", PASSWORD)).json()["duplicate"] is True
    conflict = client.put(url, json={**body, "birthdate": "1994-03-18"},
                          auth=("lab1", PASSWORD))
    assert conflict.status_code == 409
    stored = json.loads((settings.spool_dir / "incoming" / f"{session}_label.json").read_text())
    assert stored["birthdate"] == "1994-03-17"
    for bad in ({"subject": "S01", "birthdate": "1994-02-30"},
                {"subject": "S-01", "birthdate": "1994-02-03"},
                {"subject": "S01", "birthdate": "17.03.1994"}):
        response = client.put(f"/v1/sessions/{uuid.uuid4()}/label", json=bad,
                              auth=("lab1", PASSWORD))
        assert response.status_code == 422, bad
    assert _spooled(settings) == [f"{session}_label.json"]


def test_health_and_openapi(client):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["credentials_configured"] is True
    assert health["storage"] == "ok"
    assert health["dependencies"] == {"inference": "not configured", "drift": "not configured"}
    assert health["drift_outbox"]["pending"] == 0
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/sessions/{session_id}/phases/{phase}"]["put"]["requestBody"]
    assert MEDIA_TYPE in body["content"]
    assert "/upload/" in spec["paths"]


def test_credentials_rotate_without_restart(client, settings, make_recording):
    rec = make_recording()
    settings.credentials_file.write_text(f"lab1:{hash_password('a-brand-new-password')}\n")
    assert _put(client, rec).status_code == 401
    assert _put(client, rec, auth=("lab1", "a-brand-new-password")).status_code == 200


def test_no_credentials_means_nobody_uploads(tmp_path, make_recording):
    settings = Settings(spool_dir=tmp_path / "s", state_dir=tmp_path / "t", _env_file=None)
    with TestClient(create_app(settings)) as c:
        assert _put(c, make_recording(), auth=("admin", "admin")).status_code == 401


def test_credentials_store_refuses_plain_passwords():
    with pytest.raises(ValueError, match=r"expected `collector:\$argon2id"):
        CredentialStore(inline="lab1:hunter2")
    with pytest.raises(ValueError, match="at least 12 characters"):
        hash_password("short")


def test_health_is_degraded_but_200_while_dependencies_are_down(tmp_path, settings,
                                                                 make_recording):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = settings.model_copy(update={"inference_url": dead, "drift_url": dead})
    with TestClient(create_app(settings)) as c:
        # Before any upload, /health probes the dependencies itself.
        health = c.get("/health")
        assert health.status_code == 200
        assert health.json()["dependencies"] == {"inference": "unreachable",
                                                 "drift": "unreachable"}
        assert health.json()["status"] == "degraded"
        answer = _put(c, make_recording())
        assert answer.status_code == 200 and answer.json()["stored"] is True
        assert "unreachable" in answer.json()["prediction_error"]
        health = c.get("/health").json()
        assert health["status"] == "degraded" and health["drift_outbox"]["pending"] == 1


def test_health_is_503_when_uploads_cannot_be_stored(tmp_path, settings):
    # No disk has room for one upload this large: the receiver cannot take one.
    settings = settings.model_copy(update={"max_upload_bytes": 2 ** 62})
    with TestClient(create_app(settings)) as c:
        health = c.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "failing"
        assert "free" in health.json()["storage"]
