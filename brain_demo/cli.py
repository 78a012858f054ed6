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

    @app.command("demo-collector")
    def demo_collector(
        port: int = typer.Option(8501, help="Port of the collector page."),
        board: str = typer.Option(
            "emulator", help="emulator (a simulated subject through BrainFlow's Crown "
                             "driver), synthetic, or crown (a real headset)."),
        workdir: Path = typer.Option(None, help="Where the fleet keeps its data."),
    ) -> None:
        """Try the experiment by hand: the collector page against a local fleet.

        Starts the fleet, trains a quick champion on simulated subjects, then serves the
        Streamlit collector on http://localhost:8501 with a simulated subject. Ctrl-C
        stops everything.

        Example: brain demo-collector
        """
        from brain_demo.collector import run_collector

        if workdir is None:
            Path("demo-output").mkdir(exist_ok=True)
            workdir = Path(tempfile.mkdtemp(
                prefix=f"{datetime.now(UTC):%Y%m%d-%H%M%S}-collector-",
                dir="demo-output")).resolve()
        raise typer.Exit(run_collector(workdir, port=port, board=board))
