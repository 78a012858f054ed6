"""The drift service's HTTP API: recordings in, drift reports and a health summary out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field

from brain_core import __version__
from brain_core.codec import MEDIA_TYPE, decode_recording
from brain_core.errors import CodecError, DependencyError, InvalidInputError
from brain_core.http import read_body
from brain_drift.config import Settings
from brain_drift.evidently_report import DriftRule
from brain_drift.monitor import DriftMonitor
from brain_drift.uptime import KumaPusher

log = logging.getLogger(__name__)

_BINARY = {"schema": {"type": "string", "format": "binary"}}


class Accepted(BaseModel):
    """What the drift service answers for a recording (its check runs later)."""

    session_id: str
    phase: str
    queued: int = Field(description="recordings waiting for their features, this one included")
    state: str = Field(description="drift state before this recording is checked")


class ErrorResponse(BaseModel):
    detail: str
    field: str | None = None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the monitor and the Uptime Kuma pusher run with it."""
    settings = settings or Settings()  # type: ignore[call-arg]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        monitor = DriftMonitor(
            settings.reports_dir, settings.resolved_reference_path,
            window_size=settings.window_size, min_sessions=settings.min_sessions,
            rule=DriftRule(settings.family_alpha, settings.min_drifted_features,
                           settings.recovery_alpha),
            keep_reports=settings.keep_reports, detailed=settings.detailed_reports)
        push_url = settings.push_url.get_secret_value() if settings.push_url else None
        pusher = KumaPusher(push_url, monitor.current,
                            interval_s=settings.heartbeat_interval_s,
                            timeout_s=settings.push_timeout_s,
                            max_backoff_s=settings.push_max_backoff_s)
        monitor.add_listener(pusher.notify)
        await run_in_threadpool(monitor.start)
        pusher.start()
        app.state.monitor, app.state.pusher = monitor, pusher
        yield
        pusher.stop()
        await run_in_threadpool(monitor.stop)

    app = FastAPI(title="BRAIN drift", version=__version__, lifespan=lifespan,
                  summary="Compares recent sessions' signal features with the champion's "
                          "training data and alerts Uptime Kuma on drift.")

    @app.exception_handler(DependencyError)
    async def _busy(request: Request, err: DependencyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(err), "field": None})

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, err: InvalidInputError) -> JSONResponse:
        too_big = isinstance(err, CodecError) and "above the limit" in str(err)
        return JSONResponse(status_code=413 if too_big else 422,
                            content={"detail": str(err), "field": err.field})

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Drift state, window fill, reference, last check, last push, and Uptime Kuma's
        state (an outage delays alerts: they wait in ``push.pending``)."""
        pusher: KumaPusher = request.app.state.pusher
        return {"version": __version__, **request.app.state.monitor.health(),
                "dependencies": {"uptime_kuma": pusher.dependency_state()},
                "push": pusher.health()}

    @app.post("/v1/recordings", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted,
              openapi_extra={"requestBody": {"required": True,
                                             "content": {MEDIA_TYPE: _BINARY}}},
              responses={code: {"model": ErrorResponse} for code in (413, 415, 422, 503)})
    async def add_recording(request: Request) -> Accepted:
        """Take one recording (binary codec) into the window; the check runs in the
        background."""
        payload = await read_body(request, limit=settings.max_upload_bytes,
                                  media_type=MEDIA_TYPE, timeout_s=settings.body_timeout_s)
        return await run_in_threadpool(_accept, request.app.state.monitor, payload,
                                       settings.max_upload_bytes)

    @app.get("/reports/latest", responses={404: {"model": ErrorResponse}})
    def latest_report(request: Request,
                      fmt: Literal["html", "json"] = Query(
                          "html", alias="format",
                          description="html (Evidently's report) or json (the summary)")):
        """The newest drift report."""
        path = request.app.state.monitor.reports.latest(fmt)
        if path is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                "No drift report yet: the window has not been checked.")
        media = "text/html; charset=utf-8" if fmt == "html" else "application/json"
        return FileResponse(path, media_type=media, filename=path.name,
                            content_disposition_type="inline")

    return app


def _accept(monitor: DriftMonitor, payload: bytes, limit: int) -> Accepted:
    recording = decode_recording(payload, max_bytes=limit)
    state = monitor.state.value
    queued = monitor.submit(recording)
    return Accepted(session_id=str(recording.session_id), phase=recording.phase.value,
                    queued=queued, state=state)

