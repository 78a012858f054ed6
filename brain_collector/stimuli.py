"""Stimulus presentation: the plan, the browser component, and the timing it measured.

A phase's :class:`StimulusPlan` pins brain_core's randomized schedule to the collector's
clock: stimulus ``i`` is due at ``start_s + onsets[i]`` (UNIX seconds), ``prepare_s``
after the page shows it. The browser component (``frontend/stimuli.{html,css,js}``,
a Streamlit custom component v2) shows each item in the animation frame nearest its due
time (``requestAnimationFrame``) and reports each frame's timestamp back; those are the
actual onsets. The jitter is the actual onset minus the due time.

A frame timestamp is when the browser started producing the frame that shows the item;
on a real screen the pixels change at the next vertical refresh, a fixed delay the
jitter does not see. Headless Chromium without a GPU has no screen: its numbers say how
well the page keeps the schedule, not what a monitor shows.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import numpy as np

from brain_core.errors import InvalidInputError
from brain_core.models import Paradigm
from brain_core.paradigm import make_schedule

#: Month names shown in the month phase (fixed, not the locale's).
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")

COMPONENT_NAME = "brain_collector.stimuli"


def item_label(phase: str, value: int) -> str:
    """What the subject sees for an item: ``17``, ``March``, ``1994``."""
    return MONTH_NAMES[value - 1] if phase == "month" else str(value)


@dataclass(frozen=True)
class StimulusPlan:
    """One phase's stimuli pinned to the collector's clock.

    Attributes
    ----------
    run_id : str
        Identifies this showing (a re-render never restarts it).
    phase : str
        ``day``, ``month`` or ``year``.
    paradigm : Paradigm
        Items, repetitions, SOA, jitter and seed.
    values : tuple of int
        Item of each stimulus, in order.
    due_s : ndarray, shape (n_stimuli,)
        When each stimulus is due, UNIX seconds.
    start_s : float
        Time zero of the schedule (``lead_s`` before the first stimulus), UNIX seconds.
    display_s : float
        How long each item stays on screen, s.
    """

    run_id: str
    phase: str
    paradigm: Paradigm
    values: tuple[int, ...]
    due_s: np.ndarray
    start_s: float
    display_s: float

    @property
    def end_s(self) -> float:
        """When the last stimulus's SOA is over, UNIX seconds."""
        return float(self.due_s[-1]) + self.paradigm.soa_s

    def component_data(self) -> dict[str, Any]:
        """The JSON the browser component receives."""
        return {
            "run_id": self.run_id,
            "phase": self.phase,
            "labels": [item_label(self.phase, v) for v in self.values],
            "due_ms": [round(t * 1000.0, 3) for t in self.due_s],
            "start_ms": round(self.start_s * 1000.0, 3),
            "end_ms": round(self.end_s * 1000.0, 3),
            "display_ms": self.display_s * 1000.0,
        }


def make_plan(phase: str, paradigm: Paradigm, *, now: float, prepare_s: float = 3.0,
              lead_s: float = 1.0, display_s: float = 0.35) -> StimulusPlan:
    """Pin ``paradigm``'s schedule to the clock: time zero is ``now + prepare_s``."""
    if display_s > paradigm.soa_s:
        raise InvalidInputError(
            f"Invalid value for the 'display_s' parameter: {display_s} s is longer than the "
            f"SOA ({paradigm.soa_s} s).", field="display_s")
    schedule = make_schedule(paradigm, lead_s=lead_s)
    start = now + prepare_s
    return StimulusPlan(run_id=uuid.uuid4().hex, phase=phase, paradigm=paradigm,
                        values=tuple(int(v) for v in schedule.values),
                        due_s=start + schedule.onsets, start_s=start, display_s=display_s)


@dataclass(frozen=True)
class StimulusReport:
    """What the browser measured while showing a plan.

    Attributes
    ----------
    onsets_s : ndarray, shape (n_stimuli,)
        Timestamp of the frame each item appeared in, UNIX seconds.
    planned_s : ndarray, shape (n_stimuli,)
        The due times the browser worked to (the plan's, plus ``start_shift_s``).
    start_shift_s : float
        How late the page started the schedule because it mounted late, s.
    frame_interval_s : float
        Median time between animation frames, s.
    long_frames : int
        Frames that took more than 1.5 median intervals (dropped frames).
    hidden_frames : int
        Frames while the page was not visible (the timing is then unreliable).
    """

    onsets_s: np.ndarray
    planned_s: np.ndarray
    start_shift_s: float
    frame_interval_s: float
    n_frames: int
    long_frames: int
    hidden_frames: int

    @property
    def jitter_s(self) -> np.ndarray:
        """Actual minus planned onset of each stimulus, s."""
        return self.onsets_s - self.planned_s

    def timing(self) -> dict[str, float]:
        """Summary for ``Recording.timing`` (seconds)."""
        jitter = self.jitter_s
        return {
            "jitter_mean_s": float(np.mean(jitter)),
            "jitter_sd_s": float(np.std(jitter)),
            "jitter_p95_s": float(np.percentile(np.abs(jitter), 95)),
            "jitter_max_s": float(np.max(np.abs(jitter))),
            "frame_interval_s": float(self.frame_interval_s),
            "start_shift_s": float(self.start_shift_s),
            "long_frames": float(self.long_frames),
        }


def parse_report(raw: Mapping[str, Any], plan: StimulusPlan) -> StimulusReport:
    """Validate the component's report against ``plan``.

    Raises
    ------
    InvalidInputError
        If the report belongs to another run or does not hold one onset per stimulus.
    """
    if raw.get("run_id") != plan.run_id:
        raise InvalidInputError(
            f"The stimulus report is for run {raw.get('run_id')!r}, not {plan.run_id!r}.",
            field="run_id")
    try:
        onsets = np.asarray(raw["onsets_ms"], dtype=float) / 1000.0
        planned = np.asarray(raw["planned_ms"], dtype=float) / 1000.0
        report = StimulusReport(
            onsets_s=onsets, planned_s=planned,
            start_shift_s=float(raw.get("start_shift_ms") or 0.0) / 1000.0,
            frame_interval_s=float(raw.get("frame_interval_ms") or np.nan) / 1000.0,
            n_frames=int(raw.get("n_frames") or 0),
            long_frames=int(raw.get("long_frames") or 0),
            hidden_frames=int(raw.get("hidden_frames") or 0))
    except (KeyError, TypeError, ValueError) as err:
        raise InvalidInputError(f"Malformed stimulus report: {err}", field="report") from None
    n = len(plan.values)
    if onsets.shape != (n,) or planned.shape != (n,):
        raise InvalidInputError(
            f"The stimulus report holds {onsets.size} onset(s) and {planned.size} planned "
            f"time(s) for {n} stimuli.", field="onsets_ms")
    if not np.all(np.isfinite(onsets)) or np.any(np.diff(onsets) <= 0):
        raise InvalidInputError("The stimulus onsets must be finite and increasing.",
                                field="onsets_ms")
    return report


@cache
def _assets() -> dict[str, str]:
    folder = files("brain_collector") / "frontend"
    return {kind: (folder / f"stimuli.{kind}").read_text(encoding="utf-8")
            for kind in ("html", "css", "js")}


@cache
def _component():
    import streamlit as st

    assets = _assets()
    return st.components.v2.component(COMPONENT_NAME, html=assets["html"], css=assets["css"],
                                      js=assets["js"])


def _ignore() -> None:
    """The report's change callback: the rerun it causes is all the page needs."""


def show(plan: StimulusPlan) -> dict[str, Any] | None:
    """Mount the stimulus component for ``plan``; its report once the run is over."""
    result = _component()(key=f"stimuli-{plan.run_id}", data=plan.component_data(),
                          on_report_change=_ignore)
    raw = getattr(result, "report", None)
    if isinstance(raw, Mapping) and raw.get("run_id") == plan.run_id:
        return dict(raw)
    return None
