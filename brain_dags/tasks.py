"""What the DAGs' tasks do; the DAG files only wire these together.

Every function reads its settings from the environment (the services' own prefixes:
``BRAIN_PIPELINE_``, ``BRAIN_DATA_``, ``BRAIN_TRAIN_``), is idempotent, and returns a small
JSON-ready summary (an XCom).
"""

from __future__ import annotations

import logging
from typing import Any

from brain_core.errors import BrainError

log = logging.getLogger(__name__)


def pending_work() -> dict[str, Any]:
    """Raw recordings without features, and featured recordings whose label has come."""
    from uuid import UUID

    from brain_data.features import read_watermark
    from brain_data.raw import committed_labels, raw_repository
    from brain_transformer_pipeline.config import Settings
    from brain_transformer_pipeline.pipeline import pending_recordings

    settings = Settings()
    pending = pending_recordings(settings)
    raw = raw_repository(settings.raw_repo if not settings.raw_git_url
                         else settings.raw_clone_dir)
    labels = committed_labels(raw) if raw.exists() and raw.head() else {}
    watermark = read_watermark(settings.feature_repo) if settings.feature_repo.exists() \
        else None
    unlabelled = [] if watermark is None else [
        key for key, entry in watermark.recordings.items()
        if not entry.labelled and UUID(key.split("/")[0]) in labels]
    return {"pending": len(pending), "newly_labelled": len(unlabelled)}


def has_new_data() -> bool:
    """The short-circuit of brain_etl: anything to transform or relabel?"""
    work = pending_work()
    log.info("%d raw recording(s) without features, %d newly labelled", work["pending"],
             work["newly_labelled"])
    return work["pending"] + work["newly_labelled"] > 0


def transform_new() -> dict[str, Any]:
    """Run the transformer pipeline over what is new (a no-op when nothing is)."""
    from brain_transformer_pipeline.config import Settings
    from brain_transformer_pipeline.pipeline import run_pipeline

    report = run_pipeline(Settings(), progress=False)
    summary = {"raw_revision": report.raw_revision, "transformed": len(report.transformed),
               "relabelled": len(report.relabelled), "failed": len(report.failed),
               "commits": len(report.commits), "epochs": report.epochs}
    log.info("pipeline: %s", summary)
    return summary


def train() -> dict[str, Any]:
    """Train on the feature store, register, promote if better (brain_model.job)."""
    from brain_data.features import feature_repository
    from brain_model.job import TrainSettings, dataset_from_features, run_training
    from brain_transformer_pipeline.config import Settings as PipelineSettings
    from brain_transformer_pipeline.features import load_features

    store = PipelineSettings().feature_repo
    frame = load_features(store, labelled_only=True)
    if frame.empty:
        return {"status": "no_labelled_features"}
    revision = feature_repository(store).head()
    dataset = dataset_from_features(frame, source=f"feature store {store}@{revision}")
    settings = TrainSettings()
    outcome = run_training(dataset, settings, dataset_version=revision)
    log.info("training: %s (%s)", outcome.status, outcome.message)
    if outcome.status == "promoted" and settings.drift_reference_path is not None:
        # The model is registered and promoted by now: a reference that cannot be built
        # (too few sessions) is reported, never a reason to fail and retrain.
        try:
            write_drift_reference(settings.drift_reference_path, set(dataset.subjects))
        except BrainError as err:
            log.warning("no drift reference written: %s", err)
    return {"status": outcome.status, "message": outcome.message,
            "version": outcome.version, "auc": outcome.metrics.get("auc"),
            "dataset_version": revision}


def write_drift_reference(path: Any, subjects: set[str]) -> None:
    """The drift monitor's reference: signal features of the champion's training data."""
    from brain_core.bids import iter_recordings
    from brain_drift.reference import reference_from_recordings, save_reference
    from brain_transformer_pipeline.config import Settings as PipelineSettings

    raw = PipelineSettings()
    bids_root = (raw.raw_git_url and raw.raw_clone_dir or raw.raw_repo) / "bids"
    table = reference_from_recordings(r for r in iter_recordings(bids_root)
                                      if r.subject in subjects)
    save_reference(table, path)
    log.info("drift reference of %d session(s) written to %s", len(table), path)
