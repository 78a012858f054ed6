"""Labels, the feature store's writer and watermark, and the `brain data` commands."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
from typer.testing import CliRunner

from brain_core.cli import build_app
from brain_core.errors import InvalidInputError
from brain_core.models import Label
from brain_data.features import (
    Watermark,
    WatermarkEntry,
    commit_features,
    feature_repository,
    feature_status,
    read_watermark,
)
from brain_data.labels import label_path, parse_label, read_label, write_label
from brain_data.raw import ingest_once
from brain_data.tests.helpers import commit_count, remote_has, spool_recording, tiny_session


def test_labels_round_trip_and_errors_never_echo_the_birthdate(tmp_path):
    label = Label(session_id=uuid.UUID(int=5), subject="S01", birthdate=date(1993, 4, 5))
    path = write_label(tmp_path, label)
    assert path == label_path(tmp_path, label.session_id)
    assert read_label(path) == label
    assert "1993" not in repr(label)
    bad = json.dumps({"session_id": str(uuid.UUID(int=5)), "subject": "S01",
                      "birthdate": "2999-12-31"}).encode()
    with pytest.raises(InvalidInputError, match="birthdate: not a plausible date") as err:
        parse_label(bad, source="x.json")
    assert "2999" not in str(err.value)
    with pytest.raises(InvalidInputError, match="not UTF-8 JSON"):
        parse_label(b"\xff{", source="x.json")


def test_commit_features_commits_changes_only_and_pushes(settings):
    repo = feature_repository(settings.feature_repo)
    mark = Watermark("1", {"l_freq": 0.5}, {"a/day": WatermarkEntry(
        subject="S01", content="c1", labelled=False, path="features/sub-S01/a.parquet",
        n_epochs=3)})
    files = {"features/sub-S01/a.parquet": b"PAR1 fake", "watermark.json": mark.to_bytes()}
    before = commit_count(settings.feature_repo)

    first = commit_features(settings.feature_repo, files, message="features")
    assert first.committed and first.pushed and first.written == 2
    assert commit_count(settings.feature_repo) == before + 1
    assert read_watermark(settings.feature_repo) == mark
    md5 = repo.manifest("features")["sub-S01/a.parquet"]
    assert remote_has(settings.feature_remote, md5)

    again = commit_features(settings.feature_repo, files, message="features")
    assert not again.committed and again.written == 0
    assert again.revision == first.revision
    assert commit_count(settings.feature_repo) == before + 1

    gone = commit_features(settings.feature_repo, {"features/sub-S01/a.parquet": None},
                           message="drop")
    assert gone.committed and repo.manifest("features") == {}


@pytest.mark.parametrize("path", ["../escape", "/abs/features/x", "bids/x", "features",
                                  "features/.tmp-x", "README.md"])
def test_commit_features_refuses_paths_outside_the_store(settings, path):
    with pytest.raises(InvalidInputError, match="feature-store path"):
        commit_features(settings.feature_repo, {path: b"x"}, message="no")


def test_watermark_round_trips_and_is_canonical():
    entries = {f"{uuid.UUID(int=i)}/day": WatermarkEntry(
        subject="S01", content=f"c{i}", labelled=bool(i % 2), path=f"features/{i}.parquet",
        n_epochs=i) for i in range(3)}
    mark = Watermark("1", {"h_freq": 20.0}, entries)
    reordered = Watermark("1", {"h_freq": 20.0}, dict(reversed(list(entries.items()))))
    assert mark.to_bytes() == reordered.to_bytes()
    assert Watermark.from_bytes(mark.to_bytes()) == mark
    with pytest.raises(InvalidInputError, match="not a valid watermark"):
        Watermark.from_bytes(b"[1, 2]")


def test_feature_status_counts_raw_recordings_not_yet_transformed(settings):
    recordings, label = tiny_session(8)
    for recording in recordings:
        spool_recording(settings, recording)
    ingest_once(settings)
    status = feature_status(settings.feature_repo, settings.raw_repo)
    assert status.pending == 3 and status.recordings == 0


def test_brain_data_commands(settings, tmp_path):
    runner = CliRunner()
    app = build_app()
    env = {"BRAIN_DATA_SPOOL_DIR": str(settings.spool_dir),
           "BRAIN_DATA_RAW_REPO": str(settings.raw_repo),
           "BRAIN_DATA_FEATURE_REPO": str(settings.feature_repo)}
    result = runner.invoke(app, ["data", "--help"])
    assert result.exit_code == 0 and "brain data init" in result.output

    recordings, label = tiny_session(9)
    spool_recording(settings, recordings[0])
    result = runner.invoke(app, ["data", "ingest", "--once", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["recordings"] == 1

    result = runner.invoke(app, ["data", "status", "--json"], env=env)
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert status["raw"]["recordings"]["day"] == 1
    assert status["features"]["pending"] == 1

    result = runner.invoke(app, ["data", "status"], env=env)
    assert "not yet transformed: 1 recording(s)" in result.output
    assert "day 1, month 0, year 0" in result.output

    fresh = tmp_path / "fresh"
    result = runner.invoke(app, ["data", "init", "--raw-repo", str(fresh / "raw"),
                                 "--feature-repo", str(fresh / "features"),
                                 "--raw-remote", str(fresh / "remote-raw"),
                                 "--feature-remote", str(fresh / "remote-features")])
    assert result.exit_code == 0, result.output
    assert feature_repository(fresh / "features").exists()
    assert f"DVC remote {fresh / 'remote-raw'}" in result.output
    # Again without remotes: the repositories keep theirs (no reset to the defaults).
    result = runner.invoke(app, ["data", "init", "--raw-repo", str(fresh / "raw"),
                                 "--feature-repo", str(fresh / "features")])
    assert result.exit_code == 0, result.output
    assert feature_repository(fresh / "features").remote_url() == str(
        fresh / "remote-features")
    assert f"DVC remote {fresh / 'remote-raw'}" in result.output
