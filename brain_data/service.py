"""The spool watcher: ``python -m brain_data`` keeps the raw repository up to date.

It wakes on file events in ``<spool_dir>/incoming`` (watchdog) and at least every
``rescan_interval_s`` (events can be missed: a full rescan catches what they did not
say), waits ``settle_s`` for more arrivals, then calls
:func:`~brain_data.raw.ingest_once` until the spool is empty. A failed batch (remote
down, disk full) is retried with a growing pause up to ``retry_max_s``; the spool keeps
its files meanwhile. SIGTERM or SIGINT stops it after the current batch.

Having no HTTP endpoint, it states its health in a file, ``.dvc/tmp/brain-data-health.json``
in the raw repository (:func:`read_health`): ``ok``, or ``degraded`` with the dependency
that fails (``raw_remote`` unreachable: the data is committed and waits to be pushed;
``raw_repository``: git or DVC failed locally) and the last error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from brain_core.errors import BrainError
from brain_core.files import atomic_write
from brain_data.config import Settings
from brain_data.raw import IngestReport, ingest_once, scan_spool
from brain_data.repository import RemoteError

log = logging.getLogger(__name__)


def drain(settings: Settings, stop: threading.Event | None = None) -> list[IngestReport]:
    """Ingest batches until the spool holds nothing more to take (or ``stop`` is set)."""
    from brain_data.airflow_notify import AirflowNotifier

    notifier = AirflowNotifier(settings.airflow_url, settings.airflow_username)
    reports = []
    while stop is None or not stop.is_set():
        report = ingest_once(settings)
        reports.append(report)
        if report.commit and (report.recordings or report.labels):
            notifier.raw_changed(report.commit)
        if report.remaining == 0:
            break
    return reports


def health_path(settings: Settings) -> Path:
    """Where the service states its health (local state of the raw repository, not in git)."""
    return settings.raw_repo / ".dvc" / "tmp" / "brain-data-health.json"


def read_health(settings: Settings) -> dict[str, Any] | None:
    """The service's last stated health; None before it first ran."""
    try:
        return json.loads(health_path(settings).read_bytes())
    except (FileNotFoundError, ValueError):
        return None


class _Health:
    """The service's health, written to :func:`health_path` whenever it changes."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._state: dict[str, Any] = {}

    def ok(self) -> None:
        self._write({"raw_remote": "ok", "raw_repository": "ok"}, None)

    def failed(self, err: Exception) -> None:
        if isinstance(err, RemoteError):
            dependencies = {"raw_remote": "unreachable", "raw_repository": "ok"}
        else:
            dependencies = {"raw_remote": "unknown", "raw_repository": "error"}
        self._write(dependencies, f"{type(err).__name__}: {str(err)[:300]}")

    def _write(self, dependencies: dict[str, str], error: str | None) -> None:
        status = "ok" if error is None else "degraded"
        waiting = len(scan_spool(self._settings.incoming))
        now = datetime.now(UTC).isoformat(timespec="seconds")
        previous = self._state
        if (previous.get("dependencies"), previous.get("last_error"),
                previous.get("spool_waiting")) == (dependencies, error, waiting):
            return
        self._state = {
            "status": status, "dependencies": dependencies, "last_error": error,
            "since": previous.get("since") if previous.get("status") == status else now,
            "updated": now, "spool_waiting": waiting}
        atomic_write(health_path(self._settings),
                     (json.dumps(self._state, indent=2) + "\n").encode())


def run_service(settings: Settings, stop: threading.Event | None = None) -> None:
    """Watch the spool and ingest until ``stop`` is set.

    Parameters
    ----------
    settings : Settings
        The raw repository must exist (``brain data init``).
    stop : threading.Event | None
        Set it to stop; the batch under way finishes first.
    """
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    stop = stop or threading.Event()
    wake = threading.Event()

    class _Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if event.event_type in ("created", "moved", "closed"):
                wake.set()

    settings.incoming.mkdir(parents=True, exist_ok=True)
    observer = Observer()
    observer.schedule(_Wake(), str(settings.incoming), recursive=False)
    observer.start()
    log.info("watching %s for the raw repository %s", settings.incoming, settings.raw_repo)
    delay = 0.0
    health = _Health(settings)
    try:
        while not stop.is_set():
            try:
                drain(settings, stop)
                delay = 0.0
                health.ok()
            except (BrainError, OSError) as err:  # git, DVC or the remote failed: the
                delay = min(max(2 * delay, 1.0), settings.retry_max_s)  # spool keeps all
                log.error("ingest failed, retrying in %.0f s: %s", delay, err)
                health.failed(err)
            # Short slices, so that a stop request is noticed within half a second.
            deadline = time.monotonic() + (delay or settings.rescan_interval_s)
            while not (stop.is_set() or wake.is_set()) and time.monotonic() < deadline:
                wake.wait(0.5)
            if wake.is_set() and not stop.is_set() and settings.settle_s:
                stop.wait(settings.settle_s)  # let a burst of arrivals land in one batch
            wake.clear()
    finally:
        observer.stop()
        observer.join(timeout=10)
        log.info("stopped watching %s", settings.incoming)
