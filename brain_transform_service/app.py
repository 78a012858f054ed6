"""The transform service's HTTP API: recordings in, epoch sets (features) out."""


import json
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from brain_core import __version__
from brain_core.codec import (
    ARRAYS_MEDIA_TYPE,
    BATCH_MEDIA_TYPE,
    MEDIA_TYPE,
    decode_recording,
    pack_frames,
    unpack_frames,
    validation_message,
)
from brain_core.errors import CodecError, InvalidInputError
from brain_core.http import read_body
from brain_transform_service.config import Settings
from brain_transform_service.transform import TransformConfig, transform_recording
from brain_transform_service.wire import encode_epochs

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_CONFIG_HELP = ("TransformConfig as JSON (fields not given keep their defaults); the model "
                "being served sends the one it was trained with.")


def parse_config(text: str | None) -> TransformConfig:
    """A TransformConfig from its JSON text (None: the defaults)."""
    if not text:
        return TransformConfig()
    try:
        return TransformConfig.model_validate(json.loads(text))
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"config is not valid JSON ({err.msg}).", field="config") \
            from None
    except ValidationError as err:
        raise InvalidInputError(f"config: {validation_message(err)}", field="config") from None


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(title="BRAIN transform service", version=__version__,
                  summary="The one place where features are computed, for training and "
                  "serving alike.")

    @app.exception_handler(InvalidInputError)
    async def _invalid(request: Request, err: InvalidInputError) -> JSONResponse:
        too_big = isinstance(err, CodecError) and "above the limit" in str(err)
        return JSONResponse(status_code=413 if too_big else 422,
                            content={"detail": str(err), "field": err.field})

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness, version and the default transform configuration."""
        return {"status": "ok", "version": __version__,
                "default_config": TransformConfig().model_dump(mode="json")}

    @app.post("/v1/transform", response_class=Response,
              openapi_extra={"requestBody": {"required": True,
                                             "content": {MEDIA_TYPE: _BINARY}}},
              responses={200: {"content": {ARRAYS_MEDIA_TYPE: _BINARY},
                               "description": "the epoch set"},
                         413: {"description": "too large"},
                         422: {"description": "invalid recording or config"}})
    async def transform(request: Request,
                        config: Annotated[str | None, Query(description=_CONFIG_HELP)] = None
                        ) -> Response:
        """Filter, epoch and clean one recording (binary codec); return its epoch set."""
        cfg = parse_config(config)
        payload = await read_body(request, limit=settings.max_request_bytes,
                                  media_type=MEDIA_TYPE, timeout_s=settings.body_timeout_s)
        frame = await run_in_threadpool(_one, payload, cfg, settings.max_request_bytes)
        return Response(frame, media_type=ARRAYS_MEDIA_TYPE)

    @app.post("/v1/transform/batch", response_class=Response,
              openapi_extra={"requestBody": {"required": True,
                                             "content": {BATCH_MEDIA_TYPE: _BINARY}}},
              responses={200: {"content": {BATCH_MEDIA_TYPE: _BINARY},
                               "description": "one epoch set per recording, same order"},
                         413: {"description": "too large"},
                         422: {"description": "invalid recording or config"}})
    async def transform_batch(request: Request,
                              config: Annotated[str | None,
                                                Query(description=_CONFIG_HELP)] = None
                              ) -> Response:
        """The batch form for the pipeline: length-prefixed recordings in, epoch sets out."""
        cfg = parse_config(config)
        payload = await read_body(request, limit=settings.max_request_bytes,
                                  media_type=BATCH_MEDIA_TYPE, timeout_s=settings.body_timeout_s)

        def _all() -> bytes:
            frames = unpack_frames(payload)
            out = []
            for i, frame in enumerate(frames):
                try:
                    out.append(_one(frame, cfg, settings.max_request_bytes))
                except InvalidInputError as err:
                    raise InvalidInputError(f"recording {i}: {err}", field=err.field) from None
            return pack_frames(out)

        return Response(await run_in_threadpool(_all), media_type=BATCH_MEDIA_TYPE)

    return app


def _one(payload: bytes | memoryview, config: TransformConfig, limit: int) -> bytes:
    return encode_epochs(transform_recording(decode_recording(payload, max_bytes=limit), config))
