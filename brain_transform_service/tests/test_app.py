import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from brain_core.codec import (
    BATCH_MEDIA_TYPE,
    MEDIA_TYPE,
    encode_recording,
    pack_frames,
    unpack_frames,
)
from brain_transform_service.app import create_app
from brain_transform_service.config import Settings
from brain_transform_service.transform import TransformConfig, transform_recording
from brain_transform_service.wire import decode_epochs, encode_epochs


@pytest.fixture
def client():
    with TestClient(create_app(Settings(_env_file=None))) as c:
        yield c


def test_transform_over_http_equals_the_library(client, make_recording):
    rec = make_recording()
    response = client.post("/v1/transform", content=encode_recording(rec),
                           headers={"Content-Type": MEDIA_TYPE})
    assert response.status_code == 200, response.text
    remote = decode_epochs(response.content)
    local = transform_recording(rec)
    np.testing.assert_array_equal(remote.data, local.data)
    np.testing.assert_array_equal(remote.items, local.items)
    assert remote.session_id == rec.session_id and remote.ch_names == local.ch_names


def test_config_is_honoured_and_validated(client, make_recording):
    rec = make_recording()
    config = TransformConfig(tmin=-0.2, tmax=0.6, baseline=(-0.2, 0.0))
    response = client.post("/v1/transform", content=encode_recording(rec),
                           params={"config": config.model_dump_json()},
                           headers={"Content-Type": MEDIA_TYPE})
    epochs = decode_epochs(response.content)
    assert epochs.times[0] == pytest.approx(-0.2, abs=0.05)
    bad = client.post("/v1/transform", content=encode_recording(rec),
                      params={"config": json.dumps({"h_freq": -3})},
                      headers={"Content-Type": MEDIA_TYPE})
    assert bad.status_code == 422 and "h_freq" in bad.json()["detail"]
    garbage = client.post("/v1/transform", content=encode_recording(rec),
                          params={"config": "{nope"}, headers={"Content-Type": MEDIA_TYPE})
    assert garbage.status_code == 422 and garbage.json()["field"] == "config"


def test_batch_form(client, make_recording):
    recs = [make_recording(seed=1), make_recording("month", seed=2)]
    response = client.post("/v1/transform/batch",
                           content=pack_frames([encode_recording(r) for r in recs]),
                           headers={"Content-Type": BATCH_MEDIA_TYPE})
    assert response.status_code == 200
    sets = [decode_epochs(f) for f in unpack_frames(response.content)]
    assert [s.phase for s in sets] == ["day", "month"]
    broken = client.post("/v1/transform/batch",
                         content=pack_frames([encode_recording(recs[0]), b"junk"]),
                         headers={"Content-Type": BATCH_MEDIA_TYPE})
    assert broken.status_code == 422 and broken.json()["detail"].startswith("recording 1:")


def test_bad_requests(client, make_recording):
    assert client.post("/v1/transform", content=b"junk",
                       headers={"Content-Type": MEDIA_TYPE}).status_code == 422
    assert client.post("/v1/transform", content=b"junk",
                       headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.get("/health").json()["status"] == "ok"


def test_wire_round_trip(make_recording):
    epochs = transform_recording(make_recording())
    back = decode_epochs(encode_epochs(epochs))
    np.testing.assert_array_equal(back.weights, epochs.weights)
    assert back.report == epochs.report and back.bad_channels == epochs.bad_channels
