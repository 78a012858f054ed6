"""Client of the transform service, for inference and the transformer pipeline."""

from __future__ import annotations

import httpx

from brain_core.codec import BATCH_MEDIA_TYPE, MEDIA_TYPE, pack_frames, unpack_frames
from brain_core.errors import DependencyError, InvalidInputError
from brain_transform_service.transform import EpochSet, TransformConfig
from brain_transform_service.wire import decode_epochs

#: Connection failures (not timeouts, not answers), tried once more. A transform is a pure
#: function of its input, so sending it again is safe: after a restart of the service the
#: first request may go out on a pooled connection the old process had closed.
_RETRIED = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class TransformClient:
    """Calls ``POST /v1/transform`` (and its batch form) over HTTP."""

    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url, timeout=timeout_s)

    def _post(self, path: str, body: bytes, media_type: str,
              config: TransformConfig | None) -> bytes:
        params = {"config": config.model_dump_json()} if config is not None else {}
        for attempt in (1, 2):
            try:
                response = self._client.post(path, content=body, params=params,
                                             headers={"Content-Type": media_type})
                break
            except _RETRIED as err:
                if attempt == 2:
                    raise DependencyError(f"transform service unreachable: {err}") from err
            except httpx.HTTPError as err:
                raise DependencyError(f"transform service unreachable: {err}") from err
        if response.status_code in (413, 422):
            detail = response.json()
            raise InvalidInputError(detail.get("detail", response.text),
                                    field=detail.get("field"))
        if response.status_code != 200:
            raise DependencyError(
                f"transform service answered {response.status_code}: {response.text[:200]}")
        return response.content

    def transform(self, payload: bytes, config: TransformConfig | None = None) -> EpochSet:
        """Epoch set of one encoded recording."""
        return decode_epochs(self._post("/v1/transform", payload, MEDIA_TYPE, config))

    def transform_batch(self, payloads: list[bytes],
                        config: TransformConfig | None = None) -> list[EpochSet]:
        """Epoch sets of several encoded recordings, in order."""
        body = self._post("/v1/transform/batch", pack_frames(payloads), BATCH_MEDIA_TYPE,
                          config)
        return [decode_epochs(frame) for frame in unpack_frames(body)]

    def health(self, timeout_s: float = 2.0) -> str:
        """The service's state for a dependant's ``/health``: ``ok``, ``unreachable`` or
        ``error`` (it answered, but not with 200)."""
        try:
            response = self._client.get("/health", timeout=timeout_s)
        except httpx.HTTPError:
            return "unreachable"
        return "ok" if response.status_code == 200 else "error"

    def close(self) -> None:
        self._client.close()
