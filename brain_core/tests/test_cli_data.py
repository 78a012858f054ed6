"""``brain info``, ``brain import`` and ``brain export-bids`` through Typer's test runner."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from brain_core import bids
from brain_core.codec import encode_recording
from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import BrainError, NotFoundError
from brain_core.models import Device, Recording
from brain_core.paradigm import make_paradigm, make_schedule

BIRTHDATE = "1993-03-12"


@pytest.fixture
def app() -> typer.Typer:
    """The real ``brain`` app, with every installed package's commands."""
    from brain_core.cli import build_app

    return build_app()


def invoke(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "160"})


def make_recording(phase: str, subject: str, session: int) -> Recording:
    paradigm = make_paradigm(phase, items=[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], repetitions=3,
                             seed=session)
    schedule = make_schedule(paradigm, lead_s=1.0)
    n_times = int(256 * (schedule.onsets[-1] + 1.5))
    data = np.random.default_rng(session).standard_normal((8, n_times)) * 1e-5
    return Recording(session_id=UUID(int=session), subject=subject, phase=phase, sfreq=256.0,
                     ch_names=CROWN_CH_NAMES, data=data,
                     meas_date=datetime(2024, 5, 6, tzinfo=UTC), events=schedule.events(phase),
                     device=Device(name="crown", board_id=23), paradigm=paradigm,
                     software_version="0.1.0")


@pytest.fixture
def dataset(tmp_path) -> Path:
    root = tmp_path / "bids"
    recordings = [make_recording(p, s, n) for s, n in (("s1", 1), ("s2", 2))
                  for p in ("day", "month")]
    bids.write_dataset(root, recordings)
    bids.write_labels(root, {"s1": date.fromisoformat(BIRTHDATE)})
    return root


def test_help_explains_each_command(app):
    for command in ("info", "import", "export-bids"):
        result = invoke(app, command, "--help")
        assert result.exit_code == 0, result.output
        assert "Example" in result.output
    assert "BIDS dataset" in invoke(app, "import", "--help").output


def test_info_on_a_dataset_says_who_is_labelled_never_when(app, dataset):
    result = invoke(app, "info", dataset)
    assert result.exit_code == 0, result.output
    assert "2 subject(s), 2 session(s), 4 recording(s)" in result.output
    assert "Labelled subjects: 1 of 2 (s1)" in result.output
    assert BIRTHDATE not in result.output and "1993" not in result.output
    rows = [line for line in result.output.splitlines() if " s2 " in line]
    assert len(rows) == 2 and all("no" in row for row in rows)
    assert any("month" in row and "30" in row for row in rows)  # events per phase


def test_info_on_a_file_lists_channels(app, tmp_path):
    path = tmp_path / "x.brainrec"
    path.write_bytes(encode_recording(make_recording("day", "s3", 3)))
    result = invoke(app, "info", path)
    assert result.exit_code == 0, result.output
    assert "Channels (day): CP3, C3, F5, PO3, PO4, F6, C4, CP4" in result.output
    assert "Labelled: no" in result.output
    assert "256" in result.output


def test_info_on_one_file_of_a_dataset_reads_it_as_bids(app, dataset):
    vhdr = bids.find_recordings(dataset, subjects=["s1"], phases=["month"])[0]
    result = invoke(app, "info", vhdr)
    assert result.exit_code == 0, result.output
    assert "(bids-file): 1 recording(s)" in result.output
    assert "Labelled: yes" in result.output and BIRTHDATE not in result.output
    assert " month " in result.output


def test_import_then_export_with_and_without_labels(app, dataset, tmp_path):
    root = tmp_path / "imported"
    result = invoke(app, "import", dataset, "--bids-root", root)
    assert result.exit_code == 0, result.output
    assert "4 recording(s) of 2 subject(s)" in result.output and "4 written" in result.output
    assert bids.read_labels(root) == {"s1": date.fromisoformat(BIRTHDATE)}
    again = invoke(app, "import", dataset, "--bids-root", root)
    assert "0 written, 4 already present" in again.output

    shared = tmp_path / "shared"
    result = invoke(app, "export-bids", root, shared, "--subject", "s1")
    assert result.exit_code == 0, result.output
    assert "Exported 2 recording(s) of 1 subject(s)" in result.output
    assert [p.parts[-4] for p in bids.find_recordings(shared)] == ["sub-s1", "sub-s1"]
    assert "birthdate" not in (shared / "participants.tsv").read_text(encoding="utf-8")
    assert json.loads((shared / "dataset_description.json").read_text())["BIDSVersion"]

    labelled = tmp_path / "labelled"
    result = invoke(app, "export-bids", root, labelled, "--labels")
    assert result.exit_code == 0, result.output
    assert bids.read_labels(labelled) == {"s1": date.fromisoformat(BIRTHDATE)}
    assert list(bids.iter_recordings(labelled)) == list(bids.iter_recordings(dataset))


def test_import_names_the_subject_of_a_file(app, tmp_path):
    path = tmp_path / "x.brainrec"
    path.write_bytes(encode_recording(make_recording("month", "s3", 3)))
    root = tmp_path / "bids"
    result = invoke(app, "import", path, "--bids-root", root, "--subject", "p9")
    assert result.exit_code == 0, result.output
    assert [p.parts[-4] for p in bids.find_recordings(root)] == ["sub-p9"]


def test_errors_are_brain_errors(app, tmp_path):
    result = invoke(app, "import", tmp_path / "missing.edf", "--bids-root", tmp_path / "b")
    assert result.exit_code != 0
    assert isinstance(result.exception, NotFoundError)

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("mine", encoding="utf-8")
    path = tmp_path / "x.brainrec"
    path.write_bytes(encode_recording(make_recording("day", "s3", 3)))
    result = invoke(app, "export-bids", path, occupied)
    assert isinstance(result.exception, BrainError)
    assert "not an empty folder or a BIDS dataset" in str(result.exception)


def test_info_on_a_legacy_session_flags_it_untimed(app, tmp_path):
    from brain_core.tests.test_importers import write_legacy_session

    folder = write_legacy_session(tmp_path / "legacy")
    result = invoke(app, "info", folder)
    assert result.exit_code == 0, result.output
    assert "(legacy): 3 recording(s)" in result.output
    assert "Labelled: yes" in result.output and "1993" not in result.output
    rows = [line for line in result.output.splitlines() if "subject07" in line]
    assert len(rows) == 3 and all(" yes " in row for row in rows)  # untimed
