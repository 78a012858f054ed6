"""The drift outbox: every new recording reaches the drift service, even if it was down.

Layout under ``<state_dir>/drift-outbox/``::

    <created_ns>-<sha256 prefix>.brainrec   one encoded recording waiting for drift
    .send.lock                              held while one file is being sent

An upload writes its recording here (atomically, :func:`brain_core.files.atomic_write`)
and returns at once; a background thread sends the files oldest first and deletes each
only after drift answered 2xx. A 4xx means drift refused that recording for good (it
would refuse it again): it is logged, counted and deleted. No answer or a 5xx keeps the
file and retries after a backoff (0.5 s doubling up to ``max_backoff_s``). Files left by
a previous run are sent when the receiver starts again.

The outbox is bounded by ``max_bytes``: when a new file takes it over, the OLDEST files
are deleted (with a warning naming how many) - drift compares recent sessions, so the
newest recordings are the ones worth keeping.

Delivery is at least once: a receiver killed between drift's 2xx and the deletion sends
that recording again after its restart. The send lock keeps several receiver processes
sharing a state folder from sending the same file at the same time.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from brain_core.codec import MEDIA_TYPE
from brain_core.files import atomic_write, fsync_dir
from brain_receiver.clients import DependencyHealth, response_detail
from brain_receiver.spool import file_lock

log = logging.getLogger(__name__)

SUFFIX = ".brainrec"
MIN_BACKOFF_S = 0.5


class DriftOutbox:
    """Recordings on disk until the drift service has them.

    Parameters
    ----------
    folder : Path
        The outbox folder (created by :meth:`start`).
    client : httpx.Client or None
        Client with drift's base URL; None when drift is not configured (nothing is
        queued then).
    health : DependencyHealth
        Where each attempt's outcome is recorded, for ``/health``.
    max_bytes : int
        Bound of the outbox; the oldest files go first.
    max_backoff_s : float
        Longest wait between retries while drift is down.
    """

    def __init__(self, folder: Path, client: httpx.Client | None, health: DependencyHealth,
                 *, max_bytes: int, max_backoff_s: float = 60.0) -> None:
        self.folder = folder
        self._client, self.health = client, health
        self.max_bytes, self.max_backoff_s = max_bytes, max(max_backoff_s, MIN_BACKOFF_S)
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._counts_lock = threading.Lock()
        self.counts = {"sent": 0, "rejected": 0, "dropped": 0}

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Create the folder and start sending, beginning with what a previous run left."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._client is None:
            return
        self._wake.set()
        self._thread = threading.Thread(target=self._run, name="drift-outbox", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the file being sent (if any); what is left is sent at the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- queueing ----------------------------------------------------------------------

    def put(self, payload: bytes) -> None:
        """Keep ``payload`` for drift and wake the sender; never raises for drift's sake."""
        if self._client is None:
            return
        digest = hashlib.sha256(payload).hexdigest()[:16]
        try:
            atomic_write(self.folder / f"{time.time_ns():020d}-{digest}{SUFFIX}", payload)
        except OSError as err:  # the upload is in the spool already; drift misses one
            self._count("dropped")
            log.warning("drift outbox: could not keep a recording for drift: %s", err)
            return
        self._enforce_cap()
        self._wake.set()

    def pending(self) -> list[Path]:
        """Files waiting for drift, oldest first."""
        try:
            return sorted(p for p in self.folder.iterdir()
                          if p.suffix == SUFFIX and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    def stats(self) -> dict[str, Any]:
        """Backlog and counters since start, for ``/health``."""
        pending = self.pending()
        with self._counts_lock:
            counts = dict(self.counts)
        return {"pending": len(pending), "pending_bytes": _total_size(pending),
                "max_bytes": self.max_bytes, **counts}

    def _count(self, what: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[what] += n

    def _enforce_cap(self) -> None:
        pending = self.pending()
        sizes = [_size(p) for p in pending]
        total, dropped = sum(sizes), 0
        for path, size in zip(pending, sizes, strict=True):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total, dropped = total - size, dropped + 1
        if dropped:
            fsync_dir(self.folder)
            self._count("dropped", dropped)
            log.warning("drift outbox above %d bytes: dropped the %d oldest recording(s) "
                        "drift had not received yet", self.max_bytes, dropped)

    # -- sending -----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            if backoff:
                self._stop.wait(backoff)  # new uploads do not shorten a backoff
            else:
                self._wake.wait()
                self._wake.clear()
            if self._stop.is_set():
                return
            backoff = 0.0 if self._drain() else min(max(2 * backoff, MIN_BACKOFF_S),
                                                     self.max_backoff_s)

    def _drain(self) -> bool:
        """Send every pending file; False when drift could not take one (retry later)."""
        for path in self.pending():
            if self._stop.is_set():
                return True
            try:
                if not self._send(path):
                    return False
            except Exception:  # the sender must outlive any surprise; the file stays
                log.exception("drift outbox: sending %s failed", path.name)
                return False
        return True

    def _send(self, path: Path) -> bool:
        assert self._client is not None
        with file_lock(self.folder / ".send.lock"):
            try:
                payload = path.read_bytes()
            except FileNotFoundError:
                return True  # sent by another receiver process, or dropped by the cap
            try:
                response = self._client.post("/v1/recordings", content=payload,
                                             headers={"Content-Type": MEDIA_TYPE})
            except httpx.HTTPError as err:
                self.health.record(None)
                log.warning("drift unreachable, %d recording(s) wait in the outbox: %s",
                            len(self.pending()), err)
                return False
            self.health.record(response.status_code)
            if response.status_code >= 500:
                log.warning("drift answered %s, the recording waits: %s",
                            response.status_code, response_detail(response))
                return False
            if response.status_code >= 400:
                self._count("rejected")
                log.warning("drift refused %s for good (%s: %s); dropped", path.name,
                            response.status_code, response_detail(response))
            else:
                self._count("sent")
            path.unlink(missing_ok=True)
            fsync_dir(self.folder)
            return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _total_size(paths: list[Path]) -> int:
    return sum(_size(p) for p in paths)
