"""Settings of the inference service (environment prefix ``BRAIN_INFERENCE_``)."""

from __future__ import annotations

from pydantic import Field

from brain_core.settings import BrainSettings, settings_config


class Settings(BrainSettings):
    """Inference settings; each can be set as ``BRAIN_INFERENCE_<FIELD>``."""

    model_config = settings_config("BRAIN_INFERENCE_")

    host: str = "127.0.0.1"
    port: int = Field(8002, ge=1, le=65535)
    tracking_uri: str = Field(description="MLflow tracking URI, e.g. http://127.0.0.1:5000")
    model_name: str = "brain-p300"
    alias: str = "champion"
    transform_url: str = Field(description="transform service, e.g. http://127.0.0.1:8001")
    poll_interval_s: float = Field(10.0, gt=0, description="how often the registry is asked")
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(
        120.0, gt=0, description="longest time to receive a request body (408 after it)")
    transform_timeout_s: float = Field(30.0, gt=0)
