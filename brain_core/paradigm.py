"""Stimulus schedules: which item is shown when.

Each phase shows its items ``repetitions`` times in randomized blocks (every item once
per block, so counts are balanced at any point), never the same item twice in a row,
one every ``soa_s`` seconds plus a uniform onset jitter of up to ``jitter_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brain_core.errors import InvalidInputError, check_option
from brain_core.models import PHASES, Event, Paradigm, Phase, check_item

DEFAULT_YEARS = (1950, 2009)


def phase_items(phase: str, years: tuple[int, int] = DEFAULT_YEARS) -> tuple[int, ...]:
    """The items shown in a phase: days 1-31, months 1-12, or the inclusive year range."""
    phase = check_option("phase", phase, PHASES)
    if phase == "day":
        return tuple(range(1, 32))
    if phase == "month":
        return tuple(range(1, 13))
    start, end = years
    check_item("year", start, field="start_year")
    check_item("year", end, field="end_year")
    if end <= start:
        raise InvalidInputError(
            f"Invalid year range: end_year ({end}) must be after start_year ({start}).",
            field="end_year",
        )
    return tuple(range(start, end + 1))


def make_paradigm(
    phase: str,
    *,
    years: tuple[int, int] = DEFAULT_YEARS,
    soa_s: float = 0.5,
    repetitions: int = 10,
    jitter_s: float = 0.05,
    seed: int = 0,
    items: Sequence[int] | None = None,
) -> Paradigm:
    """A :class:`Paradigm` for ``phase`` with its standard items (or ``items``)."""
    chosen = tuple(items) if items is not None else phase_items(phase, years)
    for i, item in enumerate(chosen):
        check_item(phase, item, field=f"items[{i}]")
    return Paradigm(
        soa_s=soa_s, repetitions=repetitions, jitter_s=jitter_s, seed=seed, items=chosen
    )


@dataclass(frozen=True)
class Schedule:
    """Planned stimuli: ``onsets`` in seconds from the start, ``values`` the items."""

    onsets: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def events(self, phase: str, offset_s: float = 0.0) -> tuple[Event, ...]:
        """The schedule as contract events, shifted by ``offset_s`` seconds."""
        return tuple(
            Event(onset=float(t) + offset_s, phase=Phase(phase), value=int(v))
            for t, v in zip(self.onsets, self.values, strict=True)
        )


def item_order(items: Sequence[int], repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """Randomized blocks of ``items``, no item twice in a row across block borders."""
    pool = np.asarray(items)
    if len(pool) < 2 and repetitions > 1:
        raise InvalidInputError(
            "Invalid paradigm: a single item cannot be repeated without showing it twice "
            "in a row; give at least 2 items.",
            field="items",
        )
    blocks: list[np.ndarray] = []
    for _ in range(repetitions):
        block = rng.permutation(pool)
        if blocks and block[0] == blocks[-1][-1]:
            # Swap the repeat with a random later position: still a uniform-ish shuffle.
            j = rng.integers(1, len(block))
            block[0], block[j] = block[j], block[0]
        blocks.append(block)
    return np.concatenate(blocks)


def make_schedule(paradigm: Paradigm, lead_s: float = 1.0) -> Schedule:
    """Onsets and items for ``paradigm``, reproducible from its seed.

    Parameters
    ----------
    paradigm : Paradigm
        Items, repetitions, SOA, jitter and seed.
    lead_s : float
        Seconds before the first stimulus (room for a baseline and filter settling).

    Returns
    -------
    Schedule
        ``len(items) * repetitions`` stimuli; onsets in seconds, increasing.
    """
    if lead_s < 0:
        raise InvalidInputError(f"lead_s must be >= 0, got {lead_s}", field="lead_s")
    rng = np.random.default_rng(paradigm.seed)
    values = item_order(paradigm.items, paradigm.repetitions, rng)
    jitter = rng.uniform(0.0, paradigm.jitter_s, size=len(values))
    onsets = lead_s + np.arange(len(values)) * paradigm.soa_s + jitter
    return Schedule(onsets=onsets, values=values)
