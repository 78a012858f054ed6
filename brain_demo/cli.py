"""``brain demo``."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        subjects: int = typer.Option(20, min=4, help="Simulated labelled subjects to upload."),
        preset: str = typer.Option("easy", help="Simulation preset: easy, realistic, hard."),
        repetitions: int = typer.Option(10, min=1, help="Showings of each item."),
        start_year: int = typer.Option(1980, help="First year shown."),
        end_year: int = typer.Option(1999, help="Last year shown."),
        seed: int = typer.Option(0, help="Seed of the simulation."),
        workdir: Path = typer.Option(
            None, help="Where the fleet keeps its data (default: a new folder under "
                       "demo-output/)."),
    ) -> None:
        """Run BRAIN end to end on this machine and print a predicted birthdate.

        Starts MLflow, the transform, inference and receiver services as local processes,
        uploads simulated subjects through the receiver, trains and promotes a model, then
        predicts a new subject's birthdate. Every process is stopped at the end (also on
        Ctrl-C).

        Example: brain demo --subjects 20 --preset easy
        """
        from brain_demo.run import run_demo

        if workdir is None:
            Path("demo-output").mkdir(exist_ok=True)
            workdir = Path(tempfile.mkdtemp(
                prefix=f"{datetime.now(UTC):%Y%m%d-%H%M%S}-", dir="demo-output")).resolve()
        run_demo(workdir, n_subjects=subjects, preset=preset, repetitions=repetitions,
                 years=(start_year, end_year), seed=seed)
