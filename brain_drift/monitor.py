"""The drift monitor: a rolling window of recent sessions, checked against the reference.

Recordings come in one by one (``submit``, which only queues them, so an upload is
answered at once); a background thread turns each into its session's features (one row
per session, the mean over its phases) and checks the window whenever it changed, one
check at a time: sessions that arrive during a check are all covered by the next one, so
a burst of uploads costs two checks, not one per upload.

States, and what Uptime Kuma is told (``up``/``down``):

======================  ======  =====================================================
state                   status  meaning
======================  ======  =====================================================
``no_reference``        down    no reference table: drift cannot be judged
``filling``             up      fewer than ``min_sessions`` sessions seen so far
``ok``                  up      the last check found no drift
``drifting``            down    the last check found drift
======================  ======  =====================================================

Listeners hear about a change of *status* only (``ok -> drifting`` once per episode;
``drifting -> drifting`` is not news), which is what makes one drift episode one alert.
The window and the state survive a restart (``state.json`` in ``reports_dir``), so a
restart in the middle of an episode does not alert again.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from brain_core.errors import BrainError, DependencyError
from brain_core.models import Recording
from brain_drift import evidently_report
from brain_drift.evidently_report import DriftCheck, DriftRule
from brain_drift.features import (
    FEATURE_VERSION,
    feature_columns,
    recording_features,
    session_row,
)
from brain_drift.reference import load_reference
from brain_drift.storage import ReportStore, atomic_write, json_ready

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
_STATE_VERSION = 1


class DriftState(StrEnum):
    no_reference = "no_reference"
    filling = "filling"
    ok = "ok"
    drifting = "drifting"


#: What Uptime Kuma is told in each state.
PUSH_STATUS: dict[DriftState, str] = {
    DriftState.no_reference: "down",
    DriftState.filling: "up",
    DriftState.ok: "up",
    DriftState.drifting: "down",
}

Listener = Callable[[str, str], None]


@dataclass
class _Session:
    subject: str
    first_seen: str
    recordings: dict[str, dict[str, float]] = field(default_factory=dict)

    def row(self, session_id: str) -> dict[str, Any]:
        return session_row(session_id, self.subject, self.recordings.values())


class DriftMonitor:
    """Keeps the window, runs the checks, saves the reports, tracks the state.

    Parameters
    ----------
    reports_dir : Path
        Reports go to ``reports_dir/reports``; the state to ``reports_dir/state.json``.
    reference_path : Path
        The reference table; re-read when it changes (checked every ``poll_s``).
    window_size : int
        Most recent sessions compared with the reference.
    min_sessions : int
        Sessions needed before the first check.
    rule : DriftRule
        Test threshold and dataset rule.
    keep_reports : int
        Reports kept on disk.
    detailed : bool
        Per-feature p-values and plots in every report (see :func:`check_drift`).
    poll_s : float
        How often the reference file is looked at, in s.
    max_queue : int
        Recordings that may wait for their features; beyond, :meth:`submit` refuses.
    """

    def __init__(self, reports_dir: Path, reference_path: Path, *, window_size: int = 20,
                 min_sessions: int = 10, rule: DriftRule | None = None, keep_reports: int = 20,
                 detailed: bool = True, poll_s: float = 2.0, max_queue: int = 200) -> None:
        self.reports_dir = Path(reports_dir)
        self.reference_path = Path(reference_path)
        self.window_size = int(window_size)
        self.min_sessions = int(min_sessions)
        self.rule = rule or DriftRule()
        self.detailed = detailed
        self.poll_s = poll_s
        self.reports = ReportStore(self.reports_dir / "reports", keep_reports)
        self._listeners: list[Listener] = []
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._window: OrderedDict[str, _Session] = OrderedDict()
        self._queue: deque[Recording] = deque()
        self.max_queue = max_queue
        self._failed = 0  # recordings whose features could not be computed
        self._received = 0  # recordings added since the window was first created
        self._covered = 0  # ``_received`` when the last check started
        self._checking = False
        self._state = DriftState.no_reference
        self._state_since = datetime.now(UTC).isoformat()
        self._message = "starting"
        self._reference: pd.DataFrame | None = None
        self._reference_sig: tuple[int, int] | None = None
        self._reference_error: str | None = None
        self._force_check = False
        self._last_check: dict[str, Any] | None = None

    # ------------------------------------------------------------------ lifecycle

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(status, message)`` whenever the pushed status changes."""
        self._listeners.append(listener)

    def start(self, background: bool = True) -> None:
        """Restore the saved window and state, load the reference, start checking.

        With ``background=False`` no thread starts: call :meth:`check_once` yourself.
        """
        self.reports_dir.mkdir(parents=True, exist_ok=True)
        self._restore()
        self.reload_reference()
        if background:
            self._thread = threading.Thread(target=self._run, name="drift-check",
                                            daemon=True)
            self._thread.start()
            self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop checking (waits for a running check to end) and save the state.

        Recordings still queued are dropped: the receiver's spool keeps every recording,
        and the window only needs recent ones."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._save()

    # ------------------------------------------------------------------ input

    def submit(self, recording: Recording) -> int:
        """Queue a recording for the background thread; returns the queue's length.

        Raises
        ------
        DependencyError
            When ``max_queue`` recordings already wait (the checks cannot keep up).
        """
        with self._lock:
            if len(self._queue) >= self.max_queue:
                raise DependencyError(
                    f"The drift monitor is busy: {len(self._queue)} recordings wait for "
                    "their features; try again later.")
            self._queue.append(recording)
            queued = len(self._queue)
        self._wake.set()
        return queued

    def _drain(self) -> None:
        """Compute the features of every queued recording and put them in the window."""
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    return
                recording = self._queue[0]
            try:
                features = recording_features(recording)
            except Exception:  # one odd recording must not stop the monitor
                log.exception("features of session %s (%s) failed; recording skipped",
                              recording.session_id, recording.phase.value)
                with self._lock:
                    self._failed += 1
            else:
                self.add(str(recording.session_id), recording.subject,
                         recording.phase.value, features)
            with self._lock:
                self._queue.popleft()

    def add(self, session_id: str, subject: str, phase: str, features: Mapping[str, float]
            ) -> dict[str, Any]:
        """Put one recording's features into the window; returns the window's fill.

        The same (session, phase) sent again replaces its features: a retried upload
        does not count twice.
        """
        key = str(session_id)
        with self._lock:
            entry = self._window.get(key)
            if entry is None:
                entry = _Session(subject=subject, first_seen=datetime.now(UTC).isoformat())
                self._window[key] = entry
                while len(self._window) > self.window_size:
                    self._window.popitem(last=False)
            entry.recordings[str(phase)] = {k: float(v) for k, v in features.items()}
            self._received += 1
            fill = {"sessions": len(self._window), "size": self.window_size,
                    "min_sessions": self.min_sessions}
        self._save()
        self._wake.set()
        return fill

    # ------------------------------------------------------------------ output

    def current(self) -> tuple[str, str]:
        """The status to push (``up``/``down``) and its one-line message."""
        with self._lock:
            return PUSH_STATUS[self._state], self._message

    @property
    def state(self) -> DriftState:
        return self._state

    def health(self) -> dict[str, Any]:
        """State, window fill, reference and last check, for ``/health``."""
        with self._lock:
            reference = None
            if self._reference is not None:
                reference = {"path": str(self.reference_path),
                             "sessions": len(self._reference),
                             "features": len(feature_columns(self._reference))}
            return {
                "state": self._state.value,
                "status": PUSH_STATUS[self._state],
                "message": self._message,
                "state_since": self._state_since,
                "window": {"sessions": len(self._window), "size": self.window_size,
                           "min_sessions": self.min_sessions},
                "recordings_queued": len(self._queue),
                "recordings_received": self._received,
                "recordings_checked": self._covered,
                "recordings_failed": self._failed,
                "checking": (self._checking or bool(self._queue)
                             or self._covered < self._received),
                "reference": reference,
                "reference_error": self._reference_error,
                "last_check": self._last_check,
            }

    def window_table(self) -> pd.DataFrame:
        """The window's session rows, oldest first."""
        with self._lock:
            rows = [entry.row(key) for key, entry in self._window.items()]
        return pd.DataFrame(rows)

    # ------------------------------------------------------------------ checking

    def _run(self) -> None:
        try:
            evidently_report.warm_up()  # seconds of imports, paid before the first check
        except Exception:  # pragma: no cover - the first check will report it
            log.exception("could not import Evidently")
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._drain()
                self.reload_reference()
                self.check_once()
            except Exception as err:  # the monitor must outlive any single bad check
                log.exception("drift check failed")
                with self._lock:
                    self._last_check = {"time": datetime.now(UTC).isoformat(),
                                        "error": f"{type(err).__name__}: {err}"}

    def check_once(self) -> DriftCheck | None:
        """Check the window now if it changed since the last check; None if not checked."""
        with self._lock:
            if self._reference is None:
                self._set_state(DriftState.no_reference, self._no_reference_message())
                self._covered = self._received
                return None
            if self._covered == self._received and not self._force_check:
                return None
            n_sessions = len(self._window)
            if n_sessions < self.min_sessions:
                self._covered = self._received
                if self._state in (DriftState.no_reference, DriftState.filling):
                    self._set_state(DriftState.filling,
                                    f"collecting sessions: {n_sessions} of "
                                    f"{self.min_sessions} needed before the first check")
                return None
            reference = self._reference
            in_episode = self._state == DriftState.drifting
            current = pd.DataFrame([e.row(k) for k, e in self._window.items()])
            session_ids = list(self._window)
            self._covered = self._received
            self._force_check = False
            self._checking = True
        try:
            check = evidently_report.check_drift(
                reference, current, self.rule, columns=feature_columns(reference),
                detailed=self.detailed, in_episode=in_episode)
            state = DriftState.drifting if check.drift else DriftState.ok
            summary = check.to_dict()
            summary.update({
                "state": state.value,
                "window_session_ids": session_ids,
                "reference": {"path": str(self.reference_path), "sessions": len(reference)},
                "feature_version": FEATURE_VERSION,
            })
            html_path, _ = self.reports.save(summary, check.html(), check.created)
        finally:
            with self._lock:
                self._checking = False
        with self._lock:
            self._last_check = {
                "time": check.created.isoformat(), "drift": check.drift,
                "n_drifted": check.n_drifted, "n_features": check.n_features,
                "drifted_features": check.drifted_features[:10],
                "sessions": check.n_current, "duration_s": round(check.duration_s, 3),
                "report": html_path.name,
            }
            self._set_state(state, check.message())
        self._save()
        log.info("drift check: %s (%.1f s)", check.message(), check.duration_s)
        return check

    def _no_reference_message(self) -> str:
        detail = f" ({self._reference_error})" if self._reference_error else ""
        return (f"no drift reference at {self.reference_path}{detail}: run "
                "`brain drift reference`")[:200]

    def _set_state(self, state: DriftState, message: str) -> None:
        """Change state (lock held); tell listeners when the pushed status changes."""
        previous = self._state
        self._message = message
        if state == previous:
            return
        self._state = state
        self._state_since = datetime.now(UTC).isoformat()
        log.info("drift state %s -> %s: %s", previous.value, state.value, message)
        if PUSH_STATUS[state] != PUSH_STATUS[previous]:
            for listener in self._listeners:
                try:
                    listener(PUSH_STATUS[state], message)
                except Exception:  # a listener must not break the monitor
                    log.exception("drift state listener failed")

    # ------------------------------------------------------------------ reference

    def reload_reference(self) -> None:
        """Load the reference table if its file is new or changed (and then re-check)."""
        path = self.reference_path
        try:
            stat = path.stat()
        except OSError:
            with self._lock:
                if self._reference is None:
                    self._reference_error = None
                    self._set_state(DriftState.no_reference, self._no_reference_message())
            return
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self._reference_sig:
            return
        try:
            table = load_reference(path)
        except (BrainError, OSError) as err:
            log.error("drift reference %s is unusable: %s", path, err)
            with self._lock:
                self._reference_sig = signature
                self._reference_error = str(err)[:200]
                if self._reference is None:
                    self._set_state(DriftState.no_reference, self._no_reference_message())
            return
        with self._lock:
            first = self._reference is None
            self._reference = table
            self._reference_sig = signature
            self._reference_error = None
            self._force_check = True
            if first and self._state == DriftState.no_reference:
                self._set_state(DriftState.filling,
                                f"reference loaded ({len(table)} sessions); collecting "
                                "sessions")
        log.info("drift reference %s loaded: %d sessions, %d features", path, len(table),
                 len(feature_columns(table)))
        self._wake.set()

    # ------------------------------------------------------------------ persistence

    def _save(self) -> None:
        with self._lock:
            payload = {
                "version": _STATE_VERSION,
                "state": self._state.value,
                "state_since": self._state_since,
                "message": self._message,
                "received": self._received,
                "window": [
                    {"session_id": key, "subject": e.subject, "first_seen": e.first_seen,
                     "recordings": e.recordings}
                    for key, e in self._window.items()
                ],
            }
        data = json.dumps(json_ready(payload), allow_nan=False).encode()
        with self._save_lock:
            atomic_write(self.reports_dir / STATE_FILE, data)

    def _restore(self) -> None:
        path = self.reports_dir / STATE_FILE
        if not path.exists():
            return
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("version") != _STATE_VERSION:
                raise ValueError(f"state version {saved.get('version')!r}")
            window: OrderedDict[str, _Session] = OrderedDict()
            for item in saved["window"][-self.window_size:]:
                window[str(item["session_id"])] = _Session(
                    subject=str(item["subject"]), first_seen=str(item["first_seen"]),
                    recordings={phase: {k: math.nan if v is None else float(v)
                                        for k, v in feats.items()}
                                for phase, feats in item["recordings"].items()})
            state = DriftState(saved["state"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.error("ignoring the saved drift state %s (%s); starting afresh", path, err)
            return
        with self._lock:
            self._window = window
            self._received = self._covered = int(saved.get("received", 0))
            self._state = state
            self._state_since = str(saved.get("state_since", self._state_since))
            self._message = str(saved.get("message", ""))
        log.info("drift state restored: %s, %d session(s) in the window", state.value,
                 len(window))



@dataclass(frozen=True)
class ReplayStep:
    """One check of :func:`replay`: after session ``n_sessions`` of the stream."""

    n_sessions: int
    alarm: bool  # the entry rule (``family_alpha``) flags the window
    drifting: bool  # the state after the check, hysteresis included
    duration_s: float


def replay(reference: pd.DataFrame, sessions: pd.DataFrame, *, window_size: int = 20,
           min_sessions: int = 10, rule: DriftRule | None = None, start: int | None = None
           ) -> list[ReplayStep]:
    """Check a stream of session rows as the service would, one check per new session.

    Parameters
    ----------
    reference : DataFrame
        Reference session rows.
    sessions : DataFrame
        Session rows in arrival order.
    window_size, min_sessions : int
        As in :class:`DriftMonitor`.
    rule : DriftRule | None
        Defaults to ``DriftRule()``.
    start : int | None
        First check after this many sessions (default ``min_sessions``).

    Returns
    -------
    list of ReplayStep
        One per check, with the entry-rule verdict and the state (with hysteresis).
        Uses Evidently's dataset-level test only (the same verdict as a detailed check).
    """
    rule = rule or DriftRule()
    columns = feature_columns(reference)
    drifting = False
    steps = []
    for end in range(start or min_sessions, len(sessions) + 1):
        window = sessions.iloc[max(0, end - window_size):end]
        entry = evidently_report.check_drift(reference, window, rule, columns=columns,
                                             detailed=False)
        duration = entry.duration_s
        if drifting and not entry.drift:  # only the looser test can close the episode
            held = evidently_report.check_drift(reference, window, rule, columns=columns,
                                                detailed=False, in_episode=True)
            drifting, duration = held.drift, duration + held.duration_s
        else:
            drifting = entry.drift
        steps.append(ReplayStep(end, entry.drift, drifting, duration))
    return steps
