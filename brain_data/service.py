"""The spool watcher: ``python -m brain_data`` keeps the raw repository up to date.

It wakes on file events in ``<spool_dir>/incoming`` (watchdog) and at least every
``rescan_interval_s`` (events can be missed: a full rescan catches what they did not
say), waits ``settle_s`` for more arrivals, then calls
:func:`~brain_data.raw.ingest_once` until the spool is empty. A failed batch (remote
down, disk full) is retried with a growing pause up to ``retry_max_s``; the spool keeps
its files meanwhile. SIGTERM or SIGINT stops it after the current batch.
"""

from __future__ import annotations

import logging
import threading
import time

from brain_core.errors import BrainError
from brain_data.config import Settings
from brain_data.raw import IngestReport, ingest_once

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
    try:
        while not stop.is_set():
            try:
                drain(settings, stop)
                delay = 0.0
            except BrainError as err:  # git, DVC or the remote failed: the spool keeps all
                delay = min(max(2 * delay, 1.0), settings.retry_max_s)
                log.error("ingest failed, retrying in %.0f s: %s", delay, err)
            except OSError as err:
                delay = min(max(2 * delay, 1.0), settings.retry_max_s)
                log.error("ingest failed (%s), retrying in %.0f s", err, delay)
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
