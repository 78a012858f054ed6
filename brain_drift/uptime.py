"""Pushes the drift status to an Uptime Kuma push monitor.

Uptime Kuma's push contract (``server/routers/api-router.js``): ``GET
<push_url>?status=up|down&msg=<text>&ping=<ms>`` answers 200 ``{"ok": true}``; an unknown
or paused monitor answers 404 or 500, depending on the version, with ``{"ok": false,
"msg": "Monitor not found or not active."}``. Kuma sends a notification when the status
*changes* (and, if the monitor's "resend" option is set, every N-th consecutive DOWN
beat); with "retries" set, DOWN beats first show as PENDING. A push monitor also turns
DOWN by itself when no push arrives within its heartbeat interval ("No heartbeat in the
time window").

What is sent:

- a **heartbeat** every ``interval_s`` carrying the current status: ``up`` while there is
  no drift, ``down`` during a drift episode (with the drift message). Kuma therefore
  shows the monitor DOWN, with the reason, for the whole episode (pausing the beats
  instead would replace the reason by "No heartbeat in the time window"), and the beats
  keep proving that the drift service itself is alive. Kuma notifies on a status change,
  so the repeated ``down`` beats of one episode give one alert. Set the Kuma monitor's
  heartbeat interval a little above ours (e.g. 2x), so that a dead drift service also
  turns it DOWN.
- an **immediate push** on every status change (``up -> down`` when a drift episode
  starts, ``down -> up`` when it ends), in order: if Kuma is unreachable, they wait in
  a queue and are delivered, oldest first, as soon as it answers again, so an episode
  that started and ended during an outage still reaches Kuma.

Failures are retried with exponential backoff (0.5 s doubling up to ``max_backoff_s``)
and logged; they never stop the service. The push URL holds the monitor's token: it is
never logged in full (see :func:`redact_url`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

log = logging.getLogger(__name__)

#: Longest message sent to Kuma (it stores it with each beat).
MAX_MESSAGE_CHARS = 200
MIN_BACKOFF_S = 0.5
_MAX_QUEUE = 50


def redact_url(url: str) -> str:
    """``url`` without its query and with the token (last path segment) hidden.

    >>> redact_url("https://kuma.example/api/push/Ab12Cd34Ef?status=up")
    'https://kuma.example/api/push/Ab***'
    """
    parts = urlsplit(url)
    segments = parts.path.split("/")
    for i in range(len(segments) - 1, -1, -1):
        if segments[i]:
            segments[i] = segments[i][:2] + "***"
            break
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, "/".join(segments), "", ""))


class _Redactor(logging.Filter):
    """Hides the push URL's token in records of the HTTP libraries (httpx logs every
    request URL at INFO)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(sorted(secrets, key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()
        return True


_HTTP_LOGGERS = ("httpx", "httpcore")


@dataclass(frozen=True)
class PushResult:
    """The outcome of one push attempt."""

    time: str
    status: str
    kind: str  # "change" or "heartbeat"
    ok: bool
    http_status: int | None = None
    error: str | None = None


class KumaPusher:
    """Sends heartbeats and status changes to Uptime Kuma from a background thread.

    Parameters
    ----------
    push_url : str | None
        The monitor's push URL (its query, if any, is replaced); None disables pushing.
    current : callable
        Returns the ``(status, message)`` a heartbeat sends.
    interval_s : float
        Seconds between heartbeats.
    timeout_s : float
        Timeout of one push request.
    max_backoff_s : float
        Longest wait between retries.
    """

    def __init__(self, push_url: str | None, current: Callable[[], tuple[str, str]], *,
                 interval_s: float = 60.0, timeout_s: float = 10.0,
                 max_backoff_s: float = 60.0) -> None:
        self._current = current
        self.interval_s = float(interval_s)
        self.max_backoff_s = max(float(max_backoff_s), MIN_BACKOFF_S)
        self._timeout_s = float(timeout_s)
        self._url: str | None = None
        self._secrets: tuple[str, ...] = ()
        self.target = None
        if push_url:
            parts = urlsplit(push_url.strip())
            self._url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
            token = [s for s in parts.path.split("/") if s][-1]
            self._secrets = tuple(s for s in (push_url.strip(), self._url, token) if s)
            self.target = redact_url(self._url)
        self._pending: deque[tuple[str, str]] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._redactor: _Redactor | None = None
        self._last: PushResult | None = None
        self._last_ok: PushResult | None = None
        self._failures = 0
        self._sent = 0

    @property
    def configured(self) -> bool:
        return self._url is not None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the heartbeat thread (the first heartbeat goes out at once)."""
        if not self.configured:
            log.warning("no Uptime Kuma push URL configured: drift alerts go to the log only")
            return
        self._redactor = _Redactor(self._secrets)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        self._client = httpx.Client(timeout=self._timeout_s, follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name="kuma-push", daemon=True)
        self._thread.start()
        log.info("pushing drift status to Uptime Kuma at %s every %g s", self.target,
                 self.interval_s)

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._client is not None:
            self._client.close()
        if self._redactor is not None:
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).removeFilter(self._redactor)

    # ------------------------------------------------------------------ input

    def notify(self, status: str, message: str) -> None:
        """Queue an immediate push of a status change (called by the monitor)."""
        level = logging.WARNING if status == "down" else logging.INFO
        log.log(level, "drift status -> %s: %s", status, message)
        if not self.configured:
            return
        with self._cond:
            if len(self._pending) >= _MAX_QUEUE:  # a flapping status during a long outage
                self._pending.popleft()
            self._pending.append((status, message))
            self._cond.notify_all()

    def dependency_state(self) -> str:
        """Uptime Kuma as a dependency: ``ok``, ``unreachable`` (no answer), ``error`` (it
        refused the push, e.g. an unknown token), ``unknown`` before the first push, or
        ``not_configured``."""
        with self._cond:
            last = self._last
        if not self.configured:
            return "not_configured"
        if last is None:
            return "unknown"
        if last.ok:
            return "ok"
        return "unreachable" if last.http_status is None else "error"

    def health(self) -> dict[str, Any]:
        """Where pushes go (redacted), the last attempt, and what waits to be sent."""
        with self._cond:
            return {
                "configured": self.configured,
                "target": self.target,
                "interval_s": self.interval_s,
                "last": asdict(self._last) if self._last else None,
                "last_ok": asdict(self._last_ok) if self._last_ok else None,
                "consecutive_failures": self._failures,
                "pending": len(self._pending),
                "sent": self._sent,
            }

    # ------------------------------------------------------------------ sending

    def _run(self) -> None:
        next_beat = time.monotonic()
        backoff = 0.0
        while not self._stop.is_set():
            with self._cond:
                while (not self._pending and time.monotonic() < next_beat
                       and not self._stop.is_set()):
                    self._cond.wait(next_beat - time.monotonic())
                if self._stop.is_set():
                    return
                change = self._pending[0] if self._pending else None
            status, message = change if change is not None else self._current()
            result = self._push(status, message, "change" if change else "heartbeat")
            if result.ok:
                with self._cond:
                    if change is not None and self._pending and self._pending[0] is change:
                        self._pending.popleft()
                if backoff:
                    log.info("Uptime Kuma at %s reachable again", self.target)
                backoff = 0.0
                next_beat = time.monotonic() + self.interval_s
            else:
                backoff = min(self.max_backoff_s, max(MIN_BACKOFF_S, 2 * backoff))
                log.warning("push of status=%s to Uptime Kuma at %s failed (%s); retrying "
                            "in %.1f s", status, self.target, result.error, backoff)
                if self._stop.wait(backoff):
                    return
                next_beat = time.monotonic()

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _push(self, status: str, message: str, kind: str) -> PushResult:
        assert self._client is not None and self._url is not None
        params = {"status": status, "msg": message[:MAX_MESSAGE_CHARS], "ping": ""}
        now = datetime.now(UTC).isoformat()
        http_status = None
        try:
            response = self._client.get(self._url, params=params)
            http_status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code == 200 and isinstance(body, dict) and body.get("ok"):
                result = PushResult(now, status, kind, True, http_status)
            else:
                detail = body.get("msg") if isinstance(body, dict) else response.text[:100]
                result = PushResult(now, status, kind, False, http_status,
                                    self._scrub(f"HTTP {http_status}: {detail}"))
        except httpx.HTTPError as err:
            result = PushResult(now, status, kind, False, http_status,
                                self._scrub(f"{type(err).__name__}: {err}"))
        with self._cond:
            self._last = result
            if result.ok:
                self._last_ok = result
                self._failures = 0
                self._sent += 1
            else:
                self._failures += 1
        if result.ok:
            level = logging.INFO if kind == "change" else logging.DEBUG
            log.log(level, "pushed status=%s (%s) to Uptime Kuma at %s", status, kind,
                    self.target)
        return result
