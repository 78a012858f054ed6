"""HTTP calls from the receiver to its dependencies, and what it knows of their health.

Inference is called while the collector waits (its answer is the prediction); drift is
fed through a durable outbox (:mod:`brain_receiver.drift_outbox`). Neither can fail an
upload: the recording is in the spool before either is called.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from brain_core.codec import MEDIA_TYPE
from brain_core.models import PhasePrediction

log = logging.getLogger(__name__)

#: States a dependency can be in, as ``/health`` reports them.
OK, UNREACHABLE, FAILING, NOT_CONFIGURED = "ok", "unreachable", "failing", "not configured"


class DependencyHealth:
    """The last known state of one dependency.

    Real calls record their outcome (:meth:`record`). When nothing was recorded for
    ``probe_interval_s`` (no traffic, or just started), :meth:`state` asks the
    dependency's ``/health`` once, with a short timeout, and caches the answer for as
    long: ``/health`` of the receiver costs at most one small request per dependency per
    interval, and a dependency that went away or came back shows within one interval.
    """

    def __init__(self, base_url: str | None, *, probe_interval_s: float = 30.0,
                 probe_timeout_s: float = 1.0) -> None:
        self.base_url = base_url
        self._interval_s, self._timeout_s = probe_interval_s, probe_timeout_s
        self._state: str = NOT_CONFIGURED
        self._stamp = -float("inf")
        self._probing = threading.Lock()

    def record(self, status_code: int | None) -> None:
        """Record a call's outcome: its HTTP status, or None when it got no answer.

        A 4xx is the request's fault, not the dependency's: the dependency is ok.
        """
        if status_code is None:
            self._state = UNREACHABLE
        else:
            self._state = FAILING if status_code >= 500 else OK
        self._stamp = time.monotonic()

    def state(self) -> str:
        """ok, unreachable, failing (answers 5xx) or not configured."""
        if self.base_url is None:
            return NOT_CONFIGURED
        stale = time.monotonic() - self._stamp > self._interval_s
        if stale and self._probing.acquire(blocking=False):
            try:
                self._probe()
            finally:
                self._probing.release()
        return self._state

    def _probe(self) -> None:
        try:
            response = httpx.get(f"{self.base_url}/health", timeout=self._timeout_s)
        except httpx.HTTPError:
            self.record(None)
        else:
            self.record(response.status_code)


class InferenceClient:
    """Asks the inference service for a :class:`PhasePrediction` of an encoded recording."""

    def __init__(self, base_url: str | None, timeout_s: float,
                 health: DependencyHealth) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s) if base_url else None
        self.health = health

    def predict(self, payload: bytes) -> tuple[PhasePrediction | None, str | None]:
        """The prediction, or None and the reason it could not be had."""
        if self._client is None:
            return None, "no inference service is configured"
        try:
            response = self._client.post("/v1/predict", content=payload,
                                         headers={"Content-Type": MEDIA_TYPE})
        except httpx.HTTPError as err:
            self.health.record(None)
            log.warning("inference unreachable: %s", err)
            return None, "the inference service is unreachable; the recording is stored"
        self.health.record(response.status_code)
        if response.status_code != 200:
            detail = response_detail(response)
            log.warning("inference answered %s: %s", response.status_code, detail)
            return None, f"the inference service answered {response.status_code}: {detail}"
        return PhasePrediction.model_validate(response.json()), None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def response_detail(response: httpx.Response) -> Any:
    """The ``detail`` of an error answer, or the start of its text."""
    try:
        return response.json().get("detail", response.text[:200])
    except (ValueError, AttributeError):
        return response.text[:200]
