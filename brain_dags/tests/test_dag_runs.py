"""Real DAG runs with ``dag.test()`` in a temporary AIRFLOW_HOME (sqlite).

brain_etl then brain_train on a small simulated dataset ingested by brain_data, ending
with a champion in a real MLflow server; a second run with nothing new does nothing; a
run whose model is not better leaves the champion alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from brain_core.codec import encode_recording
from brain_data.config import Settings as DataSettings
from brain_data.features import init_feature_repo
from brain_data.raw import committed_recordings, ingest_once, init_raw_repo, raw_repository
from brain_receiver.spool import atomic_write
from brain_sim.simulate import simulate_dataset

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAGS = Path(__file__).resolve().parents[1] / "dags"
YEARS = (1990, 1999)
MODEL = "brain-p300-dagtest"

RUNNER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
run = bag.dags[sys.argv[2]].test()
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
print("RESULT" + json.dumps({"state": str(run.state), "tasks": states}))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mlflow_server, start_server):
    root = tmp_path_factory.mktemp("dagruns")
    transform = start_server("brain_transform_service", env={"BRAIN_TRANSFORM_PORT": "{port}"})
    data = DataSettings(spool_dir=root / "spool", raw_repo=root / "raw",
                        feature_repo=root / "features", raw_remote=str(root / "remote-raw"),
                        feature_remote=str(root / "remote-features"), _env_file=None)
    init_raw_repo(data.raw_repo, data.raw_remote)
    init_feature_repo(data.feature_repo, data.feature_remote)
    incoming = data.spool_dir / "incoming"
    for recordings, label in simulate_dataset(8, preset="easy", seed=11, repetitions=5,
                                              years=YEARS, innocent_fraction=0.0):
        for rec in recordings:
            atomic_write(incoming / f"{rec.session_id}_{rec.phase.value}.brainrec",
                         encode_recording(rec))
        atomic_write(incoming / f"{label.session_id}_label.json",
                     label.model_dump_json().encode())
    ingest_once(data)
    assert len(committed_recordings(raw_repository(data.raw_repo))) == 24
    home = root / "airflow"
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "BRAIN_PIPELINE_RAW_REPO": str(data.raw_repo),
           "BRAIN_PIPELINE_FEATURE_REPO": str(data.feature_repo),
           "BRAIN_PIPELINE_TRANSFORM_URL": transform.url,
           "BRAIN_TRAIN_TRACKING_URI": mlflow_server.url,
           "BRAIN_TRAIN_N_TRIALS": "1",
           "BRAIN_TRAIN_ESTIMATORS": '["lda"]',
           "BRAIN_TRAIN_MIN_SUBJECTS": "4",
           "BRAIN_TRAIN_N_SPLITS": "4",
           # Its own model name: the MLflow server is shared with other test modules.
           "BRAIN_TRAIN_MODEL_NAME": MODEL}
    done = subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"env": env, "data": data, "mlflow": mlflow_server}


def _run(stack, dag_id: str) -> dict:
    done = subprocess.run([sys.executable, "-c", RUNNER, str(DAGS), dag_id], env=stack["env"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:])
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line.removeprefix("RESULT"))


def _champion(stack):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack["mlflow"].url, registry_uri=stack["mlflow"].url)
    return client.get_model_version_by_alias(MODEL, "champion")


def _feature_commits(stack) -> int:
    out = subprocess.run(["git", "-C", str(stack["data"].feature_repo), "rev-list", "--count",
                          "HEAD"], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_etl_then_train_ends_with_a_served_champion(stack):
    etl = _run(stack, "brain_etl")
    assert etl["state"].endswith("success")
    assert etl["tasks"]["transform_new"].endswith("success")
    train = _run(stack, "brain_train")
    assert train["state"].endswith("success"), train
    champion = _champion(stack)
    assert len(champion.tags["brain.dataset_version"]) == 40  # the feature store's git sha
    assert json.loads(champion.tags["brain.config"])["estimator"] == "lda"
    assert float(champion.tags["brain.evaluation_score"]) > 0.7


def test_a_second_etl_with_nothing_new_does_nothing(stack):
    before = _feature_commits(stack)
    etl = _run(stack, "brain_etl")
    assert etl["tasks"]["has_new_data"].endswith("success")
    assert etl["tasks"]["transform_new"].endswith("skipped")
    assert _feature_commits(stack) == before


def test_a_model_that_is_not_better_leaves_the_champion_alone(stack):
    before = _champion(stack).version
    train = _run(stack, "brain_train")
    assert train["state"].endswith("success")
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack["mlflow"].url, registry_uri=stack["mlflow"].url)
    newest = max(int(v.version) for v in client.search_model_versions(f"name='{MODEL}'"))
    assert newest > int(before)  # a new version was trained and registered ...
    assert _champion(stack).version == before  # ... but not promoted
    latest = client.get_model_version(MODEL, str(newest))
    assert "does not beat champion" in latest.tags["brain.promotion"]
