"""The receiver's HTTP API (FastAPI).

Every upload route authenticates, then applies the rate limits
(:mod:`brain_receiver.limits`), then reads its body within size and time limits
(:func:`brain_core.http.read_body`): a refused request never has its body read or stored.
Inference and drift are called only after the upload is in the spool, and neither can
fail it (drift goes through a durable outbox, :mod:`brain_receiver.drift_outbox`).
"""


import json
import logging
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field, ValidationError

from brain_core import __version__
from brain_core.codec import MEDIA_TYPE, decode_recording, validation_message
from brain_core.errors import BrainError, CodecError, ConflictError, InvalidInputError
from brain_core.http import read_body
from brain_core.models import SUBJECT_PATTERN, Label, Phase, PhasePrediction
from brain_receiver.auth import CredentialStore
from brain_receiver.clients import NOT_CONFIGURED, OK, DependencyHealth, InferenceClient
from brain_receiver.config import Settings
from brain_receiver.drift_outbox import DriftOutbox
from brain_receiver.limits import TokenBuckets, retry_after
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
    code: {"model": ErrorResponse} for code in (401, 408, 409, 413, 415, 422, 429)
}

#: A label is a few dozen bytes of JSON; anything much larger is not one.
LABEL_MAX_BYTES = 16 * 1024


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
        app.state.inference = InferenceClient(
            settings.inference_url, settings.inference_timeout_s,
            DependencyHealth(settings.inference_url,
                             probe_interval_s=settings.health_probe_interval_s))
        drift_client = (httpx.Client(base_url=settings.drift_url,
                                     timeout=settings.drift_timeout_s)
                        if settings.drift_url else None)
        app.state.drift = DriftOutbox(
            settings.state_dir / "drift-outbox", drift_client,
            DependencyHealth(settings.drift_url,
                             probe_interval_s=settings.health_probe_interval_s),
            max_bytes=settings.drift_outbox_max_bytes,
            max_backoff_s=settings.drift_max_backoff_s)
        app.state.drift.start()
        yield
        app.state.drift.stop(timeout_s=settings.drift_timeout_s + 5)
        if drift_client is not None:
            drift_client.close()
        app.state.inference.close()

    app = FastAPI(
        title="BRAIN receiver",
        version=__version__,
        summary="Takes each phase a collector records, stores it for brain_data and answers "
        "with the model's prediction.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Wrong passwords per client address (strict) and requests per collector (generous).
    app.state.auth_failures = TokenBuckets(settings.auth_failures_per_min / 60.0,
                                           settings.auth_failures_burst)
    app.state.requests = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
    _install_error_handlers(app)

    def collector(
        credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
        request: Request,
    ) -> str:
        """The authenticated collector's name, after both rate limits.

        The order matters: an address over its failure limit is refused before its
        password is checked (no argon2 time for guesses), and a collector's own bucket
        is taken only once its password matched, so nobody can spend it without it.
        """
        if credentials is None:
            raise _unauthorized()  # no guess, no cost: not counted
        address = request.client.host if request.client else "unknown"
        failures: TokenBuckets = request.app.state.auth_failures
        wait = failures.blocked(address)
        if wait is not None:
            raise _too_many(wait, "Too many failed authentications from this address")
        if not request.app.state.store.verify(credentials.username, credentials.password):
            failures.take(address)
            if failures.blocked(address) is not None:
                log.warning("%s sent %d wrong passwords: refused (429) until it waits",
                            address, settings.auth_failures_burst)
            raise _unauthorized()
        wait = request.app.state.requests.take(credentials.username)
        if wait is not None:
            raise _too_many(wait, f"Collector {credentials.username!r} is over its rate "
                                  f"limit ({settings.rate_limit_per_s:g} requests/s, burst "
                                  f"{settings.rate_limit_burst})")
        return credentials.username

    @app.get("/health", responses={503: {"description": "the spool cannot take uploads"}})
    def health(request: Request) -> JSONResponse:
        """Whether uploads can be stored, and the state of each dependency.

        ``status`` is "ok", "degraded" (a configured dependency is unreachable or
        failing: uploads are still stored, predictions or drift checks wait) or
        "failing" (the spool or state folder cannot be written). The HTTP status is 200
        while uploads can be stored, whatever inference and drift do, so an
        orchestrator never restarts the receiver for a dependency's outage; 503 only
        when the receiver itself cannot store an upload.

        ``dependencies`` comes from the outcome of the last real call to each, or a
        short probe of its ``/health`` at most every ``health_probe_interval_s``.
        """
        app_state = request.app.state
        spool: Spool = app_state.spool
        dependencies = {"inference": app_state.inference.health.state(),
                        "drift": app_state.drift.health.state()}
        storage = _storage_state(spool, settings.max_upload_bytes)
        healthy = {OK, NOT_CONFIGURED}
        state = ("failing" if storage != OK else
                 "ok" if set(dependencies.values()) <= healthy else "degraded")
        return JSONResponse(status_code=503 if storage != OK else 200, content={
            "status": state,
            "version": __version__,
            "storage": storage,
            "spool": str(spool.incoming),
            "credentials_configured": app_state.store.configured,
            "dependencies": dependencies,
            "drift_outbox": app_state.drift.stats(),
        })

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
        payload = await read_body(request, limit=settings.max_upload_bytes,
                                  media_type=MEDIA_TYPE, timeout_s=settings.body_timeout_s)
        return await run_in_threadpool(_accept_phase, request.app, session_id, phase,
                                       payload, who)

    @app.put("/v1/sessions/{session_id}/label", response_model=LabelResponse,
             responses=_ERRORS,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": LabelIn.model_json_schema()}}}})
    async def upload_label(session_id: UUID, request: Request,
                           who: Annotated[str, Depends(collector)]) -> LabelResponse:
        """Store the session's true birthdate (the label), once."""
        # Read by hand, not as a FastAPI body parameter: FastAPI reads declared bodies
        # before it runs the dependencies, i.e. before authentication and rate limits.
        payload = await read_body(request, limit=LABEL_MAX_BYTES,
                                  media_type="application/json",
                                  timeout_s=settings.body_timeout_s)
        return await run_in_threadpool(_accept_label, request.app, session_id, payload, who)

    from brain_receiver.legacy import install_legacy_routes

    install_legacy_routes(app, collector, settings)
    return app


def _unauthorized() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid credentials.",
                         headers={"WWW-Authenticate": 'Basic realm="brain"'})


def _too_many(wait_s: float, why: str) -> HTTPException:
    seconds = retry_after(wait_s)
    return HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                         f"{why}; retry after {seconds} s.", headers={"Retry-After": seconds})


def _storage_state(spool: Spool, room_bytes: int) -> str:
    """"ok" when the spool and state folders are writable with room for one upload."""
    for folder in (spool.incoming, spool.accepted):
        if not os.access(folder, os.W_OK):
            return f"{folder} is not writable"
    if shutil.disk_usage(spool.incoming).free < room_bytes:
        return f"less than {room_bytes} bytes free in {spool.incoming}"
    return OK


def _accept_label(app: FastAPI, session_id: UUID, payload: bytes, who: str) -> LabelResponse:
    try:
        body = LabelIn.model_validate_json(payload)
    except ValidationError as err:
        raise InvalidInputError(validation_message(err), field=_first_field(err)) from None
    try:
        label = Label(session_id=session_id, subject=body.subject, birthdate=body.birthdate)
    except ValidationError as err:
        raise InvalidInputError(validation_message(err), field="birthdate") from None
    spool: Spool = app.state.spool
    record, new = spool.accept(Spool.key(session_id, "label"),
                               label.model_dump_json().encode(), ".json", who)
    return LabelResponse(session_id=session_id, stored=True, duplicate=not new)


def _first_field(err: ValidationError) -> str | None:
    loc = err.errors(include_url=False)[0]["loc"]
    return ".".join(str(part) for part in loc) or None


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
    """Spool a validated encoded recording once, queue it for drift, then predict."""
    spool: Spool = app.state.spool
    record, new = spool.accept(Spool.key(session_id, phase.value), payload, ".brainrec", who)
    if new:
        app.state.drift.put(payload)  # on disk before the (slower) inference call
    if not new and record.response is not None:
        return UploadResponse.model_validate({**record.response, "duplicate": True})
    prediction, reason = app.state.inference.predict(payload)
    answer = UploadResponse(session_id=session_id, phase=phase, stored=True,
                            duplicate=not new, prediction=prediction,
                            prediction_error=reason)
    if prediction is not None:
        spool.remember_response(record, answer.model_dump(mode="json"))
    log.info("accepted %s %s from %s (%d bytes, duplicate=%s, predicted=%s)", session_id,
             phase.value, who, len(payload), not new, prediction is not None)
    return answer


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
