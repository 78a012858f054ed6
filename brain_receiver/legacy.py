"""The original MLOPS-BRAIN upload, kept for collectors still in the field.

``POST /upload/`` takes multipart ``csv_file`` (``Task_Phase, Timestamp, Channel_1..8``),
``metadata_file`` (JSON) and ``task_phase`` in days|months|years|meta, with HTTP basic
auth. The old collector names its files ``<timestamp>_days.csv`` ... and
``<timestamp>_metadata.json``; the timestamp groups the phases of one session. Those
recordings carry no stimulus markers, so they are imported as ``untimed``.
"""


import hashlib
import json
import re
import uuid
from collections.abc import Callable
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, UploadFile
from fastapi.concurrency import run_in_threadpool

from brain_core.codec import encode_recording
from brain_core.errors import InvalidInputError, check_option
from brain_core.importers import legacy_label, legacy_phase_to_recording
from brain_receiver.config import Settings
from brain_receiver.spool import Spool

LEGACY_PHASES = {"days": "day", "months": "month", "years": "year"}
_NAMESPACE = uuid.UUID("6f1d2c1e-4b0a-4e53-9d55-3c1b2a7f9e10")


def legacy_identity(collector: str, filename: str | None) -> tuple[uuid.UUID, str]:
    """Session id and pseudonymous subject of a legacy upload, from its file name prefix."""
    name = PurePath(filename or "").name
    prefix = re.sub(r"_(days|months|years|metadata)\.(csv|json)$", "", name) or "unnamed"
    session_id = uuid.uuid5(_NAMESPACE, f"{collector}/{prefix}")
    subject = "legacy" + hashlib.sha256(f"{collector}/{prefix}".encode()).hexdigest()[:10]
    return session_id, subject


def install_legacy_routes(app: FastAPI, collector: Callable[..., str],
                          settings: Settings) -> None:
    @app.post("/upload/", tags=["legacy"])
    async def legacy_upload(
        task_phase: Annotated[str, Form(description="days, months, years or meta")],
        who: Annotated[str, Depends(collector)],
        csv_file: Annotated[UploadFile | None, File()] = None,
        metadata_file: Annotated[UploadFile | None, File()] = None,
    ) -> dict[str, Any]:
        """The original system's upload (multipart CSV + metadata JSON)."""
        check_option("task_phase", task_phase, (*LEGACY_PHASES, "meta"))
        metadata = await _metadata(metadata_file, settings.max_upload_bytes)
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
        csv_bytes = await csv_file.read(settings.max_upload_bytes + 1)
        if len(csv_bytes) > settings.max_upload_bytes:
            raise InvalidInputError(
                f"csv_file is above the limit of {settings.max_upload_bytes} bytes.",
                field="csv_file")
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


async def _metadata(upload: UploadFile | None, limit: int) -> dict[str, Any]:
    if upload is None:
        return {}
    raw = await upload.read(min(limit, 1024 * 1024) + 1)
    try:
        metadata = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError("metadata_file is not valid UTF-8 JSON.",
                                field="metadata_file") from None
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata_file must hold a JSON object.",
                                field="metadata_file")
    return metadata
