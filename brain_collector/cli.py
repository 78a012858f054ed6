"""``brain collector``: run the collector's Streamlit page."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer

APP_PATH = Path(__file__).with_name("app.py")


def streamlit_command(port: int = 8501, address: str = "localhost",
                      headless: bool = False) -> list[str]:
    """The ``streamlit run`` command line for the collector's page."""
    return [sys.executable, "-m", "streamlit", "run", str(APP_PATH),
            "--server.port", str(port), "--server.address", address,
            "--server.headless", str(headless).lower(),
            # No "Deploy" menu on the subject's screen; no usage statistics sent anywhere.
            "--client.toolbarMode", "minimal", "--browser.gatherUsageStats", "false"]


def register(app: typer.Typer) -> None:
    @app.command("collector")
    def collector(
        port: int = typer.Option(8501, min=1, max=65535, help="Port of the page."),
        address: str = typer.Option(
            "localhost", help="Interface to serve on; keep localhost unless the browser "
            "showing the stimuli runs on another machine (its clock must then be synced)."),
        headless: bool = typer.Option(False, help="Do not open a browser."),
    ) -> None:
        """Open the collector: set-up, signal check, stimuli, uploads, predictions.

        Settings come from the environment or a .env file in the current directory
        (API_URL, API_USERNAME, API_PASSWORD, TIME_INTERVAL, START_YEAR, END_YEAR,
        BRAIN_COLLECTOR_*; see brain_collector/README.md). Example, without a headset:
        BRAIN_COLLECTOR_BOARD=emulator brain collector
        """
        raise typer.Exit(subprocess.call(streamlit_command(port, address, headless)))
