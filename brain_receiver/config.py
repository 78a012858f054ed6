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
    # Limits (see brain_receiver.limits); per process: with N workers or replicas, N times.
    rate_limit_per_s: float = Field(
        5.0, gt=0, description="requests per second one collector may sustain (a session "
        "is 4 requests; the demo and benchmarks stay under it with the burst)")
    rate_limit_burst: int = Field(300, ge=1, description="requests one collector may make "
                                  "at once before the sustained rate applies")
    auth_failures_per_min: float = Field(
        6.0, gt=0, description="wrong passwords per minute one client address may send")
    auth_failures_burst: int = Field(10, ge=1, description="wrong passwords in a row before "
                                     "an address waits (429)")
    body_timeout_s: float = Field(
        120.0, gt=0, description="longest time to receive a request body (408 after it): "
        "a 64 MiB upload needs about 4.5 Mbit/s")
    # uvicorn (brain_receiver.__main__)
    limit_concurrency: int = Field(
        100, ge=1, description="connections and requests at once; more get 503")
    keep_alive_timeout_s: int = Field(5, ge=1, description="idle keep-alive connections "
                                        "are closed after this")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="proxies whose X-Forwarded-For names the client address "
        "(comma-separated, or '*' when only the proxy can reach the receiver)")
    # Health and the drift outbox
    health_probe_interval_s: float = Field(
        30.0, gt=0, description="/health asks a dependency's own /health when no call "
        "reached it for this long")
    drift_outbox_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024, description="bound of the drift outbox in "
        "<state_dir>/drift-outbox; the oldest recordings are dropped above it")
    drift_max_backoff_s: float = Field(60.0, gt=0, description="longest wait between "
                                       "retries while drift is down")
