"""The data contract shared by every BRAIN package (schema version 1).

A :class:`Recording` is one phase of one session: EEG in volts shaped
``(n_channels, n_times)`` plus the stimulus events that were shown. A :class:`Label`
(the session's birthdate) travels separately from the EEG. A :class:`PhasePrediction`
is what a model says about one phase.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from brain_core.errors import InvalidInputError, check_option

SCHEMA_VERSION: Literal[1] = 1

#: Largest absolute value a sample may take, in volts. Real EEG stays far below 0.1 V;
#: anything above this is a unit error (µV or raw ADC counts sent as volts).
MAX_ABS_VOLTS = 1.0

#: Earliest birth year any paradigm may show.
MIN_YEAR = 1900
MAX_YEAR = 2100

SUBJECT_PATTERN = r"^[A-Za-z0-9]{1,64}$"


class Phase(StrEnum):
    """The three phases of a session, in the order they are shown."""

    day = "day"
    month = "month"
    year = "year"


PHASES: tuple[str, ...] = tuple(p.value for p in Phase)


def phase_range(phase: str) -> tuple[int, int]:
    """Inclusive range of the values a phase's items may take."""
    phase = check_option("phase", phase, PHASES)
    return {"day": (1, 31), "month": (1, 12), "year": (MIN_YEAR, MAX_YEAR)}[phase]


def check_item(phase: str, value: int, field: str = "value") -> int:
    """Raise if ``value`` is outside the range of ``phase`` (1-31, 1-12, 1900-2100)."""
    phase = str(Phase(phase)) if phase in PHASES else phase
    low, high = phase_range(phase)
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInputError(
            f"Invalid value for the {field!r} parameter: expected an integer item of phase "
            f"{phase!r}, got {value!r}.",
            field=field,
        )
    if not low <= value <= high:
        raise InvalidInputError(
            f"Invalid value for the {field!r} parameter: item {value} is outside the "
            f"{phase!r} phase's range {low}-{high}.",
            field=field,
        )
    return int(value)


def trial_type(phase: str, value: int) -> str:
    """The BIDS ``trial_type`` of a stimulus, e.g. ``stim/day/17``."""
    return f"stim/{phase}/{value}"


def parse_trial_type(text: str) -> tuple[str, int] | None:
    """Parse ``stim/<phase>/<value>``; return None for any other annotation."""
    parts = text.strip().split("/")
    if len(parts) != 3 or parts[0] != "stim" or parts[1] not in PHASES:
        return None
    try:
        value = int(parts[2])
    except ValueError:
        return None
    return parts[1], value


def _as_float32_2d(value: Any) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"data must be a numeric array, got {type(value).__name__}") from err
    if array.ndim != 2:
        raise ValueError(
            f"data must be 2-D (n_channels, n_times), got {array.ndim} dimension(s) "
            f"with shape {array.shape}"
        )
    if array.shape[1] == 0:
        raise ValueError("data holds no samples (n_times is 0)")
    finite = np.isfinite(array)
    if not finite.all():
        ch, t = np.argwhere(~finite)[0]
        raise ValueError(
            f"data holds {int((~finite).sum())} non-finite value(s) (NaN or Inf); "
            f"the first is at channel {ch}, sample {t}"
        )
    peak = float(np.abs(array).max())
    if peak > MAX_ABS_VOLTS:
        raise ValueError(
            f"data must be in volts; its largest absolute value is {peak:g}, above "
            f"{MAX_ABS_VOLTS} V (microvolts sent as volts?)"
        )
    return np.ascontiguousarray(array)


EEGArray = Annotated[
    np.ndarray,
    BeforeValidator(_as_float32_2d),
    PlainSerializer(lambda a: None, return_type=None, when_used="json"),
]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("meas_date must carry a timezone (UTC)")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00: its UTC time is before year 1
        raise ValueError("meas_date is out of range once converted to UTC") from None


class Event(BaseModel):
    """One stimulus shown: onset in seconds from the recording's first sample."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    onset: float = Field(ge=0, allow_inf_nan=False, description="seconds from the first sample")
    phase: Phase
    value: int

    @property
    def trial_type(self) -> str:
        return trial_type(self.phase, self.value)


class Paradigm(BaseModel):
    """How the stimuli of a phase were scheduled."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    soa_s: float = Field(0.5, gt=0, le=10, allow_inf_nan=False)
    repetitions: int = Field(10, ge=1, le=200)
    jitter_s: float = Field(0.05, ge=0, le=1, allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    items: tuple[int, ...] = Field(min_length=1, max_length=512)

    @field_validator("items")
    @classmethod
    def _unique_items(cls, items: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(items)) != len(items):
            raise ValueError("items must not repeat")
        return items


class Device(BaseModel):
    """The board that recorded the EEG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    board_id: int | None = Field(None, description="BrainFlow board id; None when unknown")


class Recording(BaseModel):
    """One phase of one session: EEG in volts plus the stimuli shown."""

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid", frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    session_id: UUID
    subject: str = Field(pattern=SUBJECT_PATTERN, description="pseudonym, BIDS label")
    phase: Phase
    sfreq: float = Field(gt=0, le=100_000, allow_inf_nan=False, description="Hz")
    ch_names: tuple[str, ...] = Field(min_length=1, max_length=512)
    data: EEGArray = Field(description="float32 volts, (n_channels, n_times)")
    meas_date: datetime
    events: tuple[Event, ...] = ()
    device: Device
    paradigm: Paradigm
    software_version: str = Field(min_length=1, max_length=64)
    untimed: bool = Field(
        False, description="True when onsets were not marked but guessed (legacy uploads)"
    )
    timing: dict[str, float] = Field(
        default_factory=dict,
        description="measured stimulus timing, e.g. onset jitter in seconds (collector)",
    )

    @field_validator("meas_date")
    @classmethod
    def _meas_date_utc(cls, value: datetime) -> datetime:
        return _utc(value)

    @field_validator("ch_names")
    @classmethod
    def _unique_channels(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if any(not n or len(n) > 32 for n in names):
            raise ValueError("channel names must be 1-32 characters")
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {list(names)}")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> Recording:
        n_channels, n_times = self.data.shape
        if n_channels != len(self.ch_names):
            raise ValueError(
                f"data has {n_channels} channel row(s) but ch_names lists "
                f"{len(self.ch_names)}: shape must be (len(ch_names), n_times)"
            )
        for i, item in enumerate(self.paradigm.items):
            check_item(self.phase, item, field=f"paradigm.items[{i}]")
        duration = n_times / self.sfreq
        allowed = set(self.paradigm.items)
        previous = -math.inf
        for i, event in enumerate(self.events):
            if event.phase != self.phase:
                raise ValueError(
                    f"events[{i}].phase is {event.phase.value!r} in a {self.phase.value!r} "
                    "recording"
                )
            if event.value not in allowed:
                raise ValueError(
                    f"events[{i}].value {event.value} is not one of the paradigm's items"
                )
            if event.onset <= previous:
                raise ValueError(
                    f"events[{i}].onset {event.onset:g} s does not increase (previous "
                    f"{previous:g} s)"
                )
            if event.onset >= duration:
                raise ValueError(
                    f"events[{i}].onset {event.onset:g} s is outside the data "
                    f"({duration:g} s long)"
                )
            previous = event.onset
        return self

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_times / self.sfreq

    def metadata(self) -> dict[str, Any]:
        """Everything but the samples, JSON-ready."""
        return self.model_dump(mode="json", exclude={"data"})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recording):
            return NotImplemented
        return self.metadata() == other.metadata() and np.array_equal(self.data, other.data)

    __hash__ = None  # type: ignore[assignment]


class Label(BaseModel):
    """The ground truth of a session: the subject's birthdate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    session_id: UUID
    subject: str = Field(pattern=SUBJECT_PATTERN)
    birthdate: date = Field(description="YYYY-MM-DD")

    @field_validator("birthdate")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if value.year < MIN_YEAR or value > datetime.now(UTC).date():
            raise ValueError(
                f"birthdate {value.isoformat()} must lie between {MIN_YEAR}-01-01 and today"
            )
        return value

    def __repr__(self) -> str:  # birthdates never reach logs through a repr
        return f"Label(session_id={self.session_id}, subject={self.subject!r}, birthdate=<hidden>)"

    __str__ = __repr__


class PhasePrediction(BaseModel):
    """A model's answer for one phase: a probability per item and a decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    session_id: UUID | None = None
    phase: Phase
    items: tuple[int, ...] = Field(min_length=1)
    probabilities: tuple[float, ...] = Field(min_length=1)
    top_item: int
    confidence: float = Field(ge=0, le=1, allow_inf_nan=False)
    indeterminate: bool
    model_name: str
    model_version: str

    @model_validator(mode="after")
    def _consistent(self) -> PhasePrediction:
        if len(self.items) != len(self.probabilities):
            raise ValueError(
                f"probabilities has {len(self.probabilities)} value(s) for "
                f"{len(self.items)} item(s)"
            )
        p = np.asarray(self.probabilities)
        if not np.isfinite(p).all() or (p < 0).any():
            raise ValueError("probabilities must be finite and non-negative")
        if abs(p.sum() - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1, got {p.sum():.6f}")
        if self.top_item not in self.items:
            raise ValueError(f"top_item {self.top_item} is not one of the items")
        return self

    def probability_of(self, item: int) -> float:
        return self.probabilities[self.items.index(item)]
