"""The outbox: every phase and label is on disk before any network call.

Layout under ``root``::

    pending/<created_ns>_<session_id>_<phase>.brainrec   encoded recordings to send
    pending/<created_ns>_<session_id>_label.json         labels to send
    rejected/<same name>  (+ <name>.reason.txt)          refused by the receiver

A file is written to a temporary name, fsynced and renamed, so a crash leaves either no
file or a whole one. It leaves ``pending/`` only after the receiver answered: deleted on
200 (accepted, or the same content accepted before), moved to ``rejected/`` on 409 (the
receiver already holds different content for that key) or another 4xx (retrying cannot
help). When the receiver cannot be reached the file stays and :meth:`Outbox.flush` stops;
it is sent again at the next flush. Re-sending something the receiver already took is
harmless: uploads are idempotent, so nothing is ever stored twice.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from brain_core.codec import encode_recording
from brain_core.errors import ConflictError, DependencyError, InvalidInputError
from brain_core.files import atomic_write
from brain_core.files import fsync_dir as _fsync_dir
from brain_core.models import Label, Recording
from brain_core.upload import UploadRejected

log = logging.getLogger(__name__)

PHASE_SUFFIX = ".brainrec"
LABEL_SUFFIX = ".json"


@dataclass(frozen=True)
class OutboxItem:
    """A file waiting in the outbox: a phase (``phase`` set) or a label."""

    path: Path
    session_id: UUID
    phase: str | None

    @property
    def kind(self) -> str:
        return "label" if self.phase is None else "phase"

    @property
    def key(self) -> tuple[UUID, str]:
        return self.session_id, self.phase or "label"

    @classmethod
    def from_path(cls, path: Path) -> OutboxItem | None:
        """Parse ``<created_ns>_<session_id>_<phase|label>.<suffix>``; None otherwise."""
        parts = path.name.split(".", 1)[0].split("_")
        if len(parts) != 3 or path.name.startswith("."):
            return None
        try:
            session_id = UUID(parts[1])
        except ValueError:
            return None
        what = parts[2]
        if path.suffix == PHASE_SUFFIX and what in ("day", "month", "year"):
            return cls(path, session_id, what)
        if path.suffix == LABEL_SUFFIX and what == "label":
            return cls(path, session_id, None)
        return None


@dataclass
class FlushResult:
    """What one flush did.

    ``sent`` maps ``(session_id, phase or "label")`` to the receiver's answer;
    ``rejected`` to the reason; ``unreachable`` says why sending stopped (the rest stays
    pending); ``busy`` is True if another flush held the outbox.
    """

    sent: dict[tuple[UUID, str], dict[str, Any]] = field(default_factory=dict)
    rejected: dict[tuple[UUID, str], str] = field(default_factory=dict)
    unreachable: str | None = None
    pending: int = 0
    busy: bool = False


class Outbox:
    """Phases and labels kept on disk until the receiver has them.

    Parameters
    ----------
    root : Path
        The outbox folder (created on first write, never at import or construction).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.pending_dir = self.root / "pending"
        self.rejected_dir = self.root / "rejected"

    def prepare(self) -> None:
        for folder in (self.pending_dir, self.rejected_dir):
            folder.mkdir(parents=True, exist_ok=True)

    # -- writing -----------------------------------------------------------------------

    def _name(self, session_id: UUID, what: str, suffix: str) -> Path:
        return self.pending_dir / f"{time.time_ns():020d}_{session_id}_{what}{suffix}"

    def put_recording(self, recording: Recording) -> Path:
        """Encode ``recording`` and store it; returns its path."""
        self.prepare()
        path = self._name(recording.session_id, recording.phase.value, PHASE_SUFFIX)
        atomic_write(path, encode_recording(recording))
        log.info("outbox: stored %s %s", recording.session_id, recording.phase.value)
        return path

    def put_label(self, session_id: UUID, subject: str, birthdate: date) -> Path:
        """Validate and store a session's label; returns its path."""
        label = Label(session_id=session_id, subject=subject, birthdate=birthdate)
        self.prepare()
        path = self._name(session_id, "label", LABEL_SUFFIX)
        payload = {"session_id": str(label.session_id), "subject": label.subject,
                   "birthdate": label.birthdate.isoformat()}
        atomic_write(path, json.dumps(payload).encode())
        log.info("outbox: stored the label of %s", session_id)
        return path

    # -- reading -----------------------------------------------------------------------

    def _items(self, folder: Path) -> list[OutboxItem]:
        if not folder.is_dir():
            return []
        items = (OutboxItem.from_path(p) for p in sorted(folder.iterdir()))
        return [item for item in items if item is not None]

    def pending(self) -> list[OutboxItem]:
        """Items waiting to be sent, oldest first."""
        return self._items(self.pending_dir)

    def rejected(self) -> list[OutboxItem]:
        """Items the receiver refused."""
        return self._items(self.rejected_dir)

    # -- sending -----------------------------------------------------------------------

    def flush(self, client) -> FlushResult:
        """Send every pending item, oldest first, through ``client``.

        ``client`` has ReceiverClient's ``upload_phase(bytes, session_id=, phase=)`` and
        ``upload_label(session_id, subject, birthdate)``. Stops at the first
        DependencyError (receiver unreachable or failing); the rest waits.
        """
        result = FlushResult()
        if not self.pending_dir.is_dir():
            return result
        with _exclusive(self.root / ".flush.lock") as locked:
            if not locked:
                result.busy = True
                result.pending = len(self.pending())
                return result
            for item in self.pending():
                try:
                    answer = self._send(client, item)
                except DependencyError as err:
                    result.unreachable = str(err)
                    log.warning("outbox: receiver unreachable, %s waits: %s", item.path.name,
                                err)
                    break
                except (ConflictError, UploadRejected, InvalidInputError) as err:
                    if _is_auth_error(err):
                        # Wrong credentials are the collector's problem, not the data's:
                        # keep everything until they are fixed.
                        result.unreachable = f"the receiver refused the credentials: {err}"
                        break
                    self._reject(item, err)
                    result.rejected[item.key] = str(err)
                    continue
                except FileNotFoundError:
                    continue  # sent by another process in the meantime
                item.path.unlink(missing_ok=True)
                _fsync_dir(self.pending_dir)
                result.sent[item.key] = answer
                log.info("outbox: sent %s", item.path.name)
            result.pending = len(self.pending())
        return result

    def _send(self, client, item: OutboxItem) -> dict[str, Any]:
        payload = item.path.read_bytes()
        if item.phase is not None:
            return client.upload_phase(payload, session_id=item.session_id, phase=item.phase)
        label = json.loads(payload)
        return client.upload_label(item.session_id, label["subject"],
                                   date.fromisoformat(label["birthdate"]))

    def _reject(self, item: OutboxItem, err: Exception) -> None:
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        target = self.rejected_dir / item.path.name
        atomic_write(target.with_name(target.name + ".reason.txt"),
                     f"{type(err).__name__}: {err}\n".encode())
        os.replace(item.path, target)
        _fsync_dir(self.rejected_dir)
        _fsync_dir(self.pending_dir)
        log.warning("outbox: the receiver refused %s: %s", item.path.name, err)


def _is_auth_error(err: Exception) -> bool:
    return isinstance(err, UploadRejected) and any(f"({code})" in str(err)
                                                   for code in (401, 403))


class _exclusive:
    """Non-blocking exclusive lock on a file: ``with _exclusive(path) as locked``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> bool:
        self.fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            self.fd = None
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

