"""``brain forget SUBJECT``: remove a subject's data from BRAIN's data stores.

What goes, under the writer locks that ingest and the pipeline use (so a concurrent
ingest or pipeline run waits, and cannot bring the subject back from a stale state):

1. from the receiver's spool and the quarantine: every file of the subject's sessions
   (recordings name their subject; a label is attributed through its session or, when
   readable, its own subject field). Files that decode to nothing (quarantined garbage)
   are left: they belong to no subject BRAIN can name;
2. from the raw repository: ``bids/sub-<S>/``, its ``participants.tsv`` row and the labels
   of its sessions; one commit, pushed;
3. from the feature store: ``features/sub-<S>/`` and the subject's watermark entries; one
   commit, pushed;
4. from DVC's cache and from every DVC remote of both repositories (local folders, S3):
   exactly the objects that hold the subject's data, in every revision of the history:
   its files, old versions of ``participants.tsv`` that list it, and the old directory
   manifests (``.dir``) that list it. Objects another subject's file shares (identical
   bytes) stay. This is not ``dvc gc``, which would also delete old versions of everyone
   else's data that MLflow model versions name by revision;
5. DVC's per-repository site cache (path and hash index, which names files): rebuilt by
   DVC when needed.

The revisions whose manifest was deleted are no longer fully restorable (``dvc pull``
at them fails for the deleted manifest); the report lists them. Git history is kept:
commit messages name session ids (never the subject), and older ``watermark.json``
versions in the feature store's history name the subject's pseudonym, its session ids,
content hashes and epoch counts, never EEG or a birthdate. Rewriting the history would
change every revision id that MLflow model versions and the DVC remotes refer to.

Then a ``brain_features`` asset event is sent to Airflow (when configured), so brain_train
retrains without the subject. Model versions already registered were trained on the
subject's data: the report lists the feature-store revisions that held it (MLflow tag
``brain.dataset_version``); they are not deleted automatically.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from brain_core.codec import decode_recording
from brain_core.errors import CodecError, InvalidInputError, NotFoundError
from brain_core.files import atomic_write, fsync_dir
from brain_data.config import Settings
from brain_data.features import (
    FEATURES_DIR,
    PIPELINE_LOCK,
    WATERMARK_FILE,
    Watermark,
    commit_features,
    feature_repository,
    read_watermark,
)
from brain_data.labels import LABELS_DIR, label_path, parse_label, read_label
from brain_data.raw import BIDS_DIR, REASON_SUFFIX, raw_repository
from brain_data.repository import VersionedRepo, dvc_repo, file_lock

log = logging.getLogger(__name__)

_SUBJECT = re.compile(r"^[A-Za-z0-9]+$")
_SPOOL_FILE = re.compile(
    r"^(?:[0-9a-f]{12}_)?(?P<session>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})_"
    r"(?:(?P<phase>day|month|year)\.brainrec|label\.json)$")


@dataclass
class RemoteObjects:
    """DVC objects deleted from one place (the cache or a remote)."""

    location: str
    deleted: list[str] = field(default_factory=list)


@dataclass
class RepoForget:
    """What was removed from one data repository."""

    repository: str
    files: list[str] = field(default_factory=list)
    commit: str | None = None
    pushed: bool = False
    objects: list[RemoteObjects] = field(default_factory=list)
    manifests_deleted: list[str] = field(default_factory=list)
    unrestorable_revisions: list[str] = field(default_factory=list)


@dataclass
class ForgetReport:
    """What :func:`forget_subject` removed. Never holds a birthdate."""

    subject: str
    started_at: str
    sessions: list[str] = field(default_factory=list)
    spool_files: list[str] = field(default_factory=list)
    quarantine_files: list[str] = field(default_factory=list)
    raw: RepoForget | None = None
    features: RepoForget | None = None
    watermark_entries: list[str] = field(default_factory=list)
    trained_on_revisions: list[str] = field(default_factory=list)
    retrain: str = ""
    kept: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def removed_anything(self) -> bool:
        repos = [r for r in (self.raw, self.features) if r is not None]
        return bool(self.spool_files or self.quarantine_files or any(
            r.files or r.manifests_deleted or any(o.deleted for o in r.objects)
            for r in repos))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NothingToForgetError(NotFoundError):
    """The subject has no data left in the stores (unknown, or already forgotten)."""


def forget_subject(settings: Settings, subject: str, *, notifier: Any = None
                   ) -> ForgetReport:
    """Remove every trace of ``subject`` from the stores (see the module docstring).

    Parameters
    ----------
    settings : Settings
        Spool, quarantine, both repositories, lock timeout.
    subject : str
        The pseudonym (BIDS label ``[A-Za-z0-9]+``).
    notifier : AirflowNotifier | None
        Told that the feature store changed (default: one from ``settings``).

    Returns
    -------
    ForgetReport

    Raises
    ------
    InvalidInputError
        For a subject that is not a BIDS label.
    NothingToForgetError
        When no file, commit or DVC object of the subject is left: nothing changes.
    LabelKeyError
        Without the label key: labels must be read to find the subject's sessions.
    DependencyError
        If git, DVC or a remote fails; running it again finishes the job.
    """
    if not _SUBJECT.match(subject or ""):
        raise InvalidInputError(
            f"Invalid subject {subject!r}: a pseudonym is letters and digits only (a BIDS "
            "label, as in sub-<subject>).", field="subject")
    start = time.monotonic()
    raw = raw_repository(settings.raw_repo)
    raw.require()
    store = feature_repository(settings.feature_repo)
    report = ForgetReport(subject=subject,
                          started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    with raw.writer_lock(settings.lock_timeout_s):
        raw.recover()
        history = _History(raw, (BIDS_DIR, LABELS_DIR))
        sessions = _raw_sessions(raw, subject, history)
        report.sessions = sorted(str(s) for s in sessions)
        report.spool_files = _purge_spool(settings.incoming, subject, sessions)
        report.quarantine_files = _purge_spool(settings.quarantine, subject, sessions)
        report.raw = _forget_raw(raw, subject, sessions, history)
        if store.exists():
            with file_lock(store.root / ".git" / PIPELINE_LOCK,
                           timeout_s=settings.lock_timeout_s, what="pipeline lock"):
                report.features, report.watermark_entries, report.trained_on_revisions = \
                    _forget_features(store, subject, settings.lock_timeout_s)
    if not report.removed_anything:
        raise NothingToForgetError(
            f"Nothing to forget: subject {subject!r} has no recording, label, feature or "
            "stored object left (unknown, or already forgotten).")
    report.retrain = _retrain(settings, report, notifier)
    report.kept = _kept_notes()
    report.seconds = round(time.monotonic() - start, 3)
    log.info("forgot a subject: %d session(s), %d raw file(s), %d feature file(s)",
             len(report.sessions), len(report.raw.files) if report.raw else 0,
             len(report.features.files) if report.features else 0)
    return report


def write_report(report: ForgetReport, directory: Path) -> Path:
    """Write the report as JSON (mode 0600: it names the pseudonym) and return its path."""
    stamp = report.started_at.replace(":", "").replace("-", "").replace("+0000", "Z")
    path = Path(directory) / f"forget-{stamp}-{report.subject}.json"
    atomic_write(path, (json.dumps(report.to_dict(), indent=2) + "\n").encode(), mode=0o600)
    return path


# --------------------------------------------------------------------------- history


def _bids_prefix(subject: str) -> str:
    return f"sub-{subject}/"


class _History:
    """Every DVC directory manifest of a repository's data folders, over all revisions.

    Manifests come from DVC's cache, else from a remote; a manifest found nowhere was
    already deleted (by an earlier forget).
    """

    def __init__(self, repo: VersionedRepo, data_dirs: Iterable[str]) -> None:
        self.repo = repo
        #: data dir -> {manifest md5 -> (revisions, entries relpath -> md5)}
        self.manifests: dict[str, dict[str, tuple[list[str], dict[str, str]]]] = {}
        with dvc_repo(repo.root) as dvc:
            odbs = _odbs(dvc)
            for data_dir in data_dirs:
                found: dict[str, tuple[list[str], dict[str, str]]] = {}
                for rev, md5 in _dir_md5s(repo, data_dir):
                    if md5 not in found:
                        listing = _read_object(odbs, md5)
                        if listing is None:
                            continue
                        found[md5] = ([], {e["relpath"]: e["md5"]
                                           for e in json.loads(listing)})
                    found[md5][0].append(rev)
                self.manifests[data_dir] = found

    def entries(self, data_dir: str) -> Iterator[tuple[str, str]]:
        """(relpath, md5) of every file the folder held in any revision."""
        for _revs, entries in self.manifests.get(data_dir, {}).values():
            yield from entries.items()


def _git_batch(repo: VersionedRepo, mode: str, lines: list[str]) -> str:
    """``git cat-file --batch[-check]`` over ``lines``: one process for many objects."""
    done = subprocess.run(["git", "-C", str(repo.root), "--no-optional-locks", "cat-file",
                           mode], input="".join(f"{line}\n" for line in lines),
                          capture_output=True, text=True, check=True)
    return done.stdout


def _dir_md5s(repo: VersionedRepo, data_dir: str) -> list[tuple[str, str]]:
    """(revision, ``.dir`` md5 of ``<data_dir>.dvc``) for every commit of every branch."""
    from ruamel.yaml import YAML

    revs = repo.git("rev-list", "--all").split()
    if not revs:
        return []
    blobs = {}
    for rev, line in zip(revs, _git_batch(repo, "--batch-check",
                                          [f"{r}:{data_dir}.dvc" for r in revs]).splitlines(),
                         strict=True):
        if line.endswith(" missing"):
            continue
        blobs[rev] = line.split()[0]
    md5_of = {}
    for blob in set(blobs.values()):
        text = repo.git("cat-file", "blob", blob)
        outs = (YAML(typ="safe").load(text) or {}).get("outs") or [{}]
        md5_of[blob] = str(outs[0].get("md5", ""))
    return [(rev, md5_of[blob]) for rev, blob in blobs.items()
            if md5_of[blob].endswith(".dir")]


def _odbs(dvc: Any) -> list[tuple[str, Any]]:
    """(location, object database) of DVC's cache and of every configured remote."""
    odbs: list[tuple[str, Any]] = [("cache", dvc.cache.local)]
    for name, conf in dvc.config.get("remote", {}).items():
        odbs.append((f"remote {name} ({conf.get('url')})", dvc.cloud.get_remote_odb(name)))
    return odbs


def _read_object(odbs: list[tuple[str, Any]], md5: str) -> bytes | None:
    for _location, odb in odbs:
        path = odb.oid_to_path(md5)
        with contextlib.suppress(FileNotFoundError):
            if odb.fs.exists(path):
                return odb.fs.cat_file(path)
    return None


def _delete_objects(repo: VersionedRepo, md5s: set[str]) -> list[RemoteObjects]:
    """Delete ``md5s`` from the cache and every remote; what was there, per place."""
    done = []
    with dvc_repo(repo.root) as dvc:
        for location, odb in _odbs(dvc):
            place = RemoteObjects(location)
            for md5 in sorted(md5s):
                path = odb.oid_to_path(md5)
                if odb.fs.exists(path):
                    odb.fs.rm(path)
                    place.deleted.append(md5)
            done.append(place)
        site_cache = Path(dvc.site_cache_dir)
    # DVC's hash and path index names the repository's files; it is only a cache.
    shutil.rmtree(site_cache, ignore_errors=True)
    return done


def _purge_history(repo: VersionedRepo, history: _History,
                   belongs: Callable[[str, str, str], bool], result: RepoForget) -> None:
    """Delete the objects of the subject's files and the manifests that list them.

    ``belongs(data_dir, relpath, md5)`` says whether a file is the subject's. An object
    that another file shares (identical bytes, e.g. another subject's sidecar) stays.
    """
    theirs, kept, manifests = set(), set(), []
    for data_dir, found in history.manifests.items():
        for md5, (revs, entries) in found.items():
            listed = False
            for relpath, obj in entries.items():
                if belongs(data_dir, relpath, obj):
                    theirs.add(obj)
                    listed = True
                else:
                    kept.add(obj)
            if listed:
                manifests.append(md5)
                result.unrestorable_revisions += revs
    result.manifests_deleted = sorted(manifests)
    result.unrestorable_revisions = sorted(set(result.unrestorable_revisions))
    result.objects = _delete_objects(repo, (theirs - kept) | set(manifests))


# --------------------------------------------------------------------------- raw


def _raw_sessions(raw: VersionedRepo, subject: str, history: _History) -> set[UUID]:
    """The subject's sessions: from its BIDS files (any revision, the working tree) and
    from the labels at HEAD that name it (labels of sessions without recordings)."""
    prefix = _bids_prefix(subject)
    sessions = {UUID(hex=m[1]) for relpath, _ in history.entries(BIDS_DIR)
                if (m := re.match(rf"^{re.escape(prefix)}ses-([0-9a-f]{{32}})/", relpath))}
    subject_dir = raw.root / BIDS_DIR / f"sub-{subject}"
    if subject_dir.is_dir():
        sessions |= {UUID(hex=p.name[4:]) for p in subject_dir.glob("ses-*")
                     if re.fullmatch(r"ses-[0-9a-f]{32}", p.name)}
    labels_dir = raw.root / LABELS_DIR
    if labels_dir.is_dir():
        for path in labels_dir.glob("*.json"):
            with contextlib.suppress(InvalidInputError, ValueError):
                if read_label(path).subject == subject:
                    sessions.add(UUID(path.stem))
    return sessions


def _forget_raw(raw: VersionedRepo, subject: str, sessions: set[UUID], history: _History
                ) -> RepoForget:
    result = RepoForget(repository=str(raw.root))
    bids_root, labels_dir = raw.root / BIDS_DIR, raw.root / LABELS_DIR
    subject_dir = bids_root / f"sub-{subject}"
    if subject_dir.is_dir():
        result.files += sorted(p.relative_to(raw.root).as_posix()
                               for p in subject_dir.rglob("*") if p.is_file())
        shutil.rmtree(subject_dir)
    if _drop_participant(bids_root / "participants.tsv", subject):
        result.files.append(f"{BIDS_DIR}/participants.tsv (row sub-{subject})")
    for session_id in sorted(sessions):
        path = label_path(labels_dir, session_id)
        if path.exists():
            path.unlink()
            result.files.append(path.relative_to(raw.root).as_posix())
    if result.files:
        fsync_dir(bids_root)
        fsync_dir(labels_dir)
        result.commit = raw.commit(
            f"Forget one subject: {len(sessions)} session(s), {len(result.files)} file(s)\n")
    result.pushed = raw.push()
    label_names = {f"{s}.json" for s in sessions}
    prefix = _bids_prefix(subject)
    participants = _participants_naming(history, subject)

    def belongs(data_dir: str, relpath: str, md5: str) -> bool:
        if data_dir == LABELS_DIR:
            return relpath in label_names
        return relpath.startswith(prefix) or md5 in participants

    _purge_history(raw, history, belongs, result)
    return result


def _drop_participant(path: Path, subject: str) -> bool:
    """Remove the subject's row from participants.tsv; True if there was one."""
    if not path.exists():
        return False
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line.split("\t")[0] != f"sub-{subject}"]
    if len(kept) == len(lines):
        return False
    atomic_write(path, ("\n".join(kept) + "\n").encode())
    return True


def _participants_naming(history: _History, subject: str) -> set[str]:
    """Objects of old participants.tsv versions that hold the subject's row."""
    found = set()
    md5s = {md5 for rel, md5 in history.entries(BIDS_DIR) if rel == "participants.tsv"}
    with dvc_repo(history.repo.root) as dvc:
        odbs = _odbs(dvc)
        for md5 in md5s:
            content = _read_object(odbs, md5) or b""
            if any(line.split(b"\t")[0] == f"sub-{subject}".encode()
                   for line in content.splitlines()):
                found.add(md5)
    return found


# --------------------------------------------------------------------------- spool


def _purge_spool(folder: Path, subject: str, sessions: set[UUID]) -> list[str]:
    """Delete the subject's files (and their reason files) from a spool folder.

    A recording is the subject's when it names the subject or one of its sessions; a
    label when its session is one of them or it names the subject. Receivers' temporary
    files (``.tmp-*``) are not touched: a new upload in progress is not history.
    """
    removed = []
    if not Path(folder).is_dir():
        return removed
    for path in sorted(Path(folder).iterdir()):
        match = _SPOOL_FILE.match(path.name)
        if match is None or not path.is_file():
            continue
        if UUID(match["session"]) in sessions or _names_subject(path, subject,
                                                                  bool(match["phase"])):
            path.unlink()
            removed.append(path.name)
            reason = path.with_name(path.name + REASON_SUFFIX)
            if reason.exists():
                reason.unlink()
    if removed:
        fsync_dir(Path(folder))
    return removed


def _names_subject(path: Path, subject: str, recording: bool) -> bool:
    try:
        payload = path.read_bytes()
        if recording:
            return decode_recording(payload).subject == subject
        return parse_label(payload, source=path.name).subject == subject
    except (CodecError, InvalidInputError, FileNotFoundError):
        return False  # undecodable: it names no subject


# --------------------------------------------------------------------------- features


def _forget_features(store: VersionedRepo, subject: str, lock_timeout_s: float | None
                     ) -> tuple[RepoForget, list[str], list[str]]:
    """Remove the subject from the feature store; also the revisions that held it."""
    trained_on = _revisions_with(store, subject)
    mark = read_watermark(store) if store.head() else Watermark()
    gone = sorted(key for key, entry in mark.recordings.items() if entry.subject == subject)
    subject_dir = store.root / FEATURES_DIR / f"sub-{subject}"
    files: dict[str, bytes | None] = {}
    if subject_dir.is_dir():
        files.update({p.relative_to(store.root).as_posix(): None
                      for p in subject_dir.rglob("*") if p.is_file()})
    result = RepoForget(repository=str(store.root), files=sorted(files))
    if gone:
        for key in gone:
            del mark.recordings[key]
        files[WATERMARK_FILE] = mark.to_bytes()
    if files:
        done = commit_features(store.root, files, message=(
            f"Forget one subject: {len(gone)} recording(s)\n"), lock_timeout_s=lock_timeout_s)
        result.commit = done.revision if done.committed else None
        result.pushed = done.pushed
        if subject_dir.is_dir():
            shutil.rmtree(subject_dir)  # the empty folders commit_features leaves
    with store.writer_lock(lock_timeout_s):
        history = _History(store, (FEATURES_DIR,))
        prefix = f"sub-{subject}/"
        _purge_history(store, history, lambda _dir, rel, _md5: rel.startswith(prefix),
                       result)
    return result, gone, trained_on


def _revisions_with(store: VersionedRepo, subject: str) -> list[str]:
    """Feature-store revisions whose watermark lists the subject (models trained there
    carry the revision as MLflow tag ``brain.dataset_version``)."""
    if store.head() is None:
        return []
    found = []
    for rev in store.git("rev-list", "--all", "--", WATERMARK_FILE).split():
        with contextlib.suppress(InvalidInputError):
            if any(e.subject == subject for e in read_watermark(store, rev).recordings.values()):
                found.append(rev)
    return found


# --------------------------------------------------------------------------- retrain


def _retrain(settings: Settings, report: ForgetReport, notifier: Any) -> str:
    """Start brain_train without the subject, or say what the operator must run."""
    from brain_data.airflow_notify import AirflowNotifier

    notifier = notifier or AirflowNotifier(settings.airflow_url, settings.airflow_username)
    commit = (report.features.commit if report.features else None) or (
        feature_repository(settings.feature_repo).head()
        if feature_repository(settings.feature_repo).exists() else None)
    if notifier.features_changed(commit):
        return ("created a brain_features asset event in Airflow: brain_train retrains on "
                "the feature store without the subject")
    return ("Airflow was not told (not configured or not reachable): retrain with "
            "`airflow dags trigger brain_train` (or `brain train` on the feature store); "
            "until then the champion model is still the one trained with the subject")


def _kept_notes() -> list[str]:
    """What the command does not remove, for the operator to judge."""
    return [
        "git history of both repositories: commit messages name session ids; older "
        f"{WATERMARK_FILE} versions in the feature store name the pseudonym, session ids, "
        "content hashes and epoch counts (no EEG, no birthdate)",
        "MLflow: model versions trained on the revisions in trained_on_revisions (tag "
        "brain.dataset_version) still exist; delete or retire them there if required",
        "clones of the repositories elsewhere (e.g. the pipeline's raw clone with "
        "BRAIN_PIPELINE_RAW_GIT_URL) keep their own DVC cache until they are deleted or "
        "forget runs there",
    ]
