"""The transformer pipeline: new raw recordings -> the transform service -> feature store.

One run (:func:`run_pipeline`):

1. gets the raw repository: reads it in place when it is local (committed state only,
   from git and DVC's cache: recordings an ingest is still writing are left for the next
   run), or clones / pulls ``raw_git_url`` and ``dvc pull``\\ s it;
2. compares the committed recordings (session, phase, content hash) and labels with the
   feature store's watermark (``watermark.json``, committed in the store itself);
3. sends the recordings that are new or changed to the transform service
   (``POST /v1/transform/batch``), ``batch_size`` at a time, and turns each epoch set
   into a Parquet file (one row per epoch; see :mod:`brain_transformer_pipeline.features`);
4. rewrites the ``target`` column of files whose session's label arrived since;
5. hands files and watermark to :func:`brain_data.features.commit_features`, which
   commits and pushes them, every ``commit_every`` recordings.

A run with nothing new writes nothing and makes no commit. A changed transform
configuration or transform version recomputes everything. A recording the transform
refuses (422) is recorded in the watermark with the reason and retried only when its
content or the transform changes. Runs take turns (a lock in the feature store), and
run alongside ingest without either waiting for the other: ingest writes the raw
repository, the pipeline only reads it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from brain_core import bids
from brain_core.codec import encode_recording
from brain_core.errors import DependencyError, InvalidInputError, NotFoundError
from brain_data.features import (
    FEATURES_DIR,
    PIPELINE_LOCK,
    WATERMARK_FILE,
    Watermark,
    WatermarkEntry,
    commit_features,
    feature_repository,
    read_watermark,
)
from brain_data.labels import read_label
from brain_data.raw import RawRecording, committed_labels, committed_recordings, raw_repository
from brain_data.repository import VersionedRepo, file_lock
from brain_transform_service.client import TransformClient
from brain_transform_service.transform import TRANSFORM_VERSION, EpochSet, TransformConfig
from brain_transformer_pipeline.config import Settings
from brain_transformer_pipeline.features import epochs_to_table, relabel, table_bytes

log = logging.getLogger(__name__)


@dataclass
class PipelineReport:
    """What one run did. Keys are ``<session_id>/<phase>``."""

    raw_revision: str | None = None
    transformed: list[str] = field(default_factory=list)
    relabelled: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    epochs: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.commits)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feature_path(recording: RawRecording) -> str:
    """Where the features of ``recording`` live in the store (relative to it)."""
    ses = recording.session_id.hex
    name = f"sub-{recording.subject}_ses-{ses}_task-{recording.phase}_epochs.parquet"
    return f"{FEATURES_DIR}/sub-{recording.subject}/ses-{ses}/{name}"


def raw_checkout(settings: Settings) -> VersionedRepo:
    """The raw repository to read: in place, or a clone brought up to date with its data."""
    if not settings.raw_git_url:
        repo = raw_repository(settings.raw_repo)
        repo.require()
        return repo
    clone = raw_repository(settings.raw_clone_dir)
    with file_lock(settings.raw_clone_dir.with_name(settings.raw_clone_dir.name + ".lock"),
                   timeout_s=settings.lock_timeout_s, what="raw clone lock"):
        if not (clone.root / ".git").is_dir():
            clone.root.parent.mkdir(parents=True, exist_ok=True)
            done = subprocess.run(["git", "clone", "-q", settings.raw_git_url, str(clone.root)],
                                  capture_output=True, text=True, check=False,
                                  env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
            if done.returncode != 0:
                raise DependencyError(f"git clone {settings.raw_git_url} failed: "
                                      f"{done.stderr.strip()[:500]}")
        else:
            clone.git("pull", "-q", "--ff-only", write=True)
        clone.pull()
    return clone


def run_pipeline(settings: Settings, *, client: TransformClient | None = None,
                 progress: bool = False) -> PipelineReport:
    """Bring the feature store up to date with the raw repository.

    Parameters
    ----------
    settings : Settings
        Repositories, transform service and batching.
    client : TransformClient | None
        Defaults to one for ``settings.transform_url``.
    progress : bool
        Show a progress bar (tqdm, stderr).

    Returns
    -------
    PipelineReport

    Raises
    ------
    NotFoundError
        If a repository does not exist (``brain data init``).
    DependencyError
        If the transform service, git, DVC or a remote fails; what was committed before
        stays, and the next run continues from there.
    """
    start = time.monotonic()
    store = feature_repository(settings.feature_repo)
    store.require()
    config = settings.make_transform_config()
    own_client = client is None
    client = client or TransformClient(settings.transform_url, timeout_s=settings.timeout_s)
    report = PipelineReport()
    try:
        with file_lock(store.root / ".git" / PIPELINE_LOCK,
                       timeout_s=settings.lock_timeout_s, what="pipeline lock"):
            _run(settings, store, config, client, report, progress)
    finally:
        if own_client:
            client.close()
    report.seconds = time.monotonic() - start
    log.info("pipeline: %d transformed, %d relabelled, %d refused, %d commit(s), %.1f s",
             len(report.transformed), len(report.relabelled), len(report.failed),
             len(report.commits), report.seconds)
    return report


def _run(settings: Settings, store: VersionedRepo, config: TransformConfig,
         client: TransformClient, report: PipelineReport, progress: bool) -> None:
    raw = raw_checkout(settings)
    report.raw_revision = raw.head()
    if report.raw_revision is None:
        return
    recordings = committed_recordings(raw, report.raw_revision)
    labels = _labels(raw, report.raw_revision, recordings)
    old = read_watermark(store)
    config_json = config.model_dump(mode="json")
    current = old.transform_version == TRANSFORM_VERSION and old.transform_config == config_json
    mark = Watermark(TRANSFORM_VERSION, config_json, dict(old.recordings) if current else {})
    if not current and old.recordings:
        log.info("transform version or configuration changed: recomputing every recording")

    todo = mark.pending(recordings)
    relabels = [r for r in recordings if r not in todo
                and mark.recordings[r.key].error is None
                and mark.recordings[r.key].labelled != (r.session_id in labels)]
    known = {r.key for r in recordings}
    gone = sorted(k for k in old.recordings if k not in known)
    files: dict[str, bytes | None] = {}
    for key in gone:  # a recording no longer in the raw repository loses its features
        path = old.recordings[key].path
        if path:
            files[path] = None
        mark.recordings.pop(key, None)
        report.removed.append(key)
    if current and not todo and not relabels and not gone:
        # Nothing new: leave the history alone, but let brain_data finish a commit or a
        # push that an interrupted run left behind.
        if store.is_dirty() or store.pushed_revision() != store.head():
            _commit(settings, files, mark, "Finish an interrupted feature-store update",
                    report, raw_rev=report.raw_revision)
        return

    bar = _progress(len(todo) + len(relabels), progress)
    pending: list[str] = []
    for chunk in _chunks(todo, settings.batch_size):
        for recording, result in zip(chunk, _transform(chunk, raw, config, client),
                                     strict=True):
            _add_result(recording, result, labels, config_json, files, mark, report)
            pending.append(recording.key)
            bar.update(1)
        if len(pending) >= settings.commit_every:
            _commit(settings, files, mark, _message(pending, report), report,
                    raw_rev=report.raw_revision)
            files, pending = {}, []
    for recording in relabels:
        entry = mark.recordings[recording.key]
        if entry.path is None:
            continue
        payload = (store.root / entry.path).read_bytes()
        birthdate = labels.get(recording.session_id)
        files[entry.path] = relabel(payload, birthdate)
        mark.recordings[recording.key] = WatermarkEntry(
            **{**asdict(entry), "labelled": birthdate is not None})
        report.relabelled.append(recording.key)
        pending.append(recording.key)
        bar.update(1)
    bar.close()
    if pending or files:
        _commit(settings, files, mark, _message(pending, report), report,
                raw_rev=report.raw_revision)


def _labels(raw: VersionedRepo, rev: str, recordings: Sequence[RawRecording]
            ) -> dict[UUID, date]:
    """Birthdate per session, for labels whose subject matches the session's recordings."""
    owners = {r.session_id: r.subject for r in recordings}
    labels = {}
    for session_id, path in committed_labels(raw, rev).items():
        try:
            label = read_label(path, session_id)
        except InvalidInputError as err:
            log.warning("skipping the unreadable label of session %s (%s)", session_id,
                        err.field)
            continue
        if owners.get(session_id, label.subject) != label.subject:
            log.warning("skipping the label of session %s: it names another subject than "
                        "the session's recordings", session_id)
            continue
        labels[session_id] = label.birthdate
    return labels


def _transform(chunk: Sequence[RawRecording], raw: VersionedRepo, config: TransformConfig,
               client: TransformClient) -> list[tuple[EpochSet, tuple[int, ...]] | str]:
    """Epoch set and shown items per recording, or the reason the transform refused it."""
    recordings = []
    for item in chunk:
        path = raw.root / item.path
        if not path.exists():
            raise NotFoundError(f"{path} is committed but not in the working tree; run "
                                "`dvc pull` (or `dvc checkout`) in the raw repository.")
        recordings.append(bids.read_recording(path))
    payloads = [encode_recording(r) for r in recordings]
    results: list[EpochSet | str]
    try:
        results = list(client.transform_batch(payloads, config))
    except InvalidInputError:
        # One bad recording fails its whole batch: find it by sending them one by one.
        results = []
        for payload in payloads:
            try:
                results.append(client.transform(payload, config))
            except InvalidInputError as err:
                results.append(str(err))
    return [r if isinstance(r, str) else (r, rec.paradigm.items)
            for r, rec in zip(results, recordings, strict=True)]


def _add_result(recording: RawRecording, result: tuple[EpochSet, tuple[int, ...]] | str,
                labels: dict[UUID, date], config_json: dict[str, Any],
                files: dict[str, bytes | None], mark: Watermark,
                report: PipelineReport) -> None:
    old = mark.recordings.get(recording.key)
    if isinstance(result, str):
        log.warning("the transform refused %s: %s", recording.key, result)
        if old is not None and old.path:
            files[old.path] = None
        mark.recordings[recording.key] = WatermarkEntry(
            subject=recording.subject, content=recording.content, labelled=False, path=None,
            error=result)
        report.failed.append((recording.key, result))
        return
    epochs, shown = result
    birthdate = labels.get(recording.session_id)
    table = epochs_to_table(epochs, birthdate=birthdate, shown_items=shown, provenance={
        "transform_version": TRANSFORM_VERSION, "transform_config": config_json,
        "raw_content": recording.content})
    path = feature_path(recording)
    files[path] = table_bytes(table)
    mark.recordings[recording.key] = WatermarkEntry(
        subject=recording.subject, content=recording.content,
        labelled=birthdate is not None, path=path, n_epochs=epochs.n_epochs)
    report.transformed.append(recording.key)
    report.epochs += epochs.n_epochs


def _commit(settings: Settings, files: dict[str, bytes | None], mark: Watermark,
            message: str, report: PipelineReport, *, raw_rev: str | None) -> None:
    files = {**files, WATERMARK_FILE: mark.to_bytes()}
    message = f"{message}\n\nRaw repository revision: {raw_rev}\n"
    result = commit_features(settings.feature_repo, files, message=message,
                             lock_timeout_s=settings.lock_timeout_s)
    if result.committed and result.revision:
        report.commits.append(result.revision)


def _message(keys: Sequence[str], report: PipelineReport) -> str:
    relabelled = set(report.relabelled)
    failed = {key for key, _ in report.failed}
    lines = [f"transformed {key}" for key in keys if key not in relabelled | failed]
    lines += [f"refused by the transform {key}" for key in keys if key in failed]
    lines += [f"targets updated {key}" for key in keys if key in relabelled]
    head = (f"Features of {len(lines) - sum(k in relabelled for k in keys)} recording(s), "
            f"targets of {sum(k in relabelled for k in keys)} updated")
    return "\n".join([head, "", *lines[:500]])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool) -> Any:
    if not enabled or total == 0:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="transforming", unit="recording")


def pending_recordings(settings: Settings) -> list[RawRecording]:
    """Raw recordings the feature store has no features for (from their current content)."""
    raw = raw_repository(settings.raw_repo if not settings.raw_git_url
                         else settings.raw_clone_dir)
    if not raw.exists() or raw.head() is None:
        return []
    return read_watermark(Path(settings.feature_repo)).pending(committed_recordings(raw))
