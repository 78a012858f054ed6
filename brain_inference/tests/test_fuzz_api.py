"""Fuzzing of the inference API over HTTP, with a champion loaded: no 5xx, ever.

schemathesis drives the service from its own OpenAPI spec (by hand: its pytest plugin
does not load under this pytest); then valid recordings, mutated one way at a time,
must each get a 4xx whose detail names the problem. A real MLflow server holds the
champion and a real transform service makes the epochs, so fuzzed bodies that decode
reach the transform and the model.
"""

import json
import struct
import zlib

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_sim.simulate import make_subject, simulate_session

pytestmark = [pytest.mark.integration, pytest.mark.slow]

YEARS = (1990, 1993)
PREFIX = struct.Struct("<8sHHIQI")
FUZZ = settings(derandomize=True, database=None, deadline=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def recording():
    person = make_subject("FUZZ1", preset="easy", seed=5, years=YEARS)
    recordings, _ = simulate_session(person, preset="easy", repetitions=2, years=YEARS, seed=5)
    return recordings[1]  # the month phase: small

#: Its own registered model: the session's MLflow server is shared with test_serving, which
#: starts from "no champion yet" under the default name.
MODEL_NAME = "brain-p300-fuzz"


@pytest.fixture(scope="module")
def inference(mlflow_server, start_server):
    from brain_model.training import train_local

    trained = train_local(mlflow_server.url, n_subjects=3, n_eval_subjects=2,
                          preset="easy", repetitions=3, years=YEARS, seed=3,
                          name=MODEL_NAME, force_champion=True, progress=False)
    transform = start_server("brain_transform_service", env={"BRAIN_TRANSFORM_PORT": "{port}"})
    server = start_server("brain_inference", env={
        "BRAIN_INFERENCE_PORT": "{port}",
        "BRAIN_INFERENCE_TRACKING_URI": mlflow_server.url,
        "BRAIN_INFERENCE_TRANSFORM_URL": transform.url,
        "BRAIN_INFERENCE_MODEL_NAME": MODEL_NAME,
        "BRAIN_INFERENCE_POLL_INTERVAL_S": "3600",  # this champion for the whole module
    }, timeout_s=120)
    health = httpx.get(f"{server.url}/health", timeout=30).json()
    assert health["model"]["version"] == trained.version, health
    return server


def _predict(server, payload: bytes) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/predict", content=payload,
                      headers={"Content-Type": MEDIA_TYPE}, timeout=60)


def test_a_valid_recording_is_predicted(inference, recording):
    response = _predict(inference, encode_recording(recording))
    assert response.status_code == 200, response.text
    assert response.json()["phase"] == "month"


# --- schemathesis, from the service's own OpenAPI spec ------------------------------------


def test_schemathesis_finds_no_server_error(inference, recording):
    valid = encode_recording(recording)
    # Bodies for the binary recording type: random bytes, bytes behind the magic, the
    # valid recording cut or with one byte changed (checksum fixed, so the header is read).
    schemathesis.openapi.media_type(MEDIA_TYPE, st.one_of(
        st.binary(max_size=512),
        st.binary(max_size=256).map(lambda b: b"BRAINREC\x01\x00\x00\x00" + b),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.tuples(st.integers(PREFIX.size, len(valid) - 1), st.integers(1, 255))
        .map(lambda change: _with_crc(_xor(valid, *change))),
        st.just(valid),
    ))
    schema = schemathesis.openapi.from_url(f"{inference.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/v1/predict", "/health"}
    seen: dict[str, set[int]] = {}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance,
              response_schema_conformance]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(FUZZ, max_examples=40)
        def check(case):
            response = case.call(timeout=60)
            seen.setdefault(case.operation.path, set()).add(response.status_code)
            case.validate_response(response, checks=checks)

        check()
    # Fuzzed bodies got past the door: some were refused by the decoder, some predicted.
    assert {200, 422} <= seen["/v1/predict"], seen


def _xor(payload: bytes, position: int, mask: int) -> bytes:
    blob = bytearray(payload)
    blob[position] ^= mask
    return bytes(blob)


def _with_crc(payload: bytes) -> bytes:
    blob = bytearray(payload)
    struct.pack_into("<I", blob, 24, zlib.crc32(bytes(blob[PREFIX.size:])))
    return bytes(blob)


# --- mutated valid recordings: a 4xx that names the problem ---------------------------------


def _split(payload: bytes) -> tuple[dict, bytes]:
    header_len = PREFIX.unpack_from(payload)[3]
    return (json.loads(payload[PREFIX.size:PREFIX.size + header_len]),
            payload[PREFIX.size + header_len:])


def _frame(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    crc = zlib.crc32(data, zlib.crc32(raw))
    return PREFIX.pack(b"BRAINREC", 1, 0, len(raw), len(data), crc) + raw + data


def _samples(data: bytes, value: float) -> bytes:
    samples = np.frombuffer(data, "<f4").copy()
    samples[7] = value
    return samples.tobytes()


def _mutations(valid: bytes) -> dict[str, tuple[bytes, str]]:
    """Name -> (payload, what the 4xx detail must mention)."""
    header, data = _split(valid)
    n_channels, n_times = header["shape"]
    first_channel = data[:n_times * 4]
    return {
        "truncated": (valid[:len(valid) // 2], "truncated"),
        "prefix only": (valid[:PREFIX.size], "truncated"),
        "bit flip": (_xor(valid, len(valid) - 3, 0x10), "checksum"),
        "huge declared data": (PREFIX.pack(b"BRAINREC", 1, 0, 10, 2**63, 0) + valid[28:],
                               "announces"),
        "huge declared header": (PREFIX.pack(b"BRAINREC", 1, 0, 2**32 - 1, 0, 0) + valid[28:],
                                 "Header is"),
        "wrong shape": (_frame({**header, "shape": [n_channels + 1, n_times]}, data), "shape"),
        "huge shape": (_frame({**header, "shape": [2**40, 2**40]}, data), "shape"),
        "NaN sample": (_frame(header, _samples(data, np.nan)), "non-finite"),
        "inf sample": (_frame(header, _samples(data, np.inf)), "non-finite"),
        "microvolts": (_frame(header, _samples(data, 50.0)), "volts"),
        "wrong phase": (_frame({**header, "phase": "week"}, data), "phase"),
        "foreign items": (_frame({**header, "paradigm": {**header["paradigm"],
                                                         "items": [1, 2, 13]}}, data),
                          "items"),
        "event of another phase": (_frame({**header, "events": [
            {**header["events"][0], "phase": "day"}]}, data), "events[0].phase"),
        "0 samples": (_frame({**header, "shape": [n_channels, 0]}, b""), "shape"),
        "1 channel": (_frame({**header, "ch_names": header["ch_names"][:1],
                              "shape": [1, n_times], "events": [], "paradigm": {
                                  **header["paradigm"]}}, first_channel), "ch_names"),
        "bad sfreq": (_frame({**header, "sfreq": -256}, data), "sfreq"),
        "not JSON": (_frame_raw(b"{" * 10, data), "header"),
        "out-of-range meas_date": (_frame({**header, "meas_date": "0001-01-01T00:00:00+05:00"},
                                          data), "meas_date"),
        "too short for an epoch": (_frame({**header, "shape": [n_channels, 3], "events": []},
                                          data[:n_channels * 3 * 4]), ""),
    }


def _frame_raw(raw: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(raw))
    return PREFIX.pack(b"BRAINREC", 1, 0, len(raw), len(data), crc) + raw + data


def test_mutated_recordings_get_a_4xx_naming_the_problem(inference, recording):
    failures = {}
    for name, (payload, mention) in _mutations(encode_recording(recording)).items():
        response = _predict(inference, payload)
        body = response.json()
        if not (400 <= response.status_code < 500 and mention in str(body)):
            failures[name] = (response.status_code, str(body)[:300])
    assert not failures, failures
