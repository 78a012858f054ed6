"""Settings of brain_data (environment prefix ``BRAIN_DATA_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from brain_core.settings import BrainSettings, settings_config


class Settings(BrainSettings):
    """brain_data settings; each can be set as ``BRAIN_DATA_<FIELD>``.

    S3 credentials are not settings: DVC reads ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` (or a profile) from the environment.
    """

    model_config = settings_config("BRAIN_DATA_")

    spool_dir: Path = Field(
        Path("var/spool"),
        description="the receiver's input spool; brain_data reads <spool_dir>/incoming")
    quarantine_dir: Path | None = Field(
        None, description="where bad spool files go, each with a reason file "
        "(default <spool_dir>/quarantine)")
    raw_repo: Path = Field(Path("var/data/raw"),
                           description="the raw DVC repository (BIDS EEG + labels)")
    feature_repo: Path = Field(Path("var/data/features"),
                               description="the feature-store DVC repository")
    raw_remote: str = Field(
        "var/dvc-remote/raw",
        description="DVC remote of the raw repository: a folder or s3://bucket/prefix")
    feature_remote: str = Field(
        "var/dvc-remote/features",
        description="DVC remote of the feature store: a folder or s3://bucket/prefix")
    s3_endpoint_url: str | None = Field(
        None, description="S3 API endpoint for s3:// remotes (MinIO: http://minio:9000); "
        "unset for AWS")
    batch_max_files: int = Field(
        200, ge=1, description="at most this many spool files per commit")
    rescan_interval_s: float = Field(
        30.0, gt=0, description="full rescan of the spool even without file events")
    settle_s: float = Field(
        0.5, ge=0, description="after a file event, wait this long to batch more arrivals")
    retry_max_s: float = Field(
        60.0, gt=0, description="longest pause between retries after a failed batch")
    lock_timeout_s: float | None = Field(
        None, gt=0, description="give up waiting for a repository's writer lock after "
        "this many seconds (unset: wait as long as needed)")

    forget_report_dir: Path = Field(
        Path("var/data/forget-reports"),
        description="where `brain forget` writes its reports (they name the pseudonym, "
        "never a birthdate)")

    airflow_url: str | None = Field(
        None, description="Airflow's API server (e.g. http://airflow-apiserver:8080): new "
        "raw data then starts brain_etl at once instead of at the next hourly run")
    airflow_username: str | None = Field(
        None, description="Airflow user for asset events; its password comes from "
        "BRAIN_DATA_AIRFLOW_PASSWORD or BRAIN_DATA_AIRFLOW_PASSWORD_FILE")

    @property
    def incoming(self) -> Path:
        return self.spool_dir / "incoming"

    @property
    def quarantine(self) -> Path:
        return self.quarantine_dir or self.spool_dir / "quarantine"
