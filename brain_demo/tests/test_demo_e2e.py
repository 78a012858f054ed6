"""The main job end to end, smaller: the same flow as `make demo`."""

import subprocess

import pytest
from rich.console import Console

from brain_demo.run import run_demo

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _fleet_processes(workdir) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(workdir) in line]


def test_demo_flow_predicts_an_unseen_subject_and_cleans_up(tmp_path):
    console = Console(record=True, width=120)
    result = run_demo(tmp_path / "demo", n_subjects=10, repetitions=5, years=(1990, 1995),
                      seed=3, n_splits=3, console=console)
    text = console.export_text()
    assert result.correct, text
    assert {p: pred.top_item for p, pred in result.predictions.items()} == {
        "day": result.truth.day, "month": result.truth.month, "year": result.truth.year}
    assert result.model_version == "1"
    assert result.metrics["auc"] > 0.8
    for phrase in ("Airflow brain_etl: success", "Airflow brain_train: success",
                   "Predicted birthdate", "Drift monitor:", "MLflow UI"):
        assert phrase in text
    # The raw store holds every training upload (the new subject's may still be in the
    # spool when the fleet stops: brain_data takes it at its next start).
    raw = tmp_path / "demo" / "data" / "raw" / "bids"
    assert len(list(raw.glob("sub-S*/ses-*/eeg/*_eeg.vhdr"))) == 10 * 3
    # Promotion wrote the drift monitor's reference (the champion's training sessions).
    assert (tmp_path / "demo" / "drift" / "reference.parquet").exists()
    # Every process the demo started is gone.
    assert _fleet_processes(tmp_path / "demo") == []
