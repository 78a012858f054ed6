"""Settings of the receiver (environment prefix ``BRAIN_RECEIVER_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from brain_core.settings import BrainSettings, settings_config


class Settings(BrainSettings):
    """Receiver settings; every field can be set as ``BRAIN_RECEIVER_<FIELD>``."""

    model_config = settings_config("BRAIN_RECEIVER_")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    spool_dir: Path = Field(Path("var/spool"), description="input spool that brain_data reads")
    state_dir: Path = Field(
        Path("var/receiver"), description="the receiver's own record of accepted uploads"
    )
    credentials_file: Path | None = Field(
        None,
        description="file of `collector:argon2-hash` lines (a Docker secret); re-read when "
        "it changes, so credentials rotate without a restart",
    )
    credentials: str | None = Field(
        None, description="the same lines in one variable, separated by newlines or ';'"
    )
    inference_url: str | None = Field(None, description="e.g. http://127.0.0.1:8002")
    drift_url: str | None = Field(None, description="e.g. http://127.0.0.1:8003")
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    inference_timeout_s: float = Field(30.0, gt=0)
    drift_timeout_s: float = Field(2.0, gt=0)
