"""HTTP calls from the receiver to inference (blocking) and drift (fire-and-forget)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from brain_core.codec import MEDIA_TYPE
from brain_core.models import PhasePrediction

log = logging.getLogger(__name__)


class InferenceClient:
    """Asks the inference service for a :class:`PhasePrediction` of an encoded recording."""

    def __init__(self, base_url: str | None, timeout_s: float) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s) if base_url else None

    def predict(self, payload: bytes) -> tuple[PhasePrediction | None, str | None]:
        """The prediction, or None and the reason it could not be had."""
        if self._client is None:
            return None, "no inference service is configured"
        try:
            response = self._client.post("/v1/predict", content=payload,
                                         headers={"Content-Type": MEDIA_TYPE})
        except httpx.HTTPError as err:
            log.warning("inference unreachable: %s", err)
            return None, "the inference service is unreachable; the recording is stored"
        if response.status_code != 200:
            detail = _detail(response)
            log.warning("inference answered %s: %s", response.status_code, detail)
            return None, f"the inference service answered {response.status_code}: {detail}"
        return PhasePrediction.model_validate(response.json()), None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class DriftClient:
    """Hands recordings to the drift service without ever blocking or failing an upload."""

    def __init__(self, base_url: str | None, timeout_s: float) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s) if base_url else None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="drift")

    def submit(self, payload: bytes) -> None:
        if self._client is not None:
            self._pool.submit(self._send, payload)

    def _send(self, payload: bytes) -> None:
        assert self._client is not None
        try:
            response = self._client.post("/v1/recordings", content=payload,
                                         headers={"Content-Type": MEDIA_TYPE})
            if response.status_code >= 400:
                log.warning("drift service answered %s: %s", response.status_code,
                            _detail(response))
        except httpx.HTTPError as err:
            log.warning("drift service unreachable (upload unaffected): %s", err)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
        if self._client is not None:
            self._client.close()


def _detail(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text[:200])
    except ValueError:
        return response.text[:200]
