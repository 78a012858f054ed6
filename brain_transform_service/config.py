"""Settings of the transform service (environment prefix ``BRAIN_TRANSFORM_``)."""

from __future__ import annotations

from pydantic import Field

from brain_core.settings import BrainSettings, settings_config


class Settings(BrainSettings):
    """Transform service settings; each can be set as ``BRAIN_TRANSFORM_<FIELD>``."""

    model_config = settings_config("BRAIN_TRANSFORM_")

    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    max_request_bytes: int = Field(256 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(
        120.0, gt=0, description="longest time to receive a request body (408 after it)")
