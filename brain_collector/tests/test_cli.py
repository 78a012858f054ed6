"""``brain collector``."""

from __future__ import annotations

import sys

from typer.testing import CliRunner

from brain_collector.cli import APP_PATH, streamlit_command
from brain_core.cli import build_app


def test_the_command_runs_streamlit_on_the_app():
    command = streamlit_command(8600, "0.0.0.0", headless=True)
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(APP_PATH)]
    assert APP_PATH.name == "app.py" and APP_PATH.exists()
    assert command[command.index("--server.port") + 1] == "8600"
    assert command[command.index("--server.headless") + 1] == "true"


def test_brain_collector_is_registered(monkeypatch):
    calls = []
    monkeypatch.setattr("subprocess.call", lambda argv: calls.append(argv) or 0)
    result = CliRunner().invoke(build_app(), ["collector", "--port", "8601", "--headless"])
    assert result.exit_code == 0, result.output
    assert calls and calls[0][calls[0].index("--server.port") + 1] == "8601"
    help_text = CliRunner().invoke(build_app(), ["collector", "--help"]).output
    assert "BRAIN_COLLECTOR_BOARD=emulator" in help_text
