"""Settings of the drift service (environment prefix ``BRAIN_DRIFT_``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from brain_core.settings import BrainSettings, settings_config


class Settings(BrainSettings):
    """Drift service settings; each can be set as ``BRAIN_DRIFT_<FIELD>``."""

    # The push URL holds a token: validation errors must not echo what was given.
    model_config = settings_config("BRAIN_DRIFT_", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(8003, ge=1, le=65535)
    reports_dir: Path = Field(
        Path("var/drift"),
        description="reports (HTML and JSON), the service's state, and by default the "
        "reference table",
    )
    reference_path: Path | None = Field(
        None,
        description="features table of the champion's training sessions (Parquet or CSV, "
        "written by `brain drift reference`); default: reference.parquet or reference.csv "
        "in reports_dir. Re-read when the file changes.",
    )
    window_size: int = Field(20, ge=2, le=10_000,
                             description="recent sessions compared with the reference")
    min_sessions: int = Field(10, ge=1, le=10_000,
                              description="sessions needed before the first check")
    family_alpha: float = Field(
        0.02, gt=0, lt=1,
        description="probability that one check alarms although nothing changed (upper bound)",
    )
    recovery_alpha: float = Field(
        0.2, gt=0, lt=1,
        description="looser level that keeps an open drift episode open (hysteresis, so "
        "one episode gives one alert); at least family_alpha",
    )
    min_drifted_features: int = Field(1, ge=1,
                                      description="drifted features that make a drifted window")
    push_url: SecretStr | None = Field(
        None,
        description="Uptime Kuma push URL (http(s)://host/api/push/<token>); it holds a "
        "token: never logged in full",
    )
    push_url_file: Path | None = Field(
        None, description="file holding the push URL (a Docker secret); an empty file, like "
        "an empty push_url, means no alerts")
    heartbeat_interval_s: float = Field(60.0, gt=0, description="seconds between heartbeats")
    push_timeout_s: float = Field(10.0, gt=0)
    push_max_backoff_s: float = Field(60.0, gt=0,
                                      description="longest wait between retries of a push")
    keep_reports: int = Field(20, ge=1, description="reports kept in reports_dir/reports")
    detailed_reports: bool = Field(
        True,
        description="per-feature p-values and plots in every report (about 70 ms of CPU "
        "per feature and check); false: the dataset-level verdict only, ten times cheaper",
    )
    max_upload_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    body_timeout_s: float = Field(
        120.0, gt=0, description="longest time to receive a request body (408 after it)")

    @field_validator("push_url")
    @classmethod
    def _check_push_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        check_push_url(value.get_secret_value())
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.min_sessions > self.window_size:
            raise ValueError(
                f"min_sessions ({self.min_sessions}) must not exceed window_size "
                f"({self.window_size})")
        if self.recovery_alpha < self.family_alpha:
            raise ValueError(
                f"recovery_alpha ({self.recovery_alpha}) must be at least family_alpha "
                f"({self.family_alpha})")
        if self.push_url is not None and self.push_url_file is not None:
            raise ValueError("set push_url or push_url_file, not both")
        if self.push_url_file is not None:
            try:
                text = self.push_url_file.read_text(encoding="utf-8").strip()
            except OSError as err:
                raise ValueError(
                    f"push_url_file points to {str(self.push_url_file)!r}, which cannot be "
                    f"read ({err.strerror})") from None
            if text:  # an empty secret file means "no alerts yet", like an empty variable
                check_push_url(text)
                self.push_url = SecretStr(text)
        return self

    @property
    def resolved_reference_path(self) -> Path:
        """Where the reference table is read from (it may not exist yet)."""
        if self.reference_path is not None:
            return self.reference_path
        for name in ("reference.parquet", "reference.csv"):
            if (self.reports_dir / name).exists():
                return self.reports_dir / name
        return self.reports_dir / "reference.parquet"


def check_push_url(url: str) -> str:
    """Raise ValueError unless ``url`` looks like an Uptime Kuma push URL (never echoed)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("push URL must be an http:// or https:// URL, "
                         "e.g. https://kuma.example/api/push/<token>")
    if not parts.path.strip("/"):
        raise ValueError("push URL has no path; expected .../api/push/<token>")
    return url
