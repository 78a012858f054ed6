"""New raw data starts brain_etl: an asset event on a real Airflow API server."""

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from brain_core.testing import free_port
from brain_data.airflow_notify import AirflowNotifier

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAGS = Path(__file__).resolve().parents[2] / "brain_dags" / "dags"
PASSWORD = "notify-test-password-1"


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, start_server):
    home = tmp_path_factory.mktemp("airflow-notify")
    (home / "passwords.json").write_text(json.dumps({"brain": PASSWORD}))
    env = {"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "brain:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json")}
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow_bin, *args], env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    port = free_port()
    return start_server("airflow-api", [airflow_bin, "api-server", "--port", str(port)],
                        env=env, port=port, health="/api/v2/monitor/health", timeout_s=180)


def test_a_raw_commit_creates_a_brain_raw_asset_event(airflow, monkeypatch):
    monkeypatch.setenv("BRAIN_DATA_AIRFLOW_PASSWORD", PASSWORD)
    assert AirflowNotifier(airflow.url, "brain").raw_changed("a" * 40) is True
    with httpx.Client(base_url=airflow.url) as client:
        token = client.post("/auth/token", json={"username": "brain", "password": PASSWORD}
                            ).json()["access_token"]
        events = client.get("/api/v2/assets/events",
                            headers={"Authorization": f"Bearer {token}"}).json()["asset_events"]
    assert [e["name"] for e in events] == ["brain_raw"]
    assert events[0]["extra"]["raw_commit"] == "a" * 40


def test_wrong_credentials_or_no_airflow_never_raise(airflow, monkeypatch):
    monkeypatch.setenv("BRAIN_DATA_AIRFLOW_PASSWORD", "not-the-password")
    assert AirflowNotifier(airflow.url, "brain").raw_changed("b" * 40) is False
    assert AirflowNotifier(f"http://127.0.0.1:{free_port()}", "brain").raw_changed("c" * 40) \
        is False
    assert AirflowNotifier(None, None).raw_changed("d" * 40) is False
