"""Run BRAIN's Airflow DAGs for real with ``dag.test()`` in a private AIRFLOW_HOME (sqlite).

Airflow reads its configuration when it is imported, so each run happens in a child
process with its own environment; the DAG files are the ones a deployment schedules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from brain_core.errors import DependencyError

DAGS_FOLDER = Path(__file__).resolve().parents[1] / "brain_dags" / "dags"

_RUNNER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    raise SystemExit(f"DAG import errors: {bag.import_errors}")
run = bag.dags[sys.argv[2]].test()
states = {ti.task_id: str(ti.state).rsplit('.', 1)[-1] for ti in run.get_task_instances()}
print("RESULT" + json.dumps({"state": str(run.state).rsplit('.', 1)[-1], "tasks": states}))
"""


def airflow_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of an embedded Airflow (sqlite, no examples) plus ``extra``."""
    return {**os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            **extra}


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` (idempotent)."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise DependencyError(f"airflow db migrate failed: {done.stderr[-1500:]}")


def test_dag(dag_id: str, env: dict[str, str], log_path: Path) -> dict:
    """Run one DAG with ``dag.test()``; returns its state and each task's state."""
    done = subprocess.run([sys.executable, "-c", _RUNNER, str(DAGS_FOLDER), dag_id], env=env,
                          capture_output=True, text=True, timeout=1800)
    with open(log_path, "a") as log:
        log.write(f"===== {dag_id}\n{done.stdout}\n{done.stderr}\n")
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT")]
    if done.returncode != 0 or not lines:
        raise DependencyError(f"{dag_id} failed (exit {done.returncode}); see {log_path}")
    return json.loads(lines[-1].removeprefix("RESULT"))
