"""``brain demo``: BRAIN's main job end to end on embedded defaults.

1. Start the local fleet under honcho: MLflow (sqlite), the transform, inference,
   receiver and drift services, and brain_data's spool watcher.
2. Simulate labelled subjects and upload every phase and label through the receiver,
   the same path the collector uses; brain_data commits them into the raw DVC repository
   and pushes them to its (local folder) remote.
3. Run the Airflow DAGs for real (``dag.test()``): brain_etl turns the new recordings into
   features through the transform service; brain_train searches, evaluates leave-subject-
   out, registers the model in MLflow and promotes it to champion.
4. Wait until inference serves the champion (it polls the registry: no restart), then
   record one new, unseen subject and print the predicted birthdate against the true one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from brain_core.errors import DependencyError
from brain_core.models import PHASES, PhasePrediction
from brain_core.upload import ReceiverClient
from brain_demo.fleet import Fleet


@dataclass(frozen=True)
class DemoResult:
    truth: date
    predicted: date | None
    indeterminate: bool
    correct: bool
    model_version: str
    predictions: dict[str, PhasePrediction]
    metrics: dict[str, float]


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)


def upload_simulated_subjects(client: ReceiverClient, n_subjects: int, *, preset: str,
                              repetitions: int, years: tuple[int, int], seed: int,
                              console: Console) -> None:
    """Simulate ``n_subjects`` sessions and upload each phase and label through the receiver."""
    from brain_sim.simulate import simulate_dataset

    with _progress(console) as bar:
        task = bar.add_task(f"simulate and upload {n_subjects} subjects", total=n_subjects)
        for recordings, label in simulate_dataset(n_subjects, preset=preset, seed=seed,
                                                  repetitions=repetitions, years=years):
            for recording in recordings:
                client.upload_phase(recording)
            client.upload_label(label.session_id, label.subject, label.birthdate)
            bar.advance(task)


def wait_for_version(url: str, version: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            model = httpx.get(f"{url}/health", timeout=5).json().get("model")
            if model and model["version"] == version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise DependencyError(f"inference did not serve version {version} within {timeout_s} s")


def wait_for_ingest(fleet: Fleet, n_recordings: int, console: Console,
                    timeout_s: float = 300.0) -> str:
    """Wait until brain_data has committed ``n_recordings`` and emptied the spool."""
    from brain_data.raw import committed_recordings, raw_repository

    deadline = time.monotonic() + timeout_s
    with _progress(console) as bar:
        task = bar.add_task("brain_data: spool -> raw DVC repository", total=n_recordings)
        while time.monotonic() < deadline:
            repo = raw_repository(fleet.raw_repo)
            done = len(committed_recordings(repo)) if repo.exists() and repo.head() else 0
            bar.update(task, completed=done)
            left = [p for p in (fleet.spool_dir / "incoming").glob("*")
                    if not p.name.startswith(".")]
            if done >= n_recordings and not left:
                return str(repo.head())
            time.sleep(1.0)
    raise DependencyError(f"brain_data did not ingest {n_recordings} recordings within "
                          f"{timeout_s:.0f} s; see {fleet.log_path}")


def run_dags(fleet: Fleet, console: Console, *, n_trials: int, n_splits: int,
             estimators: tuple[str, ...]) -> dict[str, dict]:
    """brain_etl then brain_train, for real, with ``dag.test()``."""
    from brain_demo.airflow_runs import airflow_env, migrate, test_dag

    env = airflow_env(fleet.workdir / "airflow", {
        **fleet.data_env(),
        "BRAIN_TRAIN_TRACKING_URI": fleet.url("mlflow"),
        "BRAIN_TRAIN_N_TRIALS": str(n_trials),
        "BRAIN_TRAIN_N_SPLITS": str(n_splits),
        "BRAIN_TRAIN_ESTIMATORS": json.dumps(list(estimators)),
        "BRAIN_TRAIN_MIN_SUBJECTS": "4",
        "BRAIN_TRAIN_DRIFT_REFERENCE_PATH": str(fleet.drift_reports / "reference.parquet"),
    })
    log_path = fleet.workdir / "airflow.log"
    runs = {}
    with console.status("Airflow: preparing its database"):
        migrate(env)
    for dag_id, what in (("brain_etl", "raw recordings -> features (transform service)"),
                         ("brain_train", "features -> search, evaluate, register, promote")):
        with console.status(f"Airflow: {dag_id}: {what}"):
            runs[dag_id] = test_dag(dag_id, env, log_path)
        console.print(f"Airflow {dag_id}: {runs[dag_id]['state']} "
                      f"({', '.join(f'{k} {v}' for k, v in runs[dag_id]['tasks'].items())})")
    return runs


def run_demo(workdir: Path, *, n_subjects: int = 20, preset: str = "easy",
             repetitions: int = 10, years: tuple[int, int] = (1980, 1999), seed: int = 0,
             n_trials: int = 1, n_splits: int = 5, estimators: tuple[str, ...] = ("lda",),
             console: Console | None = None) -> DemoResult:
    """Run the whole demo; every process it starts is stopped before it returns."""
    from mlflow import MlflowClient

    from brain_model.registry import CHAMPION_ALIAS, DEFAULT_MODEL_NAME
    from brain_sim.simulate import make_subject, simulate_session

    console = console or Console()
    started = time.monotonic()
    fleet = Fleet(workdir)
    console.rule("[bold]BRAIN demo")
    console.print(f"Working folder: {workdir}")
    with console.status("Starting the local fleet under honcho (MLflow, transform, "
                        "inference, receiver, drift, brain_data)"):
        fleet.start()
    try:
        console.print("Fleet up: " + ", ".join(f"{n} {fleet.url(n)}" for n in fleet.ports))
        with ReceiverClient(fleet.url("receiver"), fleet.collector, fleet.password) as client:
            upload_simulated_subjects(client, n_subjects, preset=preset,
                                      repetitions=repetitions, years=years, seed=seed,
                                      console=console)
            raw_revision = wait_for_ingest(fleet, n_subjects * len(PHASES), console)
            console.print(f"Raw DVC repository at {raw_revision[:12]} "
                          f"({fleet.raw_repo}, pushed to its local remote)")
            run_dags(fleet, console, n_trials=n_trials, n_splits=n_splits,
                     estimators=estimators)
            registry = MlflowClient(tracking_uri=fleet.url("mlflow"),
                                    registry_uri=fleet.url("mlflow"))
            champion = registry.get_model_version_by_alias(DEFAULT_MODEL_NAME, CHAMPION_ALIAS)
            metrics = registry.get_run(champion.run_id).data.metrics
            console.print(f"Champion: {DEFAULT_MODEL_NAME} version {champion.version} "
                          f"({champion.tags.get('brain.promotion', '')}); leave-subject-out "
                          + ", ".join(f"{k}={v:.2f}" for k, v in sorted(metrics.items())
                                      if k.startswith(("auc", "top1", "confident"))))
            with console.status("Waiting for inference to serve the champion (no restart)"):
                wait_for_version(fleet.url("inference"), str(champion.version))
            person = make_subject("NEW", preset=preset, seed=seed + 7919, years=years)
            recordings, label = simulate_session(person, preset=preset,
                                                 repetitions=repetitions, years=years,
                                                 seed=seed + 7919)
            predictions: dict[str, PhasePrediction] = {}
            for recording in recordings:
                answer = client.upload_phase(recording)
                if answer["prediction"] is None:
                    raise DependencyError(f"no prediction: {answer['prediction_error']}")
                predictions[recording.phase.value] = answer["prediction"]
        outcome = _report(console, label.birthdate, predictions, str(champion.version))
        drift = _drift_status(fleet)
        console.print(f"Drift monitor: {drift}")
        console.print(f"\nWhere to look next: MLflow UI {fleet.url('mlflow')} (runs, "
                      f"evaluation plots, the registry) · drift report "
                      f"{fleet.url('drift')}/reports/latest · logs {fleet.log_path}")
        console.print(f"Finished in {time.monotonic() - started:.0f} s.")
        return DemoResult(truth=label.birthdate, predicted=outcome.date,
                          indeterminate=outcome.indeterminate,
                          correct=outcome.date == label.birthdate,
                          model_version=str(champion.version), predictions=predictions,
                          metrics=dict(metrics))
    finally:
        with console.status("Stopping the fleet"):
            fleet.stop()


def _drift_status(fleet: Fleet) -> str:
    try:
        health = httpx.get(f"{fleet.url('drift')}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError) as err:
        return f"unavailable ({err})"
    return ", ".join(f"{k}={v}" for k, v in health.items() if not isinstance(v, dict | list))


def _report(console: Console, truth: date, predictions: dict[str, PhasePrediction],
            version: str) -> Any:
    from brain_core.birthdate import combine_birthdate

    table = Table(title=f"New subject, model version {version}")
    for column in ("phase", "predicted", "true", "p(predicted)", "confidence", "call"):
        table.add_column(column)
    true_items = {"day": truth.day, "month": truth.month, "year": truth.year}
    for phase in PHASES:
        pred = predictions[phase]
        table.add_row(phase, str(pred.top_item), str(true_items[phase]),
                      f"{pred.probability_of(pred.top_item):.2f}", f"{pred.confidence:.2f}",
                      "indeterminate" if pred.indeterminate else "confident")
    console.print(table)
    outcome = combine_birthdate(predictions["day"], predictions["month"], predictions["year"])
    verdict = ("[green]correct" if outcome.date == truth else "[red]wrong")
    console.print(f"Predicted birthdate: [bold]{outcome.date}[/bold] "
                  f"({'indeterminate' if outcome.indeterminate else 'confident'}); "
                  f"true: {truth} -> {verdict}")
    return outcome
