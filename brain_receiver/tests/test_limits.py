"""Rate limits (per collector, failed authentications per address) and body time limits."""

import base64
import socket
import uuid
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_receiver.app import create_app
from brain_receiver.auth import hash_password
from brain_receiver.config import Settings
from brain_receiver.limits import TokenBuckets

PASSWORDS = {"lab1": "lab-one-password-123", "lab2": "lab-two-password-456"}


def _credentials(path):
    path.write_text("".join(f"{name}:{hash_password(pw)}\n" for name, pw in PASSWORDS.items()))
    return path


@pytest.fixture
def settings(tmp_path):
    # Refill so slow that no token comes back during a test: only the burst counts.
    return Settings(spool_dir=tmp_path / "spool", state_dir=tmp_path / "state",
                    credentials_file=_credentials(tmp_path / "credentials"),
                    rate_limit_per_s=0.001, rate_limit_burst=3,
                    auth_failures_per_min=0.01, auth_failures_burst=2, _env_file=None)


def _spooled(settings):
    incoming = settings.spool_dir / "incoming"
    return sorted(p.name for p in incoming.iterdir()) if incoming.exists() else []


def _label(client, collector, password=None, session=None):
    return client.put(f"/v1/sessions/{session or uuid.uuid4()}/label",
                      json={"subject": "S01", "birthdate": "1994-03-17"},
                      auth=(collector, password or PASSWORDS[collector]))


def _assert_429(response):
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "retry after" in response.json()["detail"]


def test_a_collector_over_its_rate_gets_429_and_others_are_unaffected(settings):
    with TestClient(create_app(settings)) as client:
        for _ in range(3):
            assert _label(client, "lab1").status_code == 200
        refused_session = uuid.uuid4()
        refused = _label(client, "lab1", session=refused_session)
        _assert_429(refused)
        assert "'lab1'" in refused.json()["detail"]
        assert not any(name.startswith(str(refused_session)) for name in _spooled(settings))
        # Another collector from the same address has its own bucket.
        assert _label(client, "lab2").status_code == 200
        assert len(_spooled(settings)) == 4


def test_wrong_passwords_do_not_spend_the_collector_s_bucket(settings):
    with TestClient(create_app(settings)) as client:
        attacker = TestClient(client.app, client=("203.0.113.9", 4000))
        for _ in range(2):
            assert _label(attacker, "lab1", "guessed-password-1").status_code == 401
        # The real lab1 still has its whole burst.
        for _ in range(3):
            assert _label(client, "lab1").status_code == 200


def test_failed_authentications_are_limited_per_address(settings, make_recording):
    with TestClient(create_app(settings)) as client:
        attacker = TestClient(client.app, client=("203.0.113.9", 4000))
        for _ in range(2):
            assert _label(attacker, "lab1", "guessed-password-1").status_code == 401
        # Over the limit: refused before the password is checked, even the right one.
        _assert_429(_label(attacker, "lab1", "guessed-password-2"))
        _assert_429(_label(attacker, "lab1"))
        recording = make_recording()
        locked = attacker.put(f"/v1/sessions/{recording.session_id}/phases/day",
                              content=encode_recording(recording),
                              headers={"Content-Type": MEDIA_TYPE}, auth=("lab1", "x" * 12))
        _assert_429(locked)
        # No credentials at all guess nothing: still the plain 401.
        assert attacker.put(f"/v1/sessions/{uuid.uuid4()}/label",
                            json={"subject": "S01", "birthdate": "1994-03-17"}
                            ).status_code == 401
        # Other addresses are unaffected.
        assert _label(client, "lab1").status_code == 200
        assert _spooled(settings) and not any(n.endswith(".brainrec")
                                              for n in _spooled(settings))


def test_token_buckets_refill_and_forget_the_least_recent_key():
    now = [0.0]
    buckets = TokenBuckets(rate_per_s=2.0, burst=2, max_keys=2, clock=lambda: now[0])
    assert buckets.take("a") is None and buckets.take("a") is None
    assert buckets.take("a") == pytest.approx(0.5)
    assert buckets.blocked("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.blocked("a") is None and buckets.take("a") is None
    buckets.take("b")
    buckets.take("c")  # a third key: "a", the least recently used, is forgotten
    assert buckets.take("a") is None and buckets.take("a") is None


# --- Over real HTTP: the limits act before the body is read ---------------------------

SLOW = {"lab1": PASSWORDS["lab1"]}


@pytest.fixture(scope="module")
def slow_receiver(start_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("limits")
    server = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(_credentials(root / "credentials")),
        "BRAIN_RECEIVER_SPOOL_DIR": str(root / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(root / "state"),
        "BRAIN_RECEIVER_BODY_TIMEOUT_S": "1",
        "BRAIN_RECEIVER_AUTH_FAILURES_BURST": "2",
        "BRAIN_RECEIVER_AUTH_FAILURES_PER_MIN": "0.01",
    })
    server.root = root
    return server


def _raw_put(server, path: str, *, user: str, password: str, declared: int,
             sent: bytes, content_type: str = MEDIA_TYPE) -> tuple[int, bytes]:
    """PUT with ``Content-Length: declared`` but only ``sent`` of the body, then wait."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    head = (f"PUT {path} HTTP/1.1\r\nHost: {urlsplit(server.url).netloc}\r\n"
            f"Authorization: Basic {token}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + sent)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < _response_length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def _response_length(answer: bytes) -> int:
    head, _, _ = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(head) + 4 + int(value)
    return len(answer) + 1  # no length: read until the server closes


def _stored(server) -> list[str]:
    found = []
    for folder in (server.root / "spool" / "incoming", server.root / "state" / "accepted"):
        if folder.exists():
            found += [p.name for p in folder.iterdir()]
    return found


@pytest.mark.integration
def test_a_body_trickled_too_slowly_gets_408_and_nothing_is_stored(slow_receiver,
                                                                 make_recording):
    recording = make_recording()
    payload = encode_recording(recording)
    status, rest = _raw_put(slow_receiver,
                            f"/v1/sessions/{recording.session_id}/phases/day",
                            user="lab1", password=PASSWORDS["lab1"], declared=len(payload),
                            sent=payload[:1000])
    assert status == 408, rest
    assert b"did not arrive within 1 s" in rest
    assert b"connection: close" in rest.lower()
    assert _stored(slow_receiver) == []


@pytest.mark.integration
def test_an_address_over_its_failure_limit_gets_429_without_its_body_read(slow_receiver):
    path = f"/v1/sessions/{uuid.uuid4()}/label"
    for _ in range(2):
        status, _ = _raw_put(slow_receiver, path, user="lab1", password="wrong-password-1",
                             declared=10_000, sent=b"", content_type="application/json")
        assert status == 401
    # The body is never sent: an answer other than 408 shows it was not waited for.
    status, rest = _raw_put(slow_receiver, path, user="lab1", password="wrong-password-2",
                            declared=10_000, sent=b"", content_type="application/json")
    assert status == 429, rest
    assert b"retry-after:" in rest.lower()
    assert _stored(slow_receiver) == []


def test_a_chunked_body_over_the_limit_gets_413(settings, make_recording):
    settings = settings.model_copy(update={"max_upload_bytes": 4096})
    recording = make_recording()

    def chunks():  # no Content-Length: only the streamed size can stop it
        for _ in range(100):
            yield b"\0" * 1024

    with TestClient(create_app(settings)) as client:
        response = client.put(f"/v1/sessions/{recording.session_id}/phases/day",
                              content=chunks(), headers={"Content-Type": MEDIA_TYPE},
                              auth=("lab1", PASSWORDS["lab1"]))
    assert response.status_code == 413, response.text
    assert "above the limit of 4096 bytes" in response.json()["detail"]
    assert _spooled(settings) == []
