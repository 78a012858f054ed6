"""``brain drift reference`` and ``brain drift check`` through Typer's test runner."""

import json

import pytest
import typer
from typer.testing import CliRunner

from brain_core.codec import encode_recording
from brain_core.errors import InvalidInputError
from brain_drift import cli
from brain_drift.scenarios import simulate_sessions
from brain_drift.storage import load_table

pytestmark = pytest.mark.slow  # simulates ~40 sessions and runs Evidently


@pytest.fixture
def app() -> typer.Typer:
    bare = typer.Typer()
    cli.register(bare)
    return bare


def invoke(app, *args, env=None):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "160", **(env or {})})


def _write_sessions(folder, n, drift, seed):
    folder.mkdir()
    for recording in simulate_sessions(n, drift=drift, seed=seed, repetitions=2):
        (folder / f"{recording.subject}.brainrec").write_bytes(encode_recording(recording))
    return folder


def test_reference_then_check(app, tmp_path):
    reference = tmp_path / "ref.csv"
    result = invoke(app, "drift", "reference", "--simulate", 20, "--phase", "month",
                    "--repetitions", 2, "--seed", 1, "--out", reference)
    assert result.exit_code == 0, result.output
    assert "Reference of 20 session(s), 62 features" in result.output
    assert len(load_table(reference)) == 20

    fresh = _write_sessions(tmp_path / "fresh", 8, "none", 2)
    out = tmp_path / "reports"
    result = invoke(app, "drift", "check", "-r", reference, "-c", fresh, "-o", out)
    assert result.exit_code == 0, result.output
    assert "no drift: 0 of 62 features drifted (8 session(s) vs 20" in result.output
    assert len(list(out.glob("drift-*.html"))) == 1 and len(list(out.glob("*.json"))) == 1

    scaled = _write_sessions(tmp_path / "scaled", 8, "amplitude_div10", 3)
    result = invoke(app, "drift", "check", "-r", reference, "-c", scaled, "-o", out, "--json")
    assert result.exit_code == 1  # drift
    summary = json.loads(result.stdout)  # the progress bar goes to stderr
    assert summary["drift"] is True and summary["n_drifted"] > 30
    assert "alpha_log_uv2:C3" in summary["drifted_features"]

    # A features table is a valid --current too.
    table_path = tmp_path / "scaled.parquet"
    from brain_drift.features import session_table
    from brain_drift.storage import save_table

    save_table(session_table(simulate_sessions(8, drift="loose_electrode", seed=4,
                                               repetitions=2)), table_path)
    result = invoke(app, "drift", "check", "-r", reference, "-c", table_path, "-o", out)
    assert result.exit_code == 1 and "DRIFT" in result.output
    assert "line_log_uv2:C3" in result.output


def test_reference_needs_exactly_one_source(app, tmp_path):
    result = invoke(app, "drift", "reference", "--out", tmp_path / "r.csv")
    assert isinstance(result.exception, InvalidInputError)
    assert "--from-bids DIR or --simulate N" in str(result.exception)
    result = invoke(app, "drift", "reference", "--from-bids", tmp_path, "--out",
                    tmp_path / "r.csv")
    assert isinstance(result.exception, InvalidInputError)
    assert "not a BIDS dataset" in str(result.exception)
    result = invoke(app, "drift", "reference", "--simulate", 2, "--phase", "week")
    assert "Invalid value for --phase" in str(result.exception)


def test_a_tiny_reference_is_refused(app, tmp_path):
    result = invoke(app, "drift", "reference", "--simulate", 3, "--phase", "month",
                    "--repetitions", 1, "--out", tmp_path / "r.parquet")
    assert isinstance(result.exception, InvalidInputError)
    assert "at least 10 are needed" in str(result.exception)
    assert not (tmp_path / "r.parquet").exists()
