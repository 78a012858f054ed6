"""The original MLOPS-BRAIN upload still works, for collectors in the field."""

import io
import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from brain_core.codec import decode_recording
from brain_receiver.app import create_app
from brain_receiver.auth import hash_password
from brain_receiver.config import Settings

PASSWORD = "legacy-collector-pw"


@pytest.fixture
def settings(tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"field1:{hash_password(PASSWORD)}\n")
    return Settings(spool_dir=tmp_path / "spool", state_dir=tmp_path / "state",
                    credentials_file=creds, _env_file=None)


def _csv(phase: str, n_items: int, seconds_per_item: float = 0.5, sfreq: float = 256.0) -> bytes:
    rng = np.random.default_rng(0)
    n = int(n_items * seconds_per_item * sfreq)
    out = io.StringIO()
    out.write("Task_Phase,Timestamp," + ",".join(f"Channel_{i}" for i in range(1, 9)) + "\n")
    for k in range(n):
        values = ",".join(f"{v:.3f}" for v in rng.normal(0, 10, 8))  # microvolts
        out.write(f"{phase},{1000 + k / sfreq:.6f},{values}\n")
    return out.getvalue().encode()


META = {"start_year": 1999, "end_year": 2007, "time_interval": 0.5,
        "device_name": "Neurosity Crown", "notes": ""}


def test_legacy_phase_upload_is_spooled_untimed(settings):
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/upload/", data={"task_phase": "days"}, auth=("field1", PASSWORD),
            files={"csv_file": ("output/20250101_120000_days.csv", _csv("days", 31), "text/csv"),
                   "metadata_file": ("placeholder.json", json.dumps(META), "application/json")})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["processing_result"]["untimed"] is True
        assert body["inference_result"] is None  # no inference configured here
        spooled = list((settings.spool_dir / "incoming").glob("*_day.brainrec"))
        assert len(spooled) == 1
        recording = decode_recording(spooled[0].read_bytes())
        assert recording.untimed and recording.phase == "day"
        assert [e.value for e in recording.events] == list(range(1, 32))
        assert np.abs(recording.data).max() < 1e-3  # microvolts became volts
        # The same upload again: no duplicate.
        again = client.post(
            "/upload/", data={"task_phase": "days"}, auth=("field1", PASSWORD),
            files={"csv_file": ("output/20250101_120000_days.csv", _csv("days", 31), "text/csv"),
                   "metadata_file": ("placeholder.json", json.dumps(META), "application/json")})
        assert again.json()["processing_result"]["duplicate"] is True
        assert len(list((settings.spool_dir / "incoming").iterdir())) == 1


def test_legacy_meta_upload_stores_the_label_of_the_same_session(settings):
    with TestClient(create_app(settings)) as client:
        client.post("/upload/", data={"task_phase": "months"}, auth=("field1", PASSWORD),
                    files={"csv_file": ("20250101_120000_months.csv", _csv("months", 12)),
                           "metadata_file": ("placeholder.json", json.dumps(META))})
        meta = {**META, "subject_date_of_birth": "17-March-2001"}
        response = client.post(
            "/upload/", data={"task_phase": "meta"}, auth=("field1", PASSWORD),
            files={"csv_file": ("placeholder.csv", b""),
                   "metadata_file": ("output/20250101_120000_metadata.json", json.dumps(meta))})
        assert response.status_code == 200, response.text
        incoming = sorted(p.name for p in (settings.spool_dir / "incoming").iterdir())
        assert len(incoming) == 2
        session = incoming[0].split("_")[0]
        assert incoming == [f"{session}_label.json", f"{session}_month.brainrec"]
        label = json.loads((settings.spool_dir / "incoming" / incoming[0]).read_text())
        assert label["birthdate"] == "2001-03-17"


@pytest.mark.parametrize(("data", "files", "code", "text"), [
    ({"task_phase": "weeks"}, {"csv_file": ("a_days.csv", b"x")}, 422, "task_phase"),
    ({"task_phase": "days"}, {"csv_file": ("a_days.csv", b"Task_Phase,Timestamp\n")}, 422,
     "Channel"),
    ({"task_phase": "days"}, {"csv_file": ("a_days.csv", b"x"),
                              "metadata_file": ("m.json", b"{not json")}, 422, "metadata_file"),
    ({"task_phase": "days"}, {"metadata_file": ("m.json", json.dumps(META))}, 422,
     "csv_file"),
    ({"task_phase": "days"}, {}, 415, "multipart/form-data"),  # not a multipart form
    ({}, {"csv_file": ("a_days.csv", b"x")}, 422, "task_phase"),
])
def test_bad_legacy_uploads_are_refused_and_store_nothing(settings, data, files, code, text):
    with TestClient(create_app(settings)) as client:
        response = client.post("/upload/", data=data, files=files or None,
                               auth=("field1", PASSWORD))
        assert response.status_code == code, response.text
        assert text in response.text
        assert list((settings.spool_dir / "incoming").iterdir()) == []


def test_legacy_upload_needs_credentials(settings):
    with TestClient(create_app(settings)) as client:
        response = client.post("/upload/", data={"task_phase": "days"},
                               files={"csv_file": ("a_days.csv", _csv("days", 31))},
                               auth=("field1", "wrong-password!"))
        assert response.status_code == 401
