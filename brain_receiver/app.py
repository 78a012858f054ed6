"""The receiver's HTTP API (FastAPI)."""


import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field, ValidationError

from brain_core import __version__
from brain_core.codec import MEDIA_TYPE, decode_recording, validation_message
from brain_core.errors import BrainError, CodecError, ConflictError, InvalidInputError
from brain_core.models import SUBJECT_PATTERN, Label, Phase, PhasePrediction
from brain_receiver.auth import CredentialStore
from brain_receiver.clients import DriftClient, InferenceClient
from brain_receiver.config import Settings
from brain_receiver.spool import Spool

log = logging.getLogger(__name__)

_basic = HTTPBasic(auto_error=False, description="One user name and password per collector.")


class UploadResponse(BaseModel):
    """What the receiver answers for a phase upload."""

    session_id: UUID
    phase: Phase
    stored: bool = Field(description="the recording is safely in the input spool")
    duplicate: bool = Field(description="the same content had been accepted before")
    prediction: PhasePrediction | None = None
    prediction_error: str | None = Field(
        None, description="why there is no prediction (the recording is stored regardless)"
    )


class LabelIn(BaseModel):
    """The true birthdate of a session's subject."""

    subject: str = Field(pattern=SUBJECT_PATTERN)
    birthdate: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD")


class LabelResponse(BaseModel):
    session_id: UUID
    stored: bool
    duplicate: bool


class ErrorResponse(BaseModel):
    detail: str
    field: str | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 409, 413, 415, 422)
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the receiver application; nothing touches the disk until it starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = CredentialStore(settings.credentials_file, settings.credentials)
        if not store.configured:
            # No default password: without credentials nobody can upload.
            log.warning("no collector credentials configured: every upload will get 401 "
                        "(see `brain receiver add-collector`)")
        spool = Spool(settings.spool_dir, settings.state_dir)
        spool.prepare()
        app.state.store = store
        app.state.spool = spool
        app.state.inference = InferenceClient(settings.inference_url,
                                              settings.inference_timeout_s)
        app.state.drift = DriftClient(settings.drift_url, settings.drift_timeout_s)
        yield
        app.state.inference.close()
        app.state.drift.close()

    app = FastAPI(
        title="BRAIN receiver",
        version=__version__,
        summary="Takes each phase a collector records, stores it for brain_data and answers "
        "with the model's prediction.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_error_handlers(app)

    def collector(
        credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
        request: Request,
    ) -> str:
        if credentials is None or not request.app.state.store.verify(
                credentials.username, credentials.password):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid credentials.",
                                headers={"WWW-Authenticate": 'Basic realm="brain"'})
        return credentials.username

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Liveness and configuration state."""
        spool: Spool = request.app.state.spool
        return {
            "status": "ok",
            "version": __version__,
            "spool": str(spool.incoming),
            "credentials_configured": request.app.state.store.configured,
            "inference_configured": settings.inference_url is not None,
            "drift_configured": settings.drift_url is not None,
        }

    @app.put(
        "/v1/sessions/{session_id}/phases/{phase}",
        response_model=UploadResponse,
        responses=_ERRORS,
        openapi_extra={"requestBody": {"required": True, "content": {
            MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}},
    )
    async def upload_phase(session_id: UUID, phase: Phase, request: Request,
                           who: Annotated[str, Depends(collector)]) -> UploadResponse:
        """Store one phase's recording (binary codec) and return its prediction."""
        payload = await _read_body(request, settings.max_upload_bytes, MEDIA_TYPE)
        return await run_in_threadpool(_accept_phase, request.app, session_id, phase,
                                       payload, who)

    @app.put("/v1/sessions/{session_id}/label", response_model=LabelResponse,
             responses=_ERRORS)
    def upload_label(session_id: UUID, body: LabelIn, request: Request,
                     who: Annotated[str, Depends(collector)]) -> LabelResponse:
        """Store the session's true birthdate (the label), once."""
        try:
            label = Label(session_id=session_id, subject=body.subject,
                          birthdate=body.birthdate)
        except ValidationError as err:
            raise InvalidInputError(validation_message(err), field="birthdate") from None
        payload = label.model_dump_json().encode()
        spool: Spool = request.app.state.spool
        record, new = spool.accept(Spool.key(session_id, "label"), payload, ".json", who)
        return LabelResponse(session_id=session_id, stored=True, duplicate=not new)

    from brain_receiver.legacy import install_legacy_routes

    install_legacy_routes(app, collector, settings)
    return app


def _accept_phase(app: FastAPI, session_id: UUID, phase: Phase, payload: bytes,
                  who: str) -> UploadResponse:
    recording = decode_recording(payload, max_bytes=app.state.settings.max_upload_bytes)
    if recording.session_id != session_id:
        raise InvalidInputError(
            f"session_id in the path ({session_id}) differs from the recording's "
            f"({recording.session_id}).", field="session_id")
    if recording.phase != phase:
        raise InvalidInputError(
            f"phase in the path ({phase.value!r}) differs from the recording's "
            f"({recording.phase.value!r}).", field="phase")
    return accept_recording(app, recording.session_id, recording.phase, payload, who)


def accept_recording(app: FastAPI, session_id: UUID, phase: Phase, payload: bytes,
                     who: str) -> UploadResponse:
    """Spool a validated encoded recording once, then predict and feed drift."""
    spool: Spool = app.state.spool
    record, new = spool.accept(Spool.key(session_id, phase.value), payload, ".brainrec", who)
    if not new and record.response is not None:
        return UploadResponse.model_validate({**record.response, "duplicate": True})
    prediction, reason = app.state.inference.predict(payload)
    answer = UploadResponse(session_id=session_id, phase=phase, stored=True,
                            duplicate=not new, prediction=prediction,
                            prediction_error=reason)
    if prediction is not None:
        spool.remember_response(record, answer.model_dump(mode="json"))
    if new:
        app.state.drift.submit(payload)
    log.info("accepted %s %s from %s (%d bytes, duplicate=%s, predicted=%s)", session_id,
             phase.value, who, len(payload), not new, prediction is not None)
    return answer


async def _read_body(request: Request, limit: int, media_type: str) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != media_type:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            f"Content-Type must be {media_type}, got {content_type!r}.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"Upload is {declared} bytes, above the limit of {limit}.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                f"Upload is above the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _install_error_handlers(app: FastAPI) -> None:
    def _json(code: int, err: BrainError) -> JSONResponse:
        return JSONResponse(status_code=code,
                            content={"detail": str(err), "field": getattr(err, "field", None)})

    @app.exception_handler(CodecError)
    async def _codec(request: Request, err: CodecError) -> JSONResponse:
        too_big = "above the limit" in str(err)
        return _json(413 if too_big else 422, err)

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, err: InvalidInputError) -> JSONResponse:
        return _json(422, err)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, err: ConflictError) -> JSONResponse:
        return _json(409, err)


def openapi_json(settings: Settings | None = None) -> str:
    """The OpenAPI document, for docs and fuzzing."""
    return json.dumps(create_app(settings).openapi(), indent=2)
