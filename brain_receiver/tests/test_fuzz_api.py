"""schemathesis against the receiver's own OpenAPI spec, over HTTP: no 5xx, ever.

And nothing stored from bad input: every request's effect on the spool (``incoming/``)
and on the record of accepted uploads (``accepted/``) is checked; a refused request
changes neither.
"""

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_receiver.auth import hash_password

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSWORD = "fuzzing-password-1234"



@pytest.fixture(scope="module")
def receiver(start_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "credentials").write_text(f"fuzz:{hash_password(PASSWORD)}\n")
    server = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(root / "credentials"),
        "BRAIN_RECEIVER_SPOOL_DIR": str(root / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(root / "state"),
        # The fuzzer sends thousands of requests, many with wrong or empty credentials.
        "BRAIN_RECEIVER_AUTH_FAILURES_BURST": "1000000",
        "BRAIN_RECEIVER_RATE_LIMIT_BURST": "1000000",
    })
    server.root = root
    return server


@pytest.fixture(scope="module")
def api_schema(receiver):
    return schemathesis.openapi.from_url(f"{receiver.url}/openapi.json")


def _stored(receiver) -> set[str]:
    """Every file under the spool's incoming/ and the state's accepted/ folders."""
    return {str(p.relative_to(receiver.root)) for folder in ("spool/incoming", "state/accepted")
            for p in (receiver.root / folder).glob("*")}


def test_no_server_errors(api_schema, receiver, make_recording):
    # Registered here, not at import: another module registers its own for this type.
    # Bodies for the binary recording type: random bytes, and bytes that start like a
    # recording (the magic) so the decoder's deeper checks are reached too.
    schemathesis.openapi.media_type(
        MEDIA_TYPE,
        st.one_of(st.binary(max_size=512),
                  st.binary(max_size=256).map(lambda b: b"BRAINREC\x01\x00\x00\x00" + b)))
    valid = make_recording("month", repetitions=1)
    response = httpx.put(f"{receiver.url}/v1/sessions/{valid.session_id}/phases/month",
                         content=encode_recording(valid), auth=("fuzz", PASSWORD),
                         headers={"Content-Type": MEDIA_TYPE}, timeout=60)
    assert response.status_code == 200, response.text
    receiver.valid_key = f"{valid.session_id}_month"
    # Driven by hand (schemathesis' pytest plugin does not load under this pytest).
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/sessions/{session_id}/phases/{phase}",
                                              "/v1/sessions/{session_id}/label", "/upload/"}
    seen: dict[str, set[int]] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def check(case):
            for auth in (("fuzz", PASSWORD), None):
                before = _stored(receiver)
                response = case.call(auth=auth, timeout=30)
                if response.status_code >= 300:
                    assert _stored(receiver) == before, (case.method, case.path,
                                                         response.status_code)
                seen.setdefault(f"{case.method} {case.operation.path}", set()).add(
                    response.status_code)
                assert response.status_code < 500, (case.method, case.path,
                                                     response.text[:300])
                if auth is None and case.path not in ("/health", "/openapi.json"):
                    assert response.status_code in (401, 404, 405, 415, 422)

        check()
    # The bodies reached the decoder and were refused there, not only at the door.
    assert 422 in seen["PUT /v1/sessions/{session_id}/phases/{phase}"], seen
    assert 401 in seen["PUT /v1/sessions/{session_id}/phases/{phase}"], seen


def test_nothing_bad_was_stored(receiver):
    stored = _stored(receiver)
    # Labels with a valid body may be stored; of recordings only the valid one, since
    # fuzzed bytes never decode into a valid recording. No temporary file is left.
    recordings = {Path(p).name for p in stored if p.endswith(".brainrec")}
    assert recordings == {f"{receiver.valid_key}.brainrec"}, stored
    assert f"state/accepted/{receiver.valid_key}.json" in stored
    assert not [p for p in stored if Path(p).name.startswith(".")], stored
    # Every stored upload has its record, and the other way round.
    incoming = {Path(p).stem for p in stored if p.startswith("spool/")}
    accepted = {Path(p).stem for p in stored if p.startswith("state/")}
    assert incoming == accepted, stored
