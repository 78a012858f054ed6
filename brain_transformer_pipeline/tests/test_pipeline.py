"""The pipeline against a real transform service and real DVC repositories."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest

from brain_data.features import feature_repository, feature_status, read_watermark
from brain_data.raw import committed_recordings, ingest_once
from brain_data.tests.helpers import (
    commit_count,
    remote_has,
    spool_label,
    spool_recording,
    tiny_recording,
    tiny_session,
)
from brain_transform_service.transform import TRANSFORM_VERSION
from brain_transformer_pipeline.features import epochsets_from_frame, load_features
from brain_transformer_pipeline.pipeline import feature_path, pending_recordings, run_pipeline

pytestmark = [pytest.mark.integration]


def _ingest(data_settings, sessions, *, with_labels=True):
    for recordings, label in sessions:
        for recording in recordings:
            spool_recording(data_settings, recording)
        if with_labels and label is not None:
            spool_label(data_settings, label)
    ingest_once(data_settings)


def test_features_watermark_and_a_second_run_that_changes_nothing(data_settings,
                                                                  pipeline_settings):
    labelled = tiny_session(1, subject="S01", birthdate=date(1994, 6, 17))
    unlabelled = tiny_session(2, subject="S02", birthdate=date(1990, 2, 28))
    _ingest(data_settings, [labelled])
    _ingest(data_settings, [(unlabelled[0], None)])

    report = run_pipeline(pipeline_settings)

    assert len(report.transformed) == 6 and report.failed == [] and len(report.commits) == 1
    frame = load_features(data_settings.feature_repo)
    assert len(frame) == report.epochs == sum(
        len(r.events) for r in labelled[0] + unlabelled[0])
    by_subject = frame.groupby("subject")["target"]
    assert by_subject.apply(lambda t: t.isna().all()).to_dict() == {"S01": False, "S02": True}
    own = frame[frame["subject"] == "S01"]
    expected = np.select([own["phase"] == "day", own["phase"] == "month"],
                         [own["item"] == 17, own["item"] == 6], own["item"] == 1994)
    np.testing.assert_array_equal(own["target"].to_numpy(int), expected.astype(int))
    # The watermark, committed in the store, names every raw recording and its content.
    mark = read_watermark(data_settings.feature_repo)
    raw = committed_recordings(data_settings.raw_repo)
    assert mark.transform_version == TRANSFORM_VERSION
    assert {k: e.content for k, e in mark.recordings.items()} == {r.key: r.content
                                                                  for r in raw}
    assert {k: e.labelled for k, e in mark.recordings.items()} == {
        r.key: r.subject == "S01" for r in raw}
    assert all(mark.recordings[r.key].path == feature_path(r) for r in raw)
    assert "1994" not in (data_settings.feature_repo / "watermark.json").read_text()
    # Pushed: every feature file is on the store's remote.
    store = feature_repository(data_settings.feature_repo)
    assert all(remote_has(data_settings.feature_remote, md5)
               for md5 in store.manifest("features").values())

    commits = commit_count(data_settings.feature_repo)
    again = run_pipeline(pipeline_settings)
    assert again.transformed == [] and again.relabelled == [] and again.commits == []
    assert commit_count(data_settings.feature_repo) == commits
    assert pending_recordings(pipeline_settings) == []


def test_a_late_label_updates_targets_without_transforming_again(data_settings,
                                                                 pipeline_settings):
    recordings, label = tiny_session(3, subject="S03", birthdate=date(1998, 11, 3))
    _ingest(data_settings, [(recordings, None)])
    run_pipeline(pipeline_settings)
    assert load_features(data_settings.feature_repo)["target"].isna().all()
    before = load_features(data_settings.feature_repo)

    spool_label(data_settings, label)
    ingest_once(data_settings)
    assert feature_status(data_settings.feature_repo, data_settings.raw_repo).relabel_pending \
        == 3
    report = run_pipeline(pipeline_settings)

    assert report.transformed == [] and len(report.relabelled) == 3
    after = load_features(data_settings.feature_repo)
    assert after["target"].notna().all()
    assert set(after.loc[after["target"] == 1, "item"]) == {3, 11, 1998}
    features = [c for c in after.columns if "_t" in c]
    np.testing.assert_array_equal(after[features].to_numpy(), before[features].to_numpy())
    assert all(e.labelled for e in read_watermark(data_settings.feature_repo)
               .recordings.values())
    labelled_only = load_features(data_settings.feature_repo, labelled_only=True)
    assert len(labelled_only) == len(after)


def test_a_refused_recording_is_recorded_and_not_retried(data_settings, pipeline_settings):
    good = tiny_recording(7, subject="S04")
    # Every stimulus window starts before the data: the transform has no epoch to cut.
    early = tiny_recording(8, subject="S04")
    early = early.model_copy(update={
        "data": early.data[:, :20],
        "events": tuple(e.model_copy(update={"onset": 0.01 * (i + 1)})
                        for i, e in enumerate(early.events[:1]))})
    spool_recording(data_settings, good)
    spool_recording(data_settings, early)
    ingest_once(data_settings)

    report = run_pipeline(pipeline_settings)
    assert report.transformed == [f"{good.session_id}/day"]
    assert [key for key, _ in report.failed] == [f"{early.session_id}/day"]
    entry = read_watermark(data_settings.feature_repo).recordings[f"{early.session_id}/day"]
    assert entry.path is None and entry.error
    again = run_pipeline(pipeline_settings)
    assert again.failed == [] and again.commits == []


def test_a_new_transform_configuration_recomputes_everything(data_settings,
                                                             pipeline_settings):
    _ingest(data_settings, [tiny_session(4, subject="S05")])
    run_pipeline(pipeline_settings)
    changed = pipeline_settings.model_copy(update={
        "transform_config": json.dumps({"tmax": 0.6})})
    report = run_pipeline(changed)
    assert len(report.transformed) == 3
    mark = read_watermark(data_settings.feature_repo)
    assert mark.transform_config["tmax"] == 0.6
    [sample] = epochsets_from_frame(load_features(data_settings.feature_repo).query(
        "phase == 'day'"))
    assert sample.times[-1] <= 0.6


def test_reads_a_clone_of_the_raw_repository(data_settings, pipeline_settings, tmp_path):
    recordings, label = tiny_session(5, subject="S06")
    _ingest(data_settings, [(recordings, label)])
    cloned = pipeline_settings.model_copy(update={
        "raw_git_url": str(data_settings.raw_repo), "raw_clone_dir": tmp_path / "clone" / "raw"})
    report = run_pipeline(cloned)
    assert len(report.transformed) == 3
    assert (tmp_path / "clone" / "raw" / "bids").is_dir()
    # A later ingest reaches the clone on the next run.
    extra = tiny_recording(99, subject="S06", phase="day")
    spool_recording(data_settings, extra)
    ingest_once(data_settings)
    assert run_pipeline(cloned).transformed == [f"{extra.session_id}/day"]
    frame = load_features(data_settings.feature_repo)
    assert frame["target"].notna().sum() == len(frame) - len(extra.events)


def test_batch_of_recordings_goes_to_the_service_in_one_request(data_settings,
                                                                pipeline_settings):
    from brain_transform_service.client import TransformClient

    calls = []

    class Counting(TransformClient):
        def transform_batch(self, payloads, config=None):
            calls.append(len(payloads))
            return super().transform_batch(payloads, config)

    _ingest(data_settings, [tiny_session(6, subject="S07"), tiny_session(7, subject="S08")])
    client = Counting(pipeline_settings.transform_url)
    try:
        run_pipeline(pipeline_settings, client=client)
    finally:
        client.close()
    assert calls == [4, 2]  # batch_size 4


def test_brain_pipeline_run_command(data_settings, pipeline_settings):
    from typer.testing import CliRunner

    from brain_core.cli import build_app

    _ingest(data_settings, [tiny_session(8, subject="S09")])
    env = {"BRAIN_PIPELINE_RAW_REPO": str(data_settings.raw_repo),
           "BRAIN_PIPELINE_FEATURE_REPO": str(data_settings.feature_repo),
           "BRAIN_PIPELINE_TRANSFORM_URL": pipeline_settings.transform_url}
    runner = CliRunner()
    result = runner.invoke(build_app(), ["pipeline", "run", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["transformed"]) == 3
    result = runner.invoke(build_app(), ["pipeline", "run", "--no-progress"], env=env)
    assert result.exit_code == 0, result.output
    assert "Nothing new: the feature store is unchanged." in result.output
