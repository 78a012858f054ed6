"""The original MLOPS-BRAIN upload, kept for collectors still in the field.

``POST /upload/`` takes multipart ``csv_file`` (``Task_Phase, Timestamp, Channel_1..8``),
``metadata_file`` (JSON) and ``task_phase`` in days|months|years|meta, with HTTP basic
auth. The old collector names its files ``<timestamp>_days.csv`` ... and
``<timestamp>_metadata.json``; the timestamp groups the phases of one session. Those
recordings carry no stimulus markers, so they are imported as ``untimed``.

The form is parsed by hand after authentication, not declared as FastAPI ``Form`` and
``File`` parameters: FastAPI reads declared bodies before it runs the dependencies, i.e.
before the credentials and rate limits are checked. The body is read within the
receiver's size and time limits (:func:`brain_core.http.read_body`) first.
"""


import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from brain_core.codec import encode_recording
from brain_core.errors import InvalidInputError, check_option
from brain_core.http import read_body
from brain_core.importers import legacy_label, legacy_phase_to_recording
from brain_receiver.config import Settings
from brain_receiver.spool import Spool

LEGACY_PHASES = {"days": "day", "months": "month", "years": "year"}
_NAMESPACE = uuid.UUID("6f1d2c1e-4b0a-4e53-9d55-3c1b2a7f9e10")
_METADATA_MAX_BYTES = 1024 * 1024
_FORM = "multipart/form-data"
_FORM_SCHEMA = {"type": "object", "required": ["task_phase"], "properties": {
    "task_phase": {"type": "string", "description": "days, months, years or meta"},
    "csv_file": {"type": "string", "format": "binary"},
    "metadata_file": {"type": "string", "format": "binary"},
}}


def legacy_identity(collector: str, filename: str | None) -> tuple[uuid.UUID, str]:
    """Session id and pseudonymous subject of a legacy upload, from its file name prefix."""
    name = PurePath(filename or "").name
    prefix = re.sub(r"_(days|months|years|metadata)\.(csv|json)$", "", name) or "unnamed"
    session_id = uuid.uuid5(_NAMESPACE, f"{collector}/{prefix}")
    subject = "legacy" + hashlib.sha256(f"{collector}/{prefix}".encode()).hexdigest()[:10]
    return session_id, subject


def install_legacy_routes(app: FastAPI, collector: Callable[..., str],
                          settings: Settings) -> None:
    @app.post("/upload/", tags=["legacy"], openapi_extra={"requestBody": {
        "required": True, "content": {_FORM: {"schema": _FORM_SCHEMA}}}})
    async def legacy_upload(request: Request,
                            who: Annotated[str, Depends(collector)]) -> dict[str, Any]:
        """The original system's upload (multipart CSV + metadata JSON)."""
        body = await read_body(request, limit=settings.max_upload_bytes, media_type=_FORM,
                               timeout_s=settings.body_timeout_s)
        form = await _parse_form(request, body)
        try:
            return await _legacy_upload(form, who)
        finally:
            await form.close()

    async def _legacy_upload(form: FormData, who: str) -> dict[str, Any]:
        task_phase = form.get("task_phase")
        if not isinstance(task_phase, str):
            raise InvalidInputError("task_phase is required (days, months, years or meta).",
                                    field="task_phase")
        check_option("task_phase", task_phase, (*LEGACY_PHASES, "meta"))
        csv_file = _file_part(form, "csv_file")
        metadata_file = _file_part(form, "metadata_file")
        metadata = await _metadata(metadata_file)
        if task_phase == "meta":
            session_id, subject = legacy_identity(
                who, metadata_file.filename if metadata_file else None)
            label = legacy_label(metadata, subject=subject, session_id=session_id)
            if label is None:
                return {"message": "No subject_date_of_birth in the metadata; nothing stored.",
                        "processing_result": None, "inference_result": None}
            spool: Spool = app.state.spool
            spool.accept(Spool.key(session_id, "label"), label.model_dump_json().encode(),
                         ".json", who)
            return {"message": "Label stored.", "processing_result": None,
                    "inference_result": None}
        if csv_file is None:
            raise InvalidInputError("csv_file is required for a data phase.", field="csv_file")
        csv_bytes = await csv_file.read()
        session_id, subject = legacy_identity(who, csv_file.filename)
        phase = LEGACY_PHASES[task_phase]
        recording = await run_in_threadpool(
            legacy_phase_to_recording, csv_bytes, phase, metadata,
            subject=subject, session_id=session_id)
        from brain_receiver.app import accept_recording

        answer = await run_in_threadpool(accept_recording, app, session_id, recording.phase,
                                         encode_recording(recording), who)
        inference = None
        if answer.prediction is not None:
            inference = {"predictions": list(answer.prediction.probabilities),
                         "items": list(answer.prediction.items),
                         "indeterminate": answer.prediction.indeterminate}
        return {
            "message": "Prediction run successfully." if inference else
            f"Stored; no prediction: {answer.prediction_error}",
            "processing_result": {"session_id": str(session_id), "untimed": True,
                                  "duplicate": answer.duplicate},
            "inference_result": inference,
            "drift_result": None,
        }


async def _parse_form(request: Request, body: bytes) -> FormData:
    """Parse an already read multipart body (files of over 1 MiB spill to disk)."""

    async def _once() -> AsyncIterator[bytes]:
        yield body

    try:
        return await MultiPartParser(request.headers, _once(), max_files=4,
                                     max_fields=4).parse()
    except MultiPartException as err:
        raise InvalidInputError(f"Invalid multipart form: {err.message}") from None


def _file_part(form: FormData, name: str) -> UploadFile | None:
    value = form.get(name)
    if value is not None and not isinstance(value, UploadFile):
        raise InvalidInputError(f"{name} must be a file part (with a filename).", field=name)
    return value


async def _metadata(upload: UploadFile | None) -> dict[str, Any]:
    if upload is None:
        return {}
    raw = await upload.read(_METADATA_MAX_BYTES + 1)
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError("metadata_file is not valid UTF-8 JSON.",
                                field="metadata_file") from None
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata_file must hold a JSON object.",
                                field="metadata_file")
    return metadata
