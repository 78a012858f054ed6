"""The inference service's HTTP API: a recording in, a PhasePrediction out."""


from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from brain_core import __version__
from brain_core.codec import MEDIA_TYPE, decode_recording
from brain_core.errors import CodecError, DependencyError, InvalidInputError
from brain_core.http import read_body
from brain_core.models import PhasePrediction
from brain_inference.config import Settings
from brain_inference.registry import ChampionHolder, LoadedModel
from brain_transform_service.client import TransformClient
from brain_transform_service.transform import TransformConfig

_BINARY = {"schema": {"type": "string", "format": "binary"}}


class ErrorBody(BaseModel):
    """What every refusal carries: what is wrong, and the field when one is to blame."""

    detail: str
    field: str | None = None


def create_app(settings: Settings | None = None, *, holder: ChampionHolder | None = None
               ) -> FastAPI:
    """Build the app; the registry poller starts with the app and stops with it."""
    settings = settings or Settings()  # type: ignore[call-arg]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        champion = holder or ChampionHolder(settings.tracking_uri, settings.model_name,
                                            settings.alias, settings.poll_interval_s)
        await run_in_threadpool(champion.poll_once)  # serve at once if a champion exists
        champion.start()
        app.state.champion = champion
        app.state.transform = TransformClient(settings.transform_url,
                                              settings.transform_timeout_s)
        yield
        champion.stop()
        app.state.transform.close()

    app = FastAPI(title="BRAIN inference", version=__version__, lifespan=lifespan,
                  summary="Predicts a phase's item probabilities with the MLflow champion.")

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, err: InvalidInputError) -> JSONResponse:
        too_big = isinstance(err, CodecError) and "above the limit" in str(err)
        return JSONResponse(status_code=413 if too_big else 422,
                            content={"detail": str(err), "field": err.field})

    @app.exception_handler(DependencyError)
    async def _dependency(request: Request, err: DependencyError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(err), "field": None})

    @app.get("/health")
    def health(request: Request) -> dict[str, Any]:
        """Which model is served, and the state of its dependencies (MLflow, transform).

        "degraded" while either is unreachable: a loaded champion keeps serving through
        an MLflow outage, but nothing can be predicted without the transform service.
        """
        state = request.app.state.champion.health()
        transform = request.app.state.transform.health()
        state["dependencies"]["transform"] = transform
        if state["status"] == "ok" and transform != "ok":
            state["status"] = "degraded"
        return {"version": __version__, **state}

    @app.post("/v1/predict", response_model=PhasePrediction,
              openapi_extra={"requestBody": {"required": True,
                                             "content": {MEDIA_TYPE: _BINARY}}},
              responses={413: {"model": ErrorBody, "description": "too large"},
                         415: {"model": ErrorBody, "description": "not a binary recording"},
                         422: {"model": ErrorBody,
                               "description": "invalid recording, or it does not fit the model"},
                         503: {"model": ErrorBody,
                               "description": "no model yet, or the transform service is down"}})
    async def predict(request: Request) -> PhasePrediction:
        """Predict one phase (binary recording) with the current champion."""
        payload = await read_body(request, limit=settings.max_upload_bytes,
                                  media_type=MEDIA_TYPE, timeout_s=settings.body_timeout_s)
        served: LoadedModel | None = request.app.state.champion.current
        if served is None:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "No champion model is registered yet.")
        return await run_in_threadpool(_predict, request.app, served, payload,
                                       settings.max_upload_bytes)

    return app


def _predict(app: FastAPI, served: LoadedModel, payload: bytes, limit: int) -> PhasePrediction:
    recording = decode_recording(payload, max_bytes=limit)
    model = served.model
    missing = [ch for ch in model.ch_names_ if ch not in recording.ch_names]
    if missing:
        raise InvalidInputError(
            f"The recording lacks channel(s) {missing} that model version {served.version} "
            f"needs (it expects {list(model.ch_names_)}; got {list(recording.ch_names)}).",
            field="ch_names")
    # The transform keeps only the model's channels, in its order, at its rate.
    config = (model.transform_config or TransformConfig()).model_copy(
        update={"ch_names": tuple(model.ch_names_)})
    epochs = app.state.transform.transform(payload, config)
    prediction = model.predict_phase(epochs, items=recording.paradigm.items,
                                     session_id=recording.session_id)
    return prediction.model_copy(update={"model_name": served.name,
                                         "model_version": served.version})

