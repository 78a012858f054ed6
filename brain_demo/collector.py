"""``brain demo-collector`` (``make collector``): try the experiment by hand.

Starts the local fleet, trains a quick champion on simulated subjects (so predictions
come back at once), then opens the Streamlit collector against that fleet with a
simulated subject streaming through BrainFlow's real Crown driver (the emulator). Ctrl-C
stops the page and every process of the fleet.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from rich.console import Console

from brain_demo.fleet import Fleet


def run_collector(workdir: Path, *, port: int = 8501, board: str = "emulator",
                  years: tuple[int, int] = (1980, 1999), console: Console | None = None) -> int:
    from brain_collector.cli import streamlit_command
    from brain_model.training import train_local

    console = console or Console()
    fleet = Fleet(workdir)
    with console.status("Starting the local fleet"):
        fleet.start()
    try:
        with console.status("Training a quick champion on simulated subjects"):
            result = train_local(fleet.url("mlflow"), n_subjects=8, n_eval_subjects=3,
                                 years=years, progress=False)
        console.print(f"Champion: version {result.version}. Opening the collector on "
                      f"http://localhost:{port} (Ctrl-C stops everything).")
        env = {**os.environ,
               "API_URL": fleet.url("receiver"),
               "API_USERNAME": fleet.collector,
               "API_PASSWORD": fleet.password,
               "START_YEAR": str(years[0]), "END_YEAR": str(years[1]),
               "BRAIN_COLLECTOR_BOARD": board,
               "BRAIN_COLLECTOR_OUTBOX_DIR": str(workdir / "collector-outbox")}
        try:
            return subprocess.call(streamlit_command(port, "localhost", headless=True),
                                   env=env)
        except KeyboardInterrupt:
            return 130
    finally:
        with console.status("Stopping the fleet"):
            fleet.stop()
