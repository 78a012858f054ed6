"""The collector's page logic as a small state machine, free of Streamlit.

``setup -> signal_check -> day -> month -> year -> result -> label -> done``

Each phase stage first shows the stimuli (a :class:`~brain_collector.stimuli.StimulusPlan`
is running) and then, once the browser's report came back and the recording was stored
in the outbox, reviews it (its :class:`PhaseOutcome`). The page (``app.py``) only draws
the current stage and calls these methods; tests drive them directly or through AppTest
with fake :class:`Services` (a fake board, receiver and browser).
"""

from __future__ import annotations

import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

import numpy as np

from brain_collector.acquisition import PHASE_MARKERS, Window
from brain_collector.config import CREDENTIALS_HELP, Settings
from brain_collector.outbox import FlushResult, Outbox
from brain_collector.quality import ChannelQuality, check_signal
from brain_collector.stimuli import StimulusPlan, StimulusReport, make_plan, parse_report
from brain_core.errors import BrainError, DependencyError, InvalidInputError
from brain_core.models import (
    PHASES,
    SUBJECT_PATTERN,
    Device,
    Event,
    Paradigm,
    Phase,
    PhasePrediction,
    Recording,
)
from brain_core.paradigm import make_paradigm

log = logging.getLogger(__name__)

try:
    SOFTWARE_VERSION = f"brain-collector {version('brain-collector')}"
except PackageNotFoundError:  # a source tree without an install
    SOFTWARE_VERSION = "brain-collector 0.0.0+unknown"


class Stage(StrEnum):
    setup = "setup"
    signal_check = "signal_check"
    day = "day"
    month = "month"
    year = "year"
    result = "result"
    label = "label"
    done = "done"


class Board(Protocol):
    """What the session needs from an acquisition (see acquisition.Acquisition)."""

    sfreq: float
    ch_names: tuple[str, ...]
    device: Device
    error: BaseException | None

    def stop(self) -> None: ...
    def present(self, phase: str, values, onsets) -> None: ...
    def mark(self, code: float) -> float | None: ...
    def marker_lag(self, code: float, host_time: float) -> float | None: ...
    def wait_for(self, host_time: float, timeout_s: float) -> bool: ...
    def host_to_index(self, host_times: np.ndarray) -> np.ndarray: ...
    def window(self, start_host: float, stop_host: float) -> Window: ...
    def latest(self, seconds: float) -> np.ndarray: ...
    @property
    def n_times(self) -> int: ...
    @property
    def clock_offset_s(self) -> float: ...


def _open_board(settings: Settings, subject: str) -> Board:
    from brain_collector.acquisition import open_acquisition

    return open_acquisition(
        settings.board, subject=subject, ip_port=settings.crown_ip_port,
        serial_number=settings.crown_serial_number, preset=settings.sim_preset,
        sim_seed=settings.sim_seed, sim_birthdate=settings.sim_birthdate,
        years=settings.years)


def _make_client(settings: Settings):
    from brain_core.upload import ReceiverClient

    username, password = settings.credentials()
    return ReceiverClient(settings.api_url, username, password,
                          timeout_s=settings.upload_timeout_s)


def _show(plan: StimulusPlan) -> dict[str, Any] | None:
    from brain_collector.stimuli import show

    return show(plan)


@dataclass
class Services:
    """What the session talks to; tests replace any of them.

    ``open_board(settings, subject)`` starts streaming; ``make_client(settings)`` gives a
    ReceiverClient; ``display(plan)`` shows the stimuli and returns the browser's report
    once it is over (None before); ``clock`` is UNIX seconds; ``sleep`` waits.
    """

    settings: Settings
    open_board: Callable[[Settings, str], Board] = _open_board
    make_client: Callable[[Settings], Any] = _make_client
    display: Callable[[StimulusPlan], Mapping[str, Any] | None] = _show
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class PhaseOutcome:
    """A finished phase: its recording, its timing and what became of its upload.

    ``upload`` is ``waiting`` (in the outbox), ``sent``, ``rejected`` or ``off`` (no
    credentials: kept in the outbox, not sent).
    """

    phase: str
    recording: Recording
    report: StimulusReport
    upload: str = "waiting"
    prediction: PhasePrediction | None = None
    prediction_error: str | None = None
    rejection: str | None = None


def subject_errors(subject: str) -> list[str]:
    """Why ``subject`` cannot be a subject ID (empty list if it can)."""
    subject = (subject or "").strip()
    if not subject:
        return ["Enter a subject ID: a pseudonym such as S01."]
    if not re.fullmatch(SUBJECT_PATTERN, subject):
        return [f"The subject ID {subject!r} is not valid: use 1-64 letters and digits only, "
                "no spaces or punctuation (a pseudonym such as S01, never a name)."]
    return []


@dataclass
class CollectorSession:
    """One subject's session, from set-up to the label."""

    services: Services
    session_id: uuid.UUID = field(default_factory=uuid.uuid4)
    stage: Stage = Stage.setup
    subject: str | None = None
    board: Board | None = None
    quality: list[ChannelQuality] | None = None
    plan: StimulusPlan | None = None
    outcomes: dict[str, PhaseOutcome] = field(default_factory=dict)
    label_status: str | None = None  # None, "waiting", "sent", "rejected", "off", "skipped"
    last_flush: FlushResult | None = None
    seed: int | None = None
    _marks: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.seed is None:
            configured = self.settings.seed
            self.seed = configured if configured is not None else secrets.randbelow(2**31)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def outbox(self) -> Outbox:
        return Outbox(self.settings.outbox_dir)

    @property
    def phase(self) -> str | None:
        """The current phase, if the stage is one."""
        return self.stage.value if self.stage.value in PHASES else None

    # -- set-up and signal check -------------------------------------------------------

    def submit_setup(self, subject: str, consent: bool) -> list[str]:
        """Validate the set-up; on success go to the signal check. Returns the errors."""
        errors = subject_errors(subject)
        if not consent:
            errors.append("The subject must read and accept the consent text first.")
        if errors:
            return errors
        self.subject = subject.strip()
        self.stage = Stage.signal_check
        return []

    def connect(self) -> Board:
        """Start the board if it is not streaming yet (DependencyError if it cannot)."""
        if self.board is None:
            assert self.subject is not None, "set-up comes first"
            self.board = self.services.open_board(self.settings, self.subject)
        return self.board

    def check_signal(self) -> list[ChannelQuality]:
        """Classify each channel from the last ``signal_check_s`` seconds of EEG."""
        board = self.connect()
        seconds = self.settings.signal_check_s
        needed = int(seconds * board.sfreq)
        deadline = self.services.clock() + seconds + 10.0
        while board.n_times < needed:
            if board.error is not None:
                raise DependencyError(f"the EEG stream stopped: {board.error}")
            if self.services.clock() > deadline:
                raise DependencyError(
                    f"only {board.n_times} of {needed} samples arrived in {seconds + 10:g} s: "
                    "is the board still streaming?")
            self.services.sleep(0.1)
        self.quality = check_signal(board.latest(seconds), board.sfreq, board.ch_names,
                                    noisy_uv=self.settings.noisy_uv,
                                    flat_uv=self.settings.flat_uv)
        return self.quality

    def start_phases(self) -> None:
        if self.stage != Stage.signal_check:
            raise InvalidInputError(f"cannot start the phases from stage {self.stage.value!r}",
                                    field="stage")
        self.stage = Stage.day

    # -- phases ------------------------------------------------------------------------

    def paradigm(self, phase: str) -> Paradigm:
        """The paradigm of ``phase`` under the current settings and this session's seed."""
        s = self.settings
        items = {"day": s.day_items, "month": s.month_items, "year": None}[phase]
        assert self.seed is not None
        return make_paradigm(phase, years=s.years, soa_s=s.time_interval,
                             repetitions=s.repetitions, jitter_s=s.jitter_s,
                             seed=self.seed + PHASES.index(phase), items=items)

    def begin_phase(self) -> StimulusPlan:
        """The current phase's plan; made (and announced to the board) on the first call."""
        phase = self.phase
        if phase is None or phase in self.outcomes:
            raise InvalidInputError(f"no phase to show at stage {self.stage.value!r}",
                                    field="stage")
        if self.plan is not None and self.plan.phase == phase:
            return self.plan
        board = self.connect()
        s = self.settings
        plan = make_plan(phase, self.paradigm(phase), now=self.services.clock(),
                         prepare_s=s.prepare_s, lead_s=s.lead_s, display_s=s.display_s)
        marked = board.mark(PHASE_MARKERS[phase])
        if marked is not None:
            self._marks[phase] = marked
        board.present(phase, plan.values, plan.due_s)
        self.plan = plan
        log.info("phase %s of session %s: %d stimuli", phase, self.session_id,
                 len(plan.values))
        return plan

    def finish_phase(self, raw_report: Mapping[str, Any]) -> PhaseOutcome:
        """Turn the browser's report into a recording, store it, and try to upload it."""
        plan, board = self.plan, self.board
        if plan is None or board is None or plan.phase != self.phase:
            raise InvalidInputError("no phase is running", field="stage")
        report = parse_report(raw_report, plan)
        s = self.settings
        stop = float(report.onsets_s[-1]) + plan.paradigm.soa_s + s.tail_s
        if not board.wait_for(stop, timeout_s=s.tail_s + 10.0):
            raise DependencyError("the EEG stopped arriving before the phase's end: is the "
                                  "board still connected?")
        window = board.window(plan.start_s + report.start_shift_s, stop)
        recording = build_recording(
            session_id=self.session_id, subject=self.subject or "", phase=plan.phase,
            paradigm=plan.paradigm, window=window, ch_names=board.ch_names,
            device=board.device, values=plan.values,
            onset_indices=board.host_to_index(report.onsets_s),
            timing=self._timing(report, board, plan.phase))
        self.outbox.put_recording(recording)
        outcome = PhaseOutcome(phase=plan.phase, recording=recording, report=report,
                               upload="waiting" if s.upload_enabled else "off")
        self.outcomes[plan.phase] = outcome
        self.plan = None
        self.flush()
        return outcome

    def _timing(self, report: StimulusReport, board: Board, phase: str) -> dict[str, float]:
        timing = report.timing()
        offset = board.clock_offset_s
        if np.isfinite(offset):
            timing["clock_offset_s"] = float(offset)
        if phase in self._marks:
            lag = board.marker_lag(PHASE_MARKERS[phase], self._marks[phase])
            if lag is not None:
                timing["marker_lag_s"] = lag
        return timing

    def advance(self) -> None:
        """From a reviewed phase to the next one, or to the result after the year."""
        phase = self.phase
        if phase is None or phase not in self.outcomes:
            raise InvalidInputError(f"cannot advance from stage {self.stage.value!r}",
                                    field="stage")
        following = PHASES.index(phase) + 1
        self.stage = Stage(PHASES[following]) if following < len(PHASES) else Stage.result

    # -- uploads -----------------------------------------------------------------------

    def flush(self) -> FlushResult:
        """Send what waits in the outbox (this session's and older ones)."""
        outbox = self.outbox
        if not self.settings.upload_enabled:
            result = FlushResult(pending=len(outbox.pending()))
        else:
            try:
                client = self.services.make_client(self.settings)
            except BrainError as err:
                result = FlushResult(unreachable=str(err), pending=len(outbox.pending()))
            else:
                try:
                    result = outbox.flush(client)
                finally:
                    client.close()
        self._apply(result)
        self.last_flush = result
        return result

    def _apply(self, result: FlushResult) -> None:
        for (session_id, what), answer in result.sent.items():
            if session_id != self.session_id:
                continue
            if what == "label":
                self.label_status = "sent"
            elif what in self.outcomes:
                outcome = self.outcomes[what]
                outcome.upload = "sent"
                prediction = answer.get("prediction")
                if isinstance(prediction, Mapping):
                    prediction = PhasePrediction.model_validate(prediction)
                outcome.prediction = prediction
                outcome.prediction_error = answer.get("prediction_error")
        for (session_id, what), reason in result.rejected.items():
            if session_id != self.session_id:
                continue
            if what == "label":
                self.label_status = "rejected"
            elif what in self.outcomes:
                self.outcomes[what].upload = "rejected"
                self.outcomes[what].rejection = reason

    @property
    def upload_message(self) -> str | None:
        """What the experimenter should know about uploads, or None if all is well."""
        pending = len(self.outbox.pending())
        if not self.settings.upload_enabled:
            return CREDENTIALS_HELP + (f" ({pending} file(s) in the outbox.)" if pending else "")
        result = self.last_flush
        if result is not None and result.unreachable and pending:
            return (f"{pending} file(s) wait in the outbox ({self.settings.outbox_dir}): the "
                    f"receiver at {self.settings.api_url} could not take them "
                    f"({result.unreachable}). They are sent again with the next phase, with "
                    "'Retry now', and when the app starts.")
        if pending:
            return f"{pending} file(s) wait in the outbox ({self.settings.outbox_dir})."
        return None

    # -- result and label --------------------------------------------------------------

    def predictions(self) -> dict[str, PhasePrediction]:
        return {p: o.prediction for p, o in self.outcomes.items() if o.prediction is not None}

    def birthdate(self):
        """The combined birthdate prediction, or None until all three phases have one."""
        predictions = self.predictions()
        if any(p not in predictions for p in PHASES):
            return None
        from brain_core.birthdate import combine_birthdate

        return combine_birthdate(predictions["day"], predictions["month"], predictions["year"])

    def to_label(self) -> None:
        if self.stage != Stage.result:
            raise InvalidInputError(f"no result yet at stage {self.stage.value!r}",
                                    field="stage")
        self.stage = Stage.label

    def save_label(self, birthdate: date) -> None:
        """Store the true birthdate in the outbox and try to send it."""
        if self.stage != Stage.label or self.subject is None:
            raise InvalidInputError(f"cannot save a label at stage {self.stage.value!r}",
                                    field="stage")
        self.outbox.put_label(self.session_id, self.subject, birthdate)
        self.label_status = "waiting" if self.settings.upload_enabled else "off"
        self.flush()
        self.stage = Stage.done

    def skip_label(self) -> None:
        self.label_status = "skipped"
        self.stage = Stage.done

    def close(self) -> None:
        """Stop the board (the outbox keeps everything not yet sent)."""
        if self.board is not None:
            self.board.stop()
            self.board = None
        self.plan = None


def build_recording(*, session_id: uuid.UUID, subject: str, phase: str, paradigm: Paradigm,
                    window: Window, ch_names: tuple[str, ...], device: Device,
                    values: tuple[int, ...], onset_indices: np.ndarray,
                    timing: dict[str, float]) -> Recording:
    """A phase's recording from its EEG window and the stimuli's stream positions.

    Parameters
    ----------
    window : Window
        EEG in volts, (n_channels, n_times), and its first stream index.
    onset_indices : ndarray, shape (n_stimuli,)
        Fractional stream index of each stimulus onset.
    """
    onsets = (np.asarray(onset_indices, dtype=float) - window.first_index) / window.sfreq
    events = tuple(Event(onset=round(float(t), 6), phase=Phase(phase), value=int(v))
                   for t, v in zip(onsets, values, strict=True))
    return Recording(
        session_id=session_id, subject=subject, phase=Phase(phase), sfreq=window.sfreq,
        ch_names=tuple(ch_names), data=window.data,
        meas_date=datetime.fromtimestamp(window.first_host_time, UTC), events=events,
        device=device, paradigm=paradigm, software_version=SOFTWARE_VERSION, timing=timing)
