"""The feature store: a DVC repository of per-recording feature files and a watermark.

Layout::

    <feature_repo>/
        features/          DVC-tracked; one file per recording, written by the
                           transformer pipeline (see brain_transformer_pipeline/SCHEMA.md)
        features.dvc
        watermark.json     in git: which raw recordings (and labels) the features reflect
        README.md

The watermark lives in git next to ``features.dvc``, so every revision of the store says
exactly what it was made from, and a pipeline run reads what is done from the store
itself rather than from memory. Its entries hold a boolean ``labelled``, never a
birthdate or a hash of one.

:func:`commit_features` is the store's only writer: it takes the files a pipeline run
made, writes them under the store's writer lock, commits and pushes.
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from brain_core.errors import InvalidInputError
from brain_data.raw import (
    RawRecording,
    RepoState,
    committed_labels,
    committed_recordings,
    raw_repository,
    repo_state,
)
from brain_data.repository import VersionedRepo, atomic_write, init_repo

log = logging.getLogger(__name__)

FEATURES_DIR = "features"
WATERMARK_FILE = "watermark.json"
WATERMARK_SCHEMA = 1
#: The lock (in the feature repository's .git) a pipeline run holds, and `brain forget`.
PIPELINE_LOCK = "brain-pipeline.lock"

FEATURE_README = """\
# BRAIN feature store

Written by brain_data for the transformer pipeline; do not edit by hand.

- `features/`: one Parquet file per recording, one row per epoch (schema:
  brain_transformer_pipeline/SCHEMA.md). Tracked by DVC: `git clone`, then `dvc pull`.
- `watermark.json`: the raw recordings these features were computed from (session,
  phase, content hash), whether their session was labelled, and the transform's
  version and configuration.
"""


def feature_repository(path: Path) -> VersionedRepo:
    """The feature store at ``path`` (not created; see :func:`init_feature_repo`)."""
    return VersionedRepo(Path(path), data_dirs=(FEATURES_DIR,), git_files=(WATERMARK_FILE,))


def init_feature_repo(path: Path, remote_url: str | None, *, endpoint_url: str | None = None
                      ) -> VersionedRepo:
    """Create the feature store (git + DVC, remote ``origin``); harmless when it exists."""
    return init_repo(Path(path), remote_url, data_dirs=(FEATURES_DIR,),
                     git_files=(WATERMARK_FILE,), endpoint_url=endpoint_url,
                     readme=FEATURE_README)


# --------------------------------------------------------------------------- watermark


@dataclass(frozen=True)
class WatermarkEntry:
    """What the store holds for one raw recording.

    Attributes
    ----------
    subject : str
    content : str
        :attr:`RawRecording.content` of the raw recording the features come from.
    labelled : bool
        Whether the session's label was known (targets filled) when the file was written.
    path : str | None
        The feature file, relative to the repository; None when the transform refused
        the recording (see ``error``).
    n_epochs : int
    error : str | None
        Why the transform refused it; retried only when the content or transform changes.
    """

    subject: str
    content: str
    labelled: bool
    path: str | None
    n_epochs: int = 0
    error: str | None = None


@dataclass
class Watermark:
    """The feature store's record of what it was computed from (``watermark.json``)."""

    transform_version: str | None = None
    transform_config: dict[str, Any] | None = None
    recordings: dict[str, WatermarkEntry] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same watermark always gives the same bytes (no git diff)."""
        data = {
            "schema_version": WATERMARK_SCHEMA,
            "transform_version": self.transform_version,
            "transform_config": self.transform_config,
            "recordings": {key: asdict(entry) for key, entry in sorted(self.recordings.items())},
        }
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> Watermark:
        try:
            data = json.loads(payload)
            return cls(
                transform_version=data.get("transform_version"),
                transform_config=data.get("transform_config"),
                recordings={key: WatermarkEntry(**entry)
                            for key, entry in data.get("recordings", {}).items()},
            )
        except (ValueError, TypeError, AttributeError) as err:
            raise InvalidInputError(f"{WATERMARK_FILE} is not a valid watermark: {err}",
                                    field=WATERMARK_FILE) from None

    def pending(self, recordings: Iterable[RawRecording]) -> list[RawRecording]:
        """The recordings whose features are missing or made from other content."""
        return [r for r in recordings
                if (entry := self.recordings.get(r.key)) is None or entry.content != r.content]


def read_watermark(feature_repo: Path | VersionedRepo, rev: str = "HEAD") -> Watermark:
    """The watermark committed at ``rev`` (an empty one when there is none)."""
    repo = feature_repo if isinstance(feature_repo, VersionedRepo) \
        else feature_repository(feature_repo)
    done = subprocess.run(["git", "-C", str(repo.root), "--no-optional-locks", "show",
                           f"{rev}:{WATERMARK_FILE}"], capture_output=True, check=False)
    if done.returncode != 0:
        return Watermark()
    return Watermark.from_bytes(done.stdout)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class FeatureCommit:
    """What :func:`commit_features` did."""

    revision: str | None
    committed: bool
    pushed: bool
    written: int


def commit_features(feature_repo: Path, files: Mapping[str, bytes | None], *, message: str,
                    lock_timeout_s: float | None = None) -> FeatureCommit:
    """Write files into the feature store, commit them and push them.

    Parameters
    ----------
    feature_repo : Path
        The store (see :func:`init_feature_repo`).
    files : mapping of str to bytes or None
        Path relative to the store -> new content, or None to delete the file. Paths lie
        under ``features/``, or are ``watermark.json``. Unchanged content is not
        rewritten.
    message : str
        The commit message.
    lock_timeout_s : float | None
        Wait at most this long for the store's writer lock (None: as long as needed).

    Returns
    -------
    FeatureCommit
        ``committed`` is False when nothing differed from the last commit: running the
        pipeline again with nothing new leaves the history as it was.

    Raises
    ------
    InvalidInputError
        For a path outside ``features/`` other than the watermark.
    DependencyError
        If git, DVC or the remote fails (files written stay, and are committed by the
        next call).
    """
    repo = feature_repository(feature_repo)
    repo.require()
    targets = {rel: (_checked_path(rel), payload) for rel, payload in files.items()}
    written = 0
    with repo.writer_lock(lock_timeout_s):
        repo.recover()
        # The watermark last: a crash in between leaves features it does not claim yet.
        for _rel, (path, payload) in sorted(targets.items(),
                                            key=lambda kv: kv[0] == WATERMARK_FILE):
            target = repo.root / path
            if payload is None:
                if target.exists():
                    target.unlink()
                    written += 1
            elif atomic_write(target, payload):
                written += 1
        before = repo.head()
        revision = repo.commit(message)
        pushed = repo.push()
    return FeatureCommit(revision=revision or before, committed=revision is not None,
                         pushed=pushed, written=written)


def _checked_path(rel: str) -> PurePosixPath:
    path = PurePosixPath(rel)
    inside = path.parts[:1] == (FEATURES_DIR,) and len(path.parts) > 1
    if path.is_absolute() or ".." in path.parts or not (inside or str(path) == WATERMARK_FILE):
        raise InvalidInputError(
            f"Invalid feature-store path {rel!r}: expected {FEATURES_DIR}/<...> or "
            f"{WATERMARK_FILE}.", field="files")
    if any(part.startswith(".") for part in path.parts):
        raise InvalidInputError(
            f"Invalid feature-store path {rel!r}: hidden names are reserved for temporary "
            "files.", field="files")
    return path


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class FeatureStatus:
    """What the feature store holds (at HEAD) and what the raw store has beyond it."""

    repository: RepoState
    recordings: int = 0
    epochs: int = 0
    failed: int = 0
    labelled: int = 0
    transform_version: str | None = None
    pending: int = 0
    relabel_pending: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def feature_status(feature_repo: Path, raw_repo: Path | None = None) -> FeatureStatus:
    """The store's content; with ``raw_repo``, the raw recordings not yet transformed.

    ``pending`` counts committed raw recordings without features from their current
    content; ``relabel_pending`` those whose session's label arrived after them.
    """
    repo = feature_repository(feature_repo)
    state = repo_state(repo)
    mark = read_watermark(repo) if state.revision else Watermark()
    entries = mark.recordings.values()
    pending = relabel = 0
    raw = raw_repository(raw_repo) if raw_repo is not None else None
    if raw is not None and raw.exists() and raw.head() is not None:
        recordings = committed_recordings(raw)
        labelled = set(committed_labels(raw))
        pending = len(mark.pending(recordings))
        relabel = sum(
            1 for r in recordings
            if (entry := mark.recordings.get(r.key)) is not None and entry.content == r.content
            and entry.error is None and entry.labelled != (r.session_id in labelled))
    return FeatureStatus(
        repository=state,
        recordings=sum(e.path is not None for e in entries),
        epochs=sum(e.n_epochs for e in entries),
        failed=sum(e.error is not None for e in entries),
        labelled=sum(e.labelled for e in entries if e.path is not None),
        transform_version=mark.transform_version,
        pending=pending,
        relabel_pending=relabel,
    )
