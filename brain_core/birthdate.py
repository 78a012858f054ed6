"""A birthdate from the day, month and year predictions: real calendar dates only.

The phases are separate recordings, so their probabilities multiply; the product is
restricted to dates that exist (no 31 April, no 29 February 2001) and renormalized.
The collector shows the result and the model reports it, so it lives in the contract.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from scipy.special import logsumexp

from brain_core.errors import InvalidInputError
from brain_core.models import PhasePrediction


@dataclass(frozen=True)
class BirthdatePrediction:
    """The most probable valid calendar date given the day, month and year phases.

    ``indeterminate`` is True when any phase is indeterminate, when the calendar moved
    the date off a phase's top item (e.g. the top day 31 with the top month April), or
    when the date's probability is below the model's ``min_probability``. The repr
    hides the date: birthdates never reach logs.
    """

    date: date
    probability: float
    indeterminate: bool
    reasons: tuple[str, ...] = ()
    marginals: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"BirthdatePrediction(date=<hidden>, probability={self.probability:.3f}, "
                f"indeterminate={self.indeterminate})")

    __str__ = __repr__


def _valid_days(years: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Days in each (year, month): array (n_years, n_months)."""
    out = np.zeros((len(years), len(months)), dtype=int)
    for a, y in enumerate(years):
        for b, m in enumerate(months):
            if 1 <= m <= 12 and 1 <= y <= 9999:
                out[a, b] = calendar.monthrange(int(y), int(m))[1]
    return out


def n_valid_dates(days: Sequence[int], months: Sequence[int], years: Sequence[int]) -> int:
    """Number of real calendar dates among the (day, month, year) combinations."""
    n_days = _valid_days(np.asarray(years), np.asarray(months))
    day = np.asarray(days)
    return int(((day[None, None, :] >= 1) & (day[None, None, :] <= n_days[:, :, None])).sum())


def joint_date_log_probabilities(day: PhasePrediction, month: PhasePrediction,
                                 year: PhasePrediction) -> np.ndarray:
    """Log-probabilities over (year, month, day) restricted to real calendar dates.

    Returns
    -------
    array, shape (n_years, n_months, n_days)
        Normalized log-probabilities in the order of each prediction's ``items``;
        ``-inf`` for dates that do not exist (31 April, 29 February of 2001, ...).
    """
    for name, pred, expected in (("day", day, "day"), ("month", month, "month"),
                                 ("year", year, "year")):
        if pred.phase != expected:
            raise InvalidInputError(
                f"Invalid value for the {name!r} parameter: expected a {expected!r} "
                f"prediction, got a {pred.phase.value!r} one.", field=name)
    tiny = np.finfo(float).tiny
    lp = [np.log(np.maximum(np.asarray(p.probabilities, dtype=float), tiny))
          for p in (year, month, day)]
    years, months, days = (np.asarray(p.items) for p in (year, month, day))
    joint = lp[0][:, None, None] + lp[1][None, :, None] + lp[2][None, None, :]
    n_days = _valid_days(years, months)
    valid = (days[None, None, :] >= 1) & (days[None, None, :] <= n_days[:, :, None])
    if not valid.any():
        raise InvalidInputError(
            "No real calendar date can be formed from the day, month and year items.",
            field="day")
    joint = np.where(valid, joint, -np.inf)
    return joint - logsumexp(joint[valid])


def combine_birthdate(day: PhasePrediction, month: PhasePrediction, year: PhasePrediction,
                      *, min_probability: float = 0.0) -> BirthdatePrediction:
    """Combine three phase predictions into the most probable real birthdate.

    The phases are treated as independent (separate recordings), so the joint
    probability of (d, m, y) is proportional to ``P(d) P(m) P(y)`` over real dates
    only, renormalized; dates that do not exist are never predicted.

    Parameters
    ----------
    day, month, year : PhasePrediction
        One per phase.
    min_probability : float
        Below this joint probability the date is ``indeterminate``.

    Returns
    -------
    BirthdatePrediction
    """
    joint = joint_date_log_probabilities(day, month, year)
    a, b, c = np.unravel_index(int(np.argmax(joint)), joint.shape)
    when = date(int(year.items[a]), int(month.items[b]), int(day.items[c]))
    probability = float(np.exp(joint[a, b, c]))
    p = np.exp(joint)
    marginals = {"day": float(p[:, :, c].sum()), "month": float(p[:, b, :].sum()),
                 "year": float(p[a].sum())}
    reasons = [f"{pred.phase.value} phase indeterminate"
               for pred in (day, month, year) if pred.indeterminate]
    for pred, value in ((day, when.day), (month, when.month), (year, when.year)):
        if not pred.indeterminate and pred.top_item != value:
            reasons.append(f"calendar overrode the {pred.phase.value} phase's top item")
    if probability < min_probability:
        reasons.append(f"joint probability {probability:.2f} < {min_probability:.2f}")
    return BirthdatePrediction(date=when, probability=min(probability, 1.0),
                               indeterminate=bool(reasons), reasons=tuple(reasons),
                               marginals=marginals)


