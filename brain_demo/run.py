"""``brain demo``: BRAIN's main job end to end on embedded defaults.

1. Start the local fleet (MLflow on sqlite, transform, inference, receiver) under honcho.
2. Simulate labelled subjects and upload every phase and label through the receiver,
   the same path the collector uses.
3. Train on what arrived, evaluate on held-out subjects, register in MLflow and promote
   to champion.
4. Wait until inference serves the champion (no restart), then record one new, unseen
   subject and print the predicted birthdate against the true one.
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

from brain_core.codec import decode_recording
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
    from brain_core.simulate import simulate_dataset

    with _progress(console) as bar:
        task = bar.add_task(f"simulate and upload {n_subjects} subjects", total=n_subjects)
        for recordings, label in simulate_dataset(n_subjects, preset=preset, seed=seed,
                                                  repetitions=repetitions, years=years):
            for recording in recordings:
                client.upload_phase(recording)
            client.upload_label(label.session_id, label.subject, label.birthdate)
            bar.advance(task)


def dataset_from_spool(spool_dir: Path, *, progress: bool = False) -> Any:
    """A labelled dataset from the receiver's spool (recordings plus label files)."""
    from brain_model.dataset import labelled_phases

    incoming = spool_dir / "incoming"
    birthdates = {}
    for path in sorted(incoming.glob("*_label.json")):
        label = json.loads(path.read_text())
        birthdates[label["subject"]] = date.fromisoformat(label["birthdate"])
    paths = sorted(incoming.glob("*.brainrec"))
    recordings = (decode_recording(p.read_bytes()) for p in paths)
    return labelled_phases(recordings, birthdates, progress=progress, total=len(paths),
                           source=str(incoming))


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


def run_demo(workdir: Path, *, n_subjects: int = 20, preset: str = "easy",
             repetitions: int = 10, years: tuple[int, int] = (1980, 1999), seed: int = 0,
             console: Console | None = None) -> DemoResult:
    """Run the whole demo; every process it starts is stopped before it returns."""
    from brain_core.simulate import make_subject, simulate_session
    from brain_model.registry import DEFAULT_MODEL_NAME
    from brain_model.training import train_and_register

    console = console or Console()
    started = time.monotonic()
    fleet = Fleet(workdir)
    console.rule("[bold]BRAIN demo")
    console.print(f"Working folder: {workdir}")
    with console.status("Starting the local fleet (MLflow, transform, inference, receiver)"):
        fleet.start()
    try:
        console.print("Fleet up: " + ", ".join(f"{n} {fleet.url(n)}" for n in fleet.ports))
        with ReceiverClient(fleet.url("receiver"), fleet.collector, fleet.password) as client:
            upload_simulated_subjects(client, n_subjects, preset=preset,
                                      repetitions=repetitions, years=years, seed=seed,
                                      console=console)
            console.print("Training on the uploaded sessions ...")
            dataset = dataset_from_spool(fleet.spool_dir)
            subjects = list(dataset.subjects)
            n_eval = max(2, len(subjects) // 4)
            train = dataset.subset(subjects[:-n_eval])
            evaluation = dataset.subset(subjects[-n_eval:])
            import mlflow

            mlflow.set_tracking_uri(fleet.url("mlflow"))
            mlflow.set_registry_uri(fleet.url("mlflow"))
            result = train_and_register(train, evaluation, seed=seed,
                                        params={"preset": preset, "source": "demo spool"})
            console.print(f"Registered {DEFAULT_MODEL_NAME} version {result.version}: "
                          f"{result.promotion.reason}; held-out metrics "
                          + ", ".join(f"{k}={v:.2f}" for k, v in result.metrics.items()))
            with console.status("Waiting for inference to serve the new champion"):
                wait_for_version(fleet.url("inference"), result.version)
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
        outcome = _report(console, label.birthdate, predictions, result.version)
        console.print(f"\nMLflow UI: {fleet.url('mlflow')}  ·  logs: {fleet.log_path}")
        console.print(f"Finished in {time.monotonic() - started:.0f} s.")
        return DemoResult(truth=label.birthdate, predicted=outcome.birthdate,
                          indeterminate=outcome.indeterminate,
                          correct=outcome.birthdate == label.birthdate,
                          model_version=result.version, predictions=predictions,
                          metrics=result.metrics)
    finally:
        with console.status("Stopping the fleet"):
            fleet.stop()


def _report(console: Console, truth: date, predictions: dict[str, PhasePrediction],
            version: str) -> Any:
    from brain_model.scoring import combine_birthdate

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
    verdict = ("[green]correct" if outcome.birthdate == truth else "[red]wrong")
    console.print(f"Predicted birthdate: [bold]{outcome.birthdate}[/bold] "
                  f"({'indeterminate' if outcome.indeterminate else 'confident'}); "
                  f"true: {truth} -> {verdict}")
    return outcome
