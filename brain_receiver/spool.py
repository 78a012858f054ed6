"""The input spool: where accepted uploads wait for brain_data.

Layout (the contract with brain_data)::

    <spool_dir>/incoming/<session_id>_<phase>.brainrec   one encoded recording
    <spool_dir>/incoming/<session_id>_label.json         one label (JSON)

Files appear only by an atomic rename of a fsynced temporary file (names starting with
``.tmp-`` are never complete), so a reader sees either nothing or a whole file. The
receiver's own record of what it accepted (content digest and the prediction it
answered) lives in ``<state_dir>/accepted/`` and is kept after brain_data has taken the
spool file, so a retry is recognised for as long as the state lasts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from brain_core.errors import ConflictError
from brain_core.files import TMP_PREFIX, atomic_write  # noqa: F401 - re-exported


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed), so that several receiver
    processes sharing a folder agree too, not only the threads of one."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class Accepted:
    """What the receiver recorded about one accepted upload."""

    key: str
    sha256: str
    size: int
    received_at: str
    collector: str
    response: dict[str, Any] | None

    def to_json(self) -> bytes:
        return json.dumps(self.__dict__, sort_keys=True).encode()


class Spool:
    """Idempotent, crash-safe storage of uploads for brain_data."""

    def __init__(self, spool_dir: Path, state_dir: Path) -> None:
        self.incoming = spool_dir / "incoming"
        self.accepted = state_dir / "accepted"
        self._locks = state_dir / "locks"

    def prepare(self) -> None:
        for folder in (self.incoming, self.accepted, self._locks):
            folder.mkdir(parents=True, exist_ok=True)

    def _locked(self, key: str) -> contextlib.AbstractContextManager[None]:
        return file_lock(self._locks / f"{key}.lock")

    @staticmethod
    def key(session_id: UUID, what: str) -> str:
        return f"{session_id}_{what}"

    def spool_path(self, key: str, suffix: str) -> Path:
        return self.incoming / f"{key}{suffix}"

    def lookup(self, key: str) -> Accepted | None:
        try:
            return Accepted(**json.loads((self.accepted / f"{key}.json").read_bytes()))
        except FileNotFoundError:
            return None

    def accept(self, key: str, payload: bytes, suffix: str,
               collector: str) -> tuple[Accepted, bool]:
        """Store ``payload`` under ``key`` once.

        Returns the record and True when it is new; the same content again returns the
        first record and False; different content raises ConflictError.
        """
        digest = hashlib.sha256(payload).hexdigest()
        with self._locked(key):
            previous = self.lookup(key)
            if previous is not None:
                if previous.sha256 != digest:
                    raise ConflictError(
                        f"{key.replace('_', ' ', 1)} was already uploaded with different "
                        "content; a phase cannot be replaced."
                    )
                return previous, False
            # The spool file first: a crash before the record is written is retried as new.
            atomic_write(self.spool_path(key, suffix), payload)
            record = Accepted(key=key, sha256=digest, size=len(payload),
                              received_at=datetime.now(UTC).isoformat(),
                              collector=collector, response=None)
            atomic_write(self.accepted / f"{key}.json", record.to_json())
            return record, True

    def remember_response(self, record: Accepted, response: dict[str, Any]) -> Accepted:
        """Keep the answer given for ``record``, so a retry gets the same answer."""
        updated = Accepted(**{**record.__dict__, "response": response})
        with self._locked(record.key):
            atomic_write(self.accepted / f"{record.key}.json", updated.to_json())
        return updated
