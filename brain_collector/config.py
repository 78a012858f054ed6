"""Settings of the collector.

The original system's variables keep their names and meaning and have no prefix:
``API_URL``, ``API_USERNAME``, ``API_PASSWORD``, ``TIME_INTERVAL`` (the SOA in seconds),
``START_YEAR`` and ``END_YEAR``. Everything new is ``BRAIN_COLLECTOR_<FIELD>``. Both
come from the environment or from a ``.env`` file in the working directory; the table in
``brain_collector/README.md`` lists them all.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from brain_core.errors import InvalidInputError
from brain_core.models import check_item
from brain_core.paradigm import DEFAULT_YEARS
from brain_core.settings import BrainSettings, Secret, read_secret, settings_config

BoardKind = Literal["crown", "synthetic", "emulator"]

#: What a missing password or user name looks like to the experimenter.
CREDENTIALS_HELP = (
    "Uploads are off: set API_USERNAME and API_PASSWORD (the collector's name and "
    "password on the receiver, from `brain receiver add-collector NAME -f FILE`) in the "
    "environment or in a `.env` file next to where you start the app, then restart it. "
    "Until then every phase is kept in the outbox and nothing is sent."
)

DEFAULT_CONSENT = """\
**Consent to take part**

You will see numbers and month names, one at a time, while a headset records your EEG
(the brain's electrical activity at the scalp). Some of them may be your own birth day,
month or year; you do not need to do anything but look at the screen.

- The recording is stored under a pseudonym (the subject ID), never under your name.
- Your true birthdate is asked at the end, to check the prediction; you may skip it.
- You can stop at any moment, without giving a reason.
- The data are used to build and evaluate BRAIN's models; ask the experimenter to have
  your recordings deleted at any time, quoting the session ID shown at the end.
"""


def parse_items(text: str, low: int, high: int, field: str) -> tuple[int, ...]:
    """Parse ``"1-31"``, ``"1,5,17"`` or ``"1-4, 9"`` into sorted unique items.

    Raises
    ------
    InvalidInputError
        If a part is not a number or a range, or an item lies outside ``low``-``high``.
    """
    items: set[int] = set()
    for part in (p.strip() for p in str(text).split(",")):
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if not match:
            raise InvalidInputError(
                f"Invalid value for {field}: {part!r} is not a number or a range like "
                f"'{low}-{high}' (got {text!r}).", field=field)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if last < first or first < low or last > high:
            raise InvalidInputError(
                f"Invalid value for {field}: {part!r} must lie within {low}-{high} "
                f"(got {text!r}).", field=field)
        items.update(range(first, last + 1))
    if len(items) < 2:
        raise InvalidInputError(
            f"Invalid value for {field}: at least 2 items are needed (got {text!r}).",
            field=field)
    return tuple(sorted(items))


class Settings(BrainSettings):
    """Collector settings; see the module docstring for the variable names."""

    model_config = settings_config("BRAIN_COLLECTOR_")

    # -- the original system's variables (no prefix) ----------------------------------
    api_url: str = Field(
        "http://127.0.0.1:8000", validation_alias="API_URL",
        description="the receiver's base URL (a legacy '.../upload/' suffix is dropped)")
    api_username: str | None = Field(
        None, validation_alias="API_USERNAME", description="the collector's name on the receiver")
    api_password: Secret | None = Field(
        None, validation_alias="API_PASSWORD",
        description="its password; no default (API_PASSWORD_FILE may name a file instead)")
    time_interval: float = Field(
        0.5, gt=0, le=10, validation_alias="TIME_INTERVAL",
        description="stimulus onset asynchrony (SOA), s")
    start_year: int = Field(DEFAULT_YEARS[0], validation_alias="START_YEAR")
    end_year: int = Field(DEFAULT_YEARS[1], validation_alias="END_YEAR")

    # -- BRAIN_COLLECTOR_* -------------------------------------------------------------
    board: BoardKind = Field("crown", description="crown | synthetic | emulator")
    crown_ip_port: int = Field(9000, ge=1, le=65535, description="UDP port of the Crown's OSC")
    crown_serial_number: str | None = Field(
        None, description="only accept the Crown whose OSC address holds this id")
    repetitions: int = Field(10, ge=1, le=200, description="showings of each item per phase")
    jitter_s: float = Field(0.05, ge=0, le=1, description="uniform onset jitter added, s")
    lead_s: float = Field(1.0, ge=0, le=10, description="recorded before the first stimulus, s")
    tail_s: float = Field(1.5, ge=0.5, le=10, description="recorded after the last SOA, s")
    prepare_s: float = Field(
        3.0, ge=0.5, le=30, description="'get ready' time between the page and the schedule, s")
    display_s: float = Field(0.35, gt=0, le=10, description="how long each item stays, s")
    days: str = Field("1-31", description="day items, e.g. '1-31' or '1-4,17'")
    months: str = Field("1-12", description="month items, e.g. '1-12'")
    seed: int | None = Field(None, ge=0, description="schedule seed; unset: new per session")
    outbox_dir: Path = Field(Path("var/collector/outbox"), description="phases waiting to upload")
    upload_timeout_s: float = Field(60.0, gt=0, le=600)
    signal_check_s: float = Field(4.0, ge=1, le=60, description="data used by the signal check, s")
    noisy_uv: float = Field(
        40.0, gt=0, description="robust SD (1-40 Hz) above which a channel is noisy, µV")
    flat_uv: float = Field(0.5, ge=0, description="robust SD below which a channel is flat, µV")
    sim_preset: Literal["easy", "realistic", "hard"] = Field(
        "easy", description="noise preset of the simulated subject (synthetic, emulator)")
    sim_seed: int = Field(0, ge=0, description="seed of the simulated subject")
    sim_birthdate: date | None = Field(
        None, description="force the simulated subject's birthdate (YYYY-MM-DD)")
    consent_file: Path | None = Field(
        None, description="Markdown file with the consent text; unset: the built-in text")

    @field_validator("api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"API_URL must be an http(s) URL, got {value!r}")
        # The original collector posted to <receiver>/upload/; BRAIN's receiver lives at
        # the base URL and keeps that legacy route itself.
        return re.sub(r"/upload/?$", "", value.rstrip("/")).rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _password_file(cls, values: dict) -> dict:
        # API_PASSWORD_FILE (a Docker secret) stands in for API_PASSWORD.
        if isinstance(values, dict) and not any(
                k.lower() in ("api_password",) for k in values) \
                and os.environ.get("API_PASSWORD_FILE"):
            values = {**values, "API_PASSWORD": read_secret("API_PASSWORD")}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        check_item("year", self.start_year, field="START_YEAR")
        check_item("year", self.end_year, field="END_YEAR")
        if self.end_year <= self.start_year:
            raise ValueError(f"END_YEAR ({self.end_year}) must be after START_YEAR "
                             f"({self.start_year})")
        self.day_items  # noqa: B018 - parse now so a bad value fails at start
        self.month_items  # noqa: B018
        if self.display_s > self.time_interval:
            raise ValueError(f"BRAIN_COLLECTOR_DISPLAY_S ({self.display_s}) must not exceed "
                             f"TIME_INTERVAL ({self.time_interval})")
        return self

    @property
    def day_items(self) -> tuple[int, ...]:
        return parse_items(self.days, 1, 31, "BRAIN_COLLECTOR_DAYS")

    @property
    def month_items(self) -> tuple[int, ...]:
        return parse_items(self.months, 1, 12, "BRAIN_COLLECTOR_MONTHS")

    @property
    def years(self) -> tuple[int, int]:
        return self.start_year, self.end_year

    @property
    def upload_enabled(self) -> bool:
        """True when a user name and a password are set."""
        return bool(self.api_username) and self.api_password is not None

    def credentials(self) -> tuple[str, str]:
        """``(username, password)``; raises if uploads are off."""
        if not self.upload_enabled:
            raise InvalidInputError(CREDENTIALS_HELP, field="API_PASSWORD")
        assert self.api_username is not None and self.api_password is not None
        return self.api_username, SecretStr.get_secret_value(self.api_password)

    def consent_text(self) -> str:
        """The consent text the subject must accept."""
        if self.consent_file is None:
            return DEFAULT_CONSENT
        try:
            return self.consent_file.read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidInputError(
                f"BRAIN_COLLECTOR_CONSENT_FILE points to {str(self.consent_file)!r}, which "
                f"cannot be read ({err.strerror}).", field="consent_file") from None
