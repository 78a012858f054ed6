"""The raw store: the receiver's input spool into the raw DVC repository.

The raw repository (a :class:`~brain_data.repository.VersionedRepo`)::

    <raw_repo>/
        bids/      BIDS-EEG written by brain_core.bids (DVC-tracked; bids.dvc in git)
            sub-<subject>/ses-<session hex>/eeg/sub-<subject>_ses-<hex>_task-<phase>_eeg.vhdr ...
        labels/    <session_id>.json, one encrypted label per session (DVC-tracked;
                   labels.dvc; see brain_data.labels)
        README.md

Labels are kept out of ``participants.tsv``: see :mod:`brain_data.labels`.

:func:`ingest_once` takes one batch from ``<spool_dir>/incoming`` (files the receiver
renamed into place: ``<session_id>_<phase>.brainrec`` and ``<session_id>_label.json``;
names starting with ``.`` are unfinished and skipped), oldest first, and under the
repository's writer lock:

1. repairs what a killed writer left (:meth:`~brain_data.repository.VersionedRepo.recover`);
2. writes each valid recording as BIDS and each valid label to ``labels/``. A recording
   or label already stored with the same content is a duplicate; different content, a
   session claimed by two subjects, a file that does not decode, a label for a session
   whose recordings were all quarantined: the file goes to the quarantine folder with a
   ``.reason.json`` and the batch carries on;
3. removes files of any recording left incomplete (no ``.vhdr``), then ``dvc add`` and
   one git commit for the whole batch;
4. ``dvc push``, and only then deletes the batch's spool files.

Killed at any point, it loses nothing and duplicates nothing: spool files outlive their
push, BIDS files appear whole (the ``.vhdr`` last) and a recording already stored is
recognised, so re-running the interrupted batch is a no-op apart from what was missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from brain_core import bids
from brain_core.codec import decode_recording
from brain_core.errors import CodecError, ConflictError, InvalidInputError
from brain_core.models import PHASES
from brain_data.config import Settings
from brain_data.label_keys import load_label_keys
from brain_data.labels import LABELS_DIR, label_path, parse_label, read_label, write_label
from brain_data.repository import (
    VersionedRepo,
    atomic_write,
    fsync_dir,
    init_repo,
)

log = logging.getLogger(__name__)

BIDS_DIR = "bids"
RECORDING_SUFFIX = ".brainrec"
REASON_SUFFIX = ".reason.json"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_SPOOL_NAME = re.compile(
    rf"^(?P<session>{_UUID})_(?:(?P<phase>day|month|year)\.brainrec|label\.json)$")
# bids/sub-<s>/ses-<hex>/eeg/sub-<s>_ses-<hex>_task-<phase>_<suffix>
_BIDS_FILE = re.compile(
    r"^sub-(?P<subject>[A-Za-z0-9]+)/ses-(?P<ses>[0-9a-f]{32})/eeg/"
    r"(?P<base>sub-(?P=subject)_ses-(?P=ses)_task-(?P<phase>day|month|year))_(?P<suffix>.+)$")
_VHDR_SUFFIX = "eeg.vhdr"

RAW_README = """\
# BRAIN raw data

Written by brain_data; do not edit by hand.

- `bids/`: the EEG recordings as BIDS-EEG (BrainVision float32), one per session and
  phase: `sub-<subject>/ses-<session>/eeg/..._task-<day|month|year>_eeg.vhdr`.
- `labels/`: one label (the session's birthdate) per session, kept apart from the EEG and
  encrypted (AES-256-GCM; the key is BRAIN_LABEL_KEY_FILE, never in this repository).

Both folders are tracked by DVC: `git clone` this repository, then `dvc pull`.
"""


# --------------------------------------------------------------------------- repository


def raw_repository(path: Path) -> VersionedRepo:
    """The raw repository at ``path`` (not created; see :func:`init_raw_repo`)."""
    return VersionedRepo(Path(path), data_dirs=(BIDS_DIR, LABELS_DIR))


def init_raw_repo(path: Path, remote_url: str | None, *, endpoint_url: str | None = None
                  ) -> VersionedRepo:
    """Create the raw repository (git + DVC, remote ``origin``); harmless when it exists."""
    return init_repo(Path(path), remote_url, data_dirs=(BIDS_DIR, LABELS_DIR),
                     endpoint_url=endpoint_url, readme=RAW_README)


@dataclass(frozen=True)
class RawRecording:
    """A recording committed to the raw repository.

    Attributes
    ----------
    subject, phase : str
    session_id : UUID
    path : str
        Its ``.vhdr``, relative to the repository (``bids/sub-.../..._eeg.vhdr``).
    content : str
        SHA-256 over the names and MD5s of the recording's files: changes whenever any
        of its files does.
    """

    subject: str
    session_id: UUID
    phase: str
    path: str
    content: str

    @property
    def key(self) -> str:
        return f"{self.session_id}/{self.phase}"


def committed_recordings(repo: VersionedRepo | Path, rev: str = "HEAD") -> list[RawRecording]:
    """The complete recordings of the raw repository at ``rev``, in BIDS order.

    Reads git and DVC's cache only (no lock, no checkout), so it is safe while a writer
    works.
    """
    repo = repo if isinstance(repo, VersionedRepo) else raw_repository(repo)
    groups: dict[str, dict[str, str]] = {}
    meta: dict[str, tuple[str, str, str]] = {}
    for relpath, md5 in repo.manifest(BIDS_DIR, rev).items():
        match = _BIDS_FILE.match(relpath)
        if match is None:
            continue
        base = match["base"]
        groups.setdefault(base, {})[match["suffix"]] = md5
        meta[base] = (match["subject"], match["ses"], match["phase"])
    found = []
    for base, files in groups.items():
        if _VHDR_SUFFIX not in files:
            continue
        subject, ses, phase = meta[base]
        digest = hashlib.sha256(
            json.dumps(sorted(files.items()), separators=(",", ":")).encode()).hexdigest()
        found.append(RawRecording(
            subject=subject, session_id=UUID(hex=ses), phase=phase,
            path=f"{BIDS_DIR}/sub-{subject}/ses-{ses}/eeg/{base}_{_VHDR_SUFFIX}",
            content=digest))
    found.sort(key=lambda r: (bids.natural_key(r.subject), r.session_id.hex,
                              PHASES.index(r.phase)))
    return found


def committed_labels(repo: VersionedRepo | Path, rev: str = "HEAD") -> dict[UUID, Path]:
    """Session -> a readable file holding its committed label (read it with read_label)."""
    repo = repo if isinstance(repo, VersionedRepo) else raw_repository(repo)
    labels = {}
    for relpath, md5 in repo.manifest(LABELS_DIR, rev).items():
        match = re.fullmatch(rf"({_UUID})\.json", relpath)
        if match:
            labels[UUID(match[1])] = repo.read_committed(LABELS_DIR, relpath, md5)
    return labels


# --------------------------------------------------------------------------- spool


@dataclass(frozen=True)
class SpoolFile:
    """A complete file in the input spool."""

    path: Path
    kind: Literal["recording", "label", "unknown"]
    session_id: UUID | None = None
    phase: str | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def key(self) -> str:
        if self.session_id is None:
            return self.name
        return f"{self.session_id}_{self.phase or 'label'}"


def scan_spool(incoming: Path) -> list[SpoolFile]:
    """Complete files waiting in ``incoming``, oldest first.

    Names starting with ``.`` (the receiver's ``.tmp-*`` files) are still being written
    and are skipped.
    """
    found = []
    try:
        names = os.listdir(incoming)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith("."):
            continue
        path = Path(incoming) / name
        try:
            stat = path.stat()
        except FileNotFoundError:  # taken by another reader meanwhile
            continue
        if not path.is_file():
            continue
        match = _SPOOL_NAME.match(name)
        if match is None:
            entry = SpoolFile(path, "unknown")
        elif match["phase"]:
            entry = SpoolFile(path, "recording", UUID(match["session"]), match["phase"])
        else:
            entry = SpoolFile(path, "label", UUID(match["session"]))
        found.append((stat.st_mtime_ns, name, entry))
    return [entry for _, _, entry in sorted(found, key=lambda t: (t[0], t[1]))]


# --------------------------------------------------------------------------- quarantine


@dataclass(frozen=True)
class QuarantinedFile:
    """A spool file set aside, with why."""

    name: str
    original: str
    reason: str
    field: str | None
    quarantined_at: str


def quarantine_file(path: Path, quarantine_dir: Path, reason: str, *,
                    field: str | None = None, payload: bytes | None = None) -> Path:
    """Move ``path`` into ``quarantine_dir`` next to a ``.reason.json``; return its new path.

    The stored name is ``<first 12 hex of SHA-256>_<original name>``: quarantining the
    same file twice (after a crash) gives the same name. The reason file is written
    first, so a crash in between leaves the spool file to be quarantined again.
    """
    path = Path(path)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    data = payload if payload is not None else path.read_bytes()
    stored = quarantine_dir / f"{hashlib.sha256(data).hexdigest()[:12]}_{path.name}"
    record = {"file": path.name, "reason": reason, "field": field,
              "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write(stored.with_name(stored.name + REASON_SUFFIX),
                 (json.dumps(record, indent=2) + "\n").encode())
    try:
        os.replace(path, stored)
    except OSError:  # another filesystem: copy, fsync, then drop the original
        tmp = stored.with_name(".tmp-" + stored.name)
        shutil.copyfile(path, tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, stored)
        path.unlink()
    fsync_dir(quarantine_dir)
    fsync_dir(path.parent)
    return stored


def list_quarantine(quarantine_dir: Path) -> list[QuarantinedFile]:
    """Quarantined files with their reasons, oldest first."""
    found = []
    if not Path(quarantine_dir).is_dir():
        return []
    for path in sorted(Path(quarantine_dir).iterdir()):
        if path.name.startswith(".") or path.name.endswith(REASON_SUFFIX):
            continue
        try:
            record = json.loads(path.with_name(path.name + REASON_SUFFIX).read_bytes())
        except (FileNotFoundError, ValueError):
            record = {}
        found.append(QuarantinedFile(
            name=path.name, original=record.get("file", path.name.partition("_")[2]),
            reason=record.get("reason", "unknown (no reason file)"),
            field=record.get("field"), quarantined_at=record.get("quarantined_at", "")))
    return sorted(found, key=lambda q: (q.quarantined_at, q.name))


# --------------------------------------------------------------------------- ingest


@dataclass
class IngestReport:
    """What one :func:`ingest_once` did. Keys are ``<session_id>_<phase|label>``."""

    recordings: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    commit: str | None = None
    pushed: bool = False
    removed: int = 0
    remaining: int = 0
    seconds: float = 0.0

    @property
    def handled(self) -> int:
        """Spool files taken care of (stored, duplicate or quarantined)."""
        return (len(self.recordings) + len(self.labels) + len(self.duplicates)
                + len(self.quarantined))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Quarantine(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.field = reason, field


def ingest_once(settings: Settings, *, max_files: int | None = None) -> IngestReport:
    """Commit one batch of the spool into the raw repository, push it, clear the spool.

    Parameters
    ----------
    settings : Settings
        ``spool_dir``, ``quarantine``, ``raw_repo`` and ``batch_max_files`` are used.
    max_files : int | None
        At most this many spool files (default ``settings.batch_max_files``).

    Returns
    -------
    IngestReport
        ``remaining`` says how many spool files wait for the next batch.

    Raises
    ------
    NotFoundError
        If the raw repository was not initialised.
    DependencyError
        If git, DVC or the remote fails; the spool keeps every file of the batch.
    """
    start = time.monotonic()
    repo = raw_repository(settings.raw_repo)
    repo.require()
    report = IngestReport()
    limit = max_files or settings.batch_max_files
    with repo.writer_lock(settings.lock_timeout_s):
        repaired = repo.recover()
        bids_root = repo.root / BIDS_DIR
        labels_dir = repo.root / LABELS_DIR
        repaired += _remove_incomplete(bids_root)
        entries = scan_spool(settings.incoming)
        batch, report.remaining = entries[:limit], max(0, len(entries) - limit)
        sessions = _stored_sessions(bids_root)
        bad_sessions = _quarantined_sessions(settings.quarantine)
        done: list[Path] = []
        # Recordings first: a label is checked against its session's recordings.
        for entry in sorted(batch, key=lambda e: e.kind != "recording"):
            try:
                payload = entry.path.read_bytes()
            except FileNotFoundError:
                continue
            try:
                if entry.kind == "recording":
                    new = _store_recording(entry, payload, bids_root, sessions)
                    (report.recordings if new else report.duplicates).append(entry.key)
                elif entry.kind == "label":
                    new = _store_label(entry, payload, labels_dir, sessions, bad_sessions)
                    (report.labels if new else report.duplicates).append(entry.key)
                else:
                    raise _Quarantine(
                        "unexpected file name: the spool holds <session_id>_<day|month|year>"
                        ".brainrec and <session_id>_label.json files only", field="name")
                done.append(entry.path)
            except _Quarantine as bad:
                quarantine_file(entry.path, settings.quarantine, bad.reason, field=bad.field,
                                payload=payload)
                report.quarantined.append((entry.name, bad.reason))
                if entry.kind == "recording" and entry.session_id is not None:
                    bad_sessions.add(entry.session_id)
                log.warning("quarantined %s (%s)", entry.name,
                            "see its reason file" if entry.kind == "label" else bad.reason)
        _remove_incomplete(bids_root)  # a write that failed half-way leaves no file behind
        # A "duplicate" may be a file written by a run killed before its commit: `dvc add`
        # whenever the batch held anything (it is a no-op when all is committed).
        if batch or repaired or repo.is_dirty():
            report.commit = repo.commit(_message(report))
        report.pushed = repo.push()
        for path in done:  # only now is the data safe elsewhere
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                report.removed += 1
        if done:
            fsync_dir(settings.incoming)
    report.seconds = time.monotonic() - start
    if report.handled or report.commit:
        log.info("ingest: %d recording(s), %d label(s), %d duplicate(s), %d quarantined, "
                 "commit %s, %.2f s", len(report.recordings), len(report.labels),
                 len(report.duplicates), len(report.quarantined),
                 report.commit[:12] if report.commit else None, report.seconds)
    return report


def _message(report: IngestReport) -> str:
    lines = [f"Ingest {len(report.recordings)} recording(s) and {len(report.labels)} "
             "label(s)", ""]
    lines += [f"recording {key}" for key in report.recordings]
    lines += [f"label {key}" for key in report.labels]
    lines += [f"written before an interruption: {key}" for key in report.duplicates]
    return "\n".join(lines).strip() + "\n"


def _store_recording(entry: SpoolFile, payload: bytes, bids_root: Path,
                     sessions: dict[UUID, str]) -> bool:
    """Write one spooled recording as BIDS; True if new, False if already stored."""
    try:
        recording = decode_recording(payload)
    except CodecError as err:
        raise _Quarantine(str(err), field=err.field) from None
    if recording.session_id != entry.session_id or recording.phase.value != entry.phase:
        raise _Quarantine(
            f"the file name says session {entry.session_id} phase {entry.phase!r}, the "
            f"recording holds session {recording.session_id} phase "
            f"{recording.phase.value!r}", field="session_id")
    owner = sessions.get(recording.session_id)
    if owner is not None and owner != recording.subject:
        raise _Quarantine(
            f"session {recording.session_id} belongs to subject {owner!r} in the raw "
            f"repository; this recording names subject {recording.subject!r}",
            field="subject")
    target = bids.recording_path(bids_root, recording.subject, recording.session_id,
                                 recording.phase.value)
    existed = target.exists()
    try:
        bids.write_recording(recording, bids_root)
    except ConflictError:
        raise _Quarantine(
            f"a different recording of session {recording.session_id} phase "
            f"{recording.phase.value!r} is already in the raw repository; a phase cannot "
            "be replaced", field="body") from None
    except (InvalidInputError, ValueError, RuntimeError) as err:
        raise _Quarantine(f"cannot be written as BIDS: {err}", field="body") from None
    sessions[recording.session_id] = recording.subject
    return not existed


def _store_label(entry: SpoolFile, payload: bytes, labels_dir: Path,
                 sessions: dict[UUID, str], bad_sessions: set[UUID]) -> bool:
    """Store one spooled label; True if new, False if already stored."""
    try:
        label = parse_label(payload, source=entry.name)
    except InvalidInputError as err:
        raise _Quarantine(str(err), field=err.field) from None
    if label.session_id != entry.session_id:
        raise _Quarantine(f"the file name says session {entry.session_id}, the label holds "
                          f"session {label.session_id}", field="session_id")
    owner = sessions.get(label.session_id)
    if owner is None and label.session_id in bad_sessions:
        raise _Quarantine(
            f"label for a malformed session: every recording of session {label.session_id} "
            "was quarantined, none is stored", field="session_id")
    if owner is not None and owner != label.subject:
        raise _Quarantine(
            f"the label names subject {label.subject!r}, the recordings of session "
            f"{label.session_id} subject {owner!r}", field="subject")
    path = label_path(labels_dir, label.session_id)
    if path.exists():
        try:
            stored = read_label(path)
        except InvalidInputError:
            stored = None  # unreadable: replaced below
        if stored == label:
            return False
        if stored is not None:
            raise _Quarantine(
                f"a different label of session {label.session_id} is already stored; a "
                "label cannot be replaced", field="birthdate")
    write_label(labels_dir, label)
    return True


def _stored_sessions(bids_root: Path) -> dict[UUID, str]:
    """Session -> subject, for every session with at least one complete recording."""
    sessions = {}
    for vhdr in bids_root.glob("sub-*/ses-*/eeg/*_eeg.vhdr"):
        ses = vhdr.parent.parent.name[4:]
        if re.fullmatch(r"[0-9a-f]{32}", ses):
            sessions[UUID(hex=ses)] = vhdr.parent.parent.parent.name[4:]
    return sessions


def _quarantined_sessions(quarantine_dir: Path) -> set[UUID]:
    found = set()
    for item in list_quarantine(quarantine_dir):
        match = _SPOOL_NAME.match(item.original)
        if match and match["phase"]:
            found.add(UUID(match["session"]))
    return found


def _remove_incomplete(bids_root: Path) -> list[str]:
    """Delete the files of recordings whose ``.vhdr`` (always moved in last) is missing."""
    removed = []
    for eeg_dir in bids_root.glob("sub-*/ses-*/eeg"):
        groups: dict[str, list[Path]] = {}
        for path in eeg_dir.iterdir():
            match = re.match(r"^(sub-[^_]+_ses-[^_]+_task-[^_]+)_", path.name)
            if match:
                groups.setdefault(match[1], []).append(path)
        incomplete = [base for base in groups
                      if not (eeg_dir / f"{base}_{_VHDR_SUFFIX}").exists()]
        for base in incomplete:
            for path in groups[base]:
                path.unlink()
                removed.append(f"incomplete {path.name}")
        if incomplete:
            _drop_missing_scans(eeg_dir.parent)
        if not any(eeg_dir.iterdir()):
            eeg_dir.rmdir()
    if removed:
        log.warning("removed %d file(s) of incomplete recordings", len(removed))
    return removed


def _drop_missing_scans(session_dir: Path) -> None:
    """Drop scans.tsv rows of files that are not there (brain_core.bids adds the row first)."""
    for scans in session_dir.glob("*_scans.tsv"):
        lines = scans.read_text(encoding="utf-8").splitlines()
        if not lines:
            continue
        column = lines[0].split("\t").index("filename") if "filename" in lines[0] else 0
        kept = [lines[0]] + [
            line for line in lines[1:]
            if line.strip() and (session_dir / line.split("\t")[column]).exists()]
        if len(kept) == 1:
            scans.unlink()
        elif len(kept) < len(lines):
            atomic_write(scans, ("\n".join(kept) + "\n").encode())


# --------------------------------------------------------------------------- label keys


@dataclass(frozen=True)
class ReencryptReport:
    """What :func:`reencrypt_labels` did."""

    labels: int
    rewritten: int
    commit: str | None
    pushed: bool


def reencrypt_labels(settings: Settings) -> ReencryptReport:
    """Rewrite every label not yet encrypted under the current key, in one commit.

    Serves both key rotation (after ``brain data keygen --add``) and the migration of
    labels stored before encryption (plain JSON). Labels already under the current key
    keep their bytes. Older revisions keep their old label objects in DVC's cache and
    remote: keep the old key in the key file as long as those revisions matter.

    Raises
    ------
    LabelKeyError
        Without a key, or when a label's key is missing from the key file (nothing is
        committed then).
    """
    repo = raw_repository(settings.raw_repo)
    repo.require()
    keys = load_label_keys()
    rewritten = 0
    with repo.writer_lock(settings.lock_timeout_s):
        repo.recover()
        paths = sorted((repo.root / LABELS_DIR).glob("*.json"))
        for path in paths:
            before = path.read_bytes()
            write_label(path.parent, read_label(path, keys=keys), keys=keys)
            rewritten += path.read_bytes() != before
        commit = repo.commit(f"Re-encrypt {rewritten} label(s) under the current key\n") \
            if rewritten else None
        pushed = repo.push()
    log.info("re-encrypted %d of %d label(s)", rewritten, len(paths))
    return ReencryptReport(labels=len(paths), rewritten=rewritten, commit=commit,
                           pushed=pushed)


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class RepoState:
    """Where a repository stands."""

    path: str
    initialised: bool
    revision: str | None = None
    remote: str | None = None
    pushed: bool = False
    uncommitted: bool = False


def repo_state(repo: VersionedRepo) -> RepoState:
    if not repo.exists():
        return RepoState(path=str(repo.root), initialised=False)
    head = repo.head()
    return RepoState(path=str(repo.root), initialised=True, revision=head,
                     remote=repo.remote_url(),
                     pushed=head is not None and repo.pushed_revision() == head,
                     uncommitted=repo.is_dirty())


@dataclass(frozen=True)
class RawStatus:
    """What the raw repository holds (at HEAD) and what waits in the spool."""

    repository: RepoState
    subjects: int = 0
    sessions: int = 0
    recordings: dict[str, int] = field(default_factory=dict)
    labels: int = 0
    labelled_sessions: int = 0
    spool: dict[str, int] = field(default_factory=dict)
    quarantine: list[QuarantinedFile] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def raw_status(settings: Settings) -> RawStatus:
    """The raw repository's content at HEAD, the spool and the quarantine (no lock)."""
    repo = raw_repository(settings.raw_repo)
    state = repo_state(repo)
    spool = Counter(entry.kind for entry in scan_spool(settings.incoming))
    spool_counts = {"recordings": spool["recording"], "labels": spool["label"],
                    "other": spool["unknown"]}
    quarantine = list_quarantine(settings.quarantine)
    if not state.initialised or state.revision is None:
        return RawStatus(repository=state, spool=spool_counts, quarantine=quarantine)
    recordings = committed_recordings(repo)
    labels = committed_labels(repo)
    sessions = {r.session_id for r in recordings}
    return RawStatus(
        repository=state,
        subjects=len({r.subject for r in recordings}),
        sessions=len(sessions),
        recordings={phase: sum(r.phase == phase for r in recordings) for phase in PHASES},
        labels=len(labels),
        labelled_sessions=len(sessions & set(labels)),
        spool=spool_counts,
        quarantine=quarantine,
    )
