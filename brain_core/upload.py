"""Client side of the receiver's upload API (the collector, the demo and tools use it)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

import httpx

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_core.errors import ConflictError, DependencyError, InvalidInputError
from brain_core.models import PhasePrediction, Recording


class UploadRejected(InvalidInputError):
    """The receiver refused an upload (4xx other than 409): retrying will not help."""


class ReceiverClient:
    """``PUT`` phases and labels to a BRAIN receiver with HTTP basic auth."""

    def __init__(self, base_url: str, username: str, password: str,
                 timeout_s: float = 60.0) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), auth=(username, password),
                                    timeout=timeout_s)

    def _put(self, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._client.put(path, **kwargs)
        except httpx.HTTPError as err:
            raise DependencyError(f"receiver unreachable: {err}") from err
        if response.status_code == 409:
            raise ConflictError(_detail(response))
        if response.status_code in (408, 429):  # too slow, or too many: try again later
            wait = response.headers.get("Retry-After")
            raise DependencyError(f"receiver answered {response.status_code}: "
                                  f"{_detail(response)}"
                                  + (f" (retry after {wait} s)" if wait else ""))
        if 400 <= response.status_code < 500:
            raise UploadRejected(f"receiver refused the upload ({response.status_code}): "
                                 f"{_detail(response)}")
        if response.status_code != 200:
            raise DependencyError(f"receiver answered {response.status_code}: "
                                  f"{_detail(response)}")
        return response.json()

    def upload_phase(self, recording: Recording | bytes, *, session_id: UUID | None = None,
                     phase: str | None = None) -> dict[str, Any]:
        """Upload one phase; returns the receiver's answer (``prediction`` may be None)."""
        if isinstance(recording, Recording):
            session_id, phase = recording.session_id, recording.phase.value
            payload = encode_recording(recording)
        else:
            payload = recording
            if session_id is None or phase is None:
                raise InvalidInputError("session_id and phase are needed with raw bytes.",
                                        field="session_id")
        answer = self._put(f"/v1/sessions/{session_id}/phases/{phase}", content=payload,
                           headers={"Content-Type": MEDIA_TYPE})
        if answer.get("prediction"):
            answer["prediction"] = PhasePrediction.model_validate(answer["prediction"])
        return answer

    def upload_label(self, session_id: UUID, subject: str, birthdate: date) -> dict[str, Any]:
        """Upload the session's true birthdate."""
        return self._put(f"/v1/sessions/{session_id}/label",
                         json={"subject": subject, "birthdate": birthdate.isoformat()})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ReceiverClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text[:300]))
    except ValueError:
        return response.text[:300]
