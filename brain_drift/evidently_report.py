"""The drift test, done by Evidently (pinned 0.7.23); the only module that imports it.

What is compared: a table of per-session features (see :mod:`brain_drift.features`), the
reference (sessions the champion was trained on) against the current window (the most
recent sessions). Each row is one session, so rows are independent draws when nothing
has changed; that is what makes the p-values below mean what they say.

The rule, and why:

- **Per feature: the two-sample Kolmogorov-Smirnov test** (Evidently's ``"ks"``). It is
  distribution-free (features such as kurtosis or the rejected share are far from
  normal; with a t-test instead, 18 % of 10-session windows of fresh sessions alarmed
  at a family level of 0.05 in our trials),
  its p-values are exact for these sample sizes, and it sees any change of the
  distribution (location, spread, shape), not just a shift of the mean. Evidently's
  Mann-Whitney test is one-sided (it only sees increases) and its Anderson-Darling test
  caps p-values at 0.001, so neither can carry the threshold below.
- **Per-feature threshold ``family_alpha / n_features`` (Bonferroni)**, with
  ``family_alpha`` = 0.02 by default. Features are strongly correlated (one subject's
  band powers move together), and the Bonferroni bound holds under any dependence: when
  the current sessions come from the reference distribution, one check alarms with
  probability at most ``family_alpha``. Evidently's default (p < 0.05 per column, drift
  when half the columns drift) would instead miss a single loose electrode, which moves
  only that channel's handful of features.
- **Dataset drift when at least ``min_drifted`` (default 1) features drift**: Evidently's
  ``DriftedColumnsCount`` test with ``drift_share`` just under ``min_drifted /
  n_features``. A feature the reference has but the current sessions lack entirely
  (another montage, a missing band) counts as drifted.
- **Hysteresis**: once a drift episode is open (``in_episode=True``), the window stays
  drifted while any feature has p <= ``recovery_alpha / n_features`` (0.2 / n by
  default, ten times looser). A subtle drift (doubled line noise against the 6-fold
  spread of mains pick-up between subjects) is flagged by only part of the windows that
  contain it; without hysteresis the verdict would flicker and one episode would raise
  several alerts. After the drift ends, a window of fresh sessions closes the episode
  with probability at least 1 - ``recovery_alpha`` per check.

Measured on simulated sessions (``realistic`` preset, month phase, 3 repetitions;
``brain_drift/tests/test_rates.py`` and ``benchmarks/bench_drift.py``): with a window
of 20 sessions against 100 reference sessions, 1-3 % of checks on fresh sessions alarm;
a loose electrode and a x10 or /10 amplitude scale are flagged in every window made of
drifted sessions, doubled line noise in about two thirds of them (thanks to the
hysteresis, its episode stays open once flagged).

Evidently builds a plotly figure per feature for its HTML report, which costs about
70 ms of CPU per feature; ``detailed=False`` runs only the dataset-level metric (same
verdict, no per-feature p-values), for bulk measurements.
"""

from __future__ import annotations

import json
import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from brain_core.errors import InvalidInputError
from brain_drift.features import ID_COLUMNS

#: Evidently's name of the per-feature test.
METHOD = "ks"

# Evidently keeps global registries and is not documented as thread-safe; checks are rare
# enough to run one at a time.
_LOCK = threading.Lock()


@cache
def _evidently() -> dict[str, Any]:
    """Import Evidently on first use (it takes seconds) and hand out what we use."""
    with warnings.catch_warnings():
        # Evidently 0.7.23 itself touches numpy.core and a deprecated litestar API at
        # import; nothing we can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import DriftedColumnsCount
        from evidently.presets import DataDriftPreset
    return {"Report": Report, "Dataset": Dataset, "DataDefinition": DataDefinition,
            "DataDriftPreset": DataDriftPreset, "DriftedColumnsCount": DriftedColumnsCount}


def warm_up() -> None:
    """Import Evidently now, so that the first check does not pay for it."""
    _evidently()


@dataclass(frozen=True)
class DriftRule:
    """When a window counts as drifted (see the module docstring).

    Attributes
    ----------
    family_alpha : float
        Probability that one check alarms when nothing changed (upper bound), 0-1.
    min_drifted : int
        Drifted features needed to call the window drifted.
    recovery_alpha : float
        The looser family level that keeps an open drift episode open (>= family_alpha).
    """

    family_alpha: float = 0.02
    min_drifted: int = 1
    recovery_alpha: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.family_alpha < 1:
            raise InvalidInputError(
                f"Invalid value for the 'family_alpha' parameter: expected a probability "
                f"between 0 and 1 (exclusive), got {self.family_alpha!r}.", field="family_alpha")
        if isinstance(self.min_drifted, bool) or not isinstance(self.min_drifted, int) \
                or self.min_drifted < 1:
            raise InvalidInputError(
                f"Invalid value for the 'min_drifted' parameter: expected an integer >= 1, "
                f"got {self.min_drifted!r}.", field="min_drifted")
        if not self.family_alpha <= self.recovery_alpha < 1:
            raise InvalidInputError(
                f"Invalid value for the 'recovery_alpha' parameter: expected a probability "
                f"from family_alpha={self.family_alpha} to 1 (exclusive), got "
                f"{self.recovery_alpha!r}.", field="recovery_alpha")

    def alpha(self, in_episode: bool = False) -> float:
        """The family level in force: ``recovery_alpha`` while an episode is open."""
        return self.recovery_alpha if in_episode else self.family_alpha

    def feature_threshold(self, n_features: int, in_episode: bool = False) -> float:
        """p-value at or below which one of ``n_features`` features has drifted."""
        return self.alpha(in_episode) / max(n_features, 1)


@dataclass(frozen=True)
class FeatureDrift:
    """The verdict on one feature.

    ``p_value`` is the Kolmogorov-Smirnov p-value (None when the feature is missing from
    the current sessions or was not tested); medians are in the feature's own unit.
    """

    name: str
    p_value: float | None
    threshold: float
    drifted: bool
    reference_median: float
    current_median: float
    note: str = ""


@dataclass
class DriftCheck:
    """The result of comparing a window of sessions with the reference."""

    drift: bool
    rule: DriftRule
    features: tuple[str, ...]
    n_drifted: int
    columns: list[FeatureDrift]
    missing: list[str]
    n_reference: int
    n_current: int
    detailed: bool
    in_episode: bool
    created: datetime
    duration_s: float
    evidently: dict[str, Any] = field(repr=False, default_factory=dict)
    _snapshot: Any = field(repr=False, default=None)

    @property
    def n_features(self) -> int:
        """Features compared (tested ones plus missing ones)."""
        return len(self.features) + len(self.missing)

    @property
    def threshold(self) -> float:
        """The per-feature p-value threshold this check used."""
        return self.rule.feature_threshold(len(self.features), self.in_episode)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features, most significant first."""
        drifted = [c for c in self.columns if c.drifted]
        drifted.sort(key=lambda c: (-1.0 if c.p_value is None else c.p_value, c.name))
        return [c.name for c in drifted]

    def message(self, max_chars: int = 200) -> str:
        """A one-line verdict for an alert, e.g. ``drift: 3 of 62 features (...)``."""
        if not self.drift:
            text = (f"no drift: {self.n_drifted} of {self.n_features} features drifted, "
                    f"{self.n_current} sessions vs {self.n_reference} reference sessions")
        else:
            names = self.drifted_features
            listed = f" ({', '.join(names[:4])}{', ...' if len(names) > 4 else ''})" \
                if names else ""
            text = (f"DRIFT: {self.n_drifted} of {self.n_features} features drifted over "
                    f"{self.n_current} sessions{listed}")
        return text if len(text) <= max_chars else text[: max_chars - 3] + "..."

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready account: verdict, rule, one entry per feature, Evidently's results."""

        def number(value: float | None) -> float | None:
            return None if value is None or not math.isfinite(value) else float(value)

        return {
            "drift": self.drift,
            "created": self.created.isoformat(),
            "duration_s": round(self.duration_s, 4),
            "rule": {"method": METHOD, "family_alpha": self.rule.family_alpha,
                     "recovery_alpha": self.rule.recovery_alpha,
                     "min_drifted": self.rule.min_drifted, "in_episode": self.in_episode,
                     "feature_threshold": self.threshold},
            "n_reference_sessions": self.n_reference,
            "n_current_sessions": self.n_current,
            "n_features": self.n_features,
            "n_drifted": self.n_drifted,
            "drifted_features": self.drifted_features,
            "missing_features": self.missing,
            "detailed": self.detailed,
            "features": [
                {"name": c.name, "p_value": number(c.p_value), "threshold": c.threshold,
                 "drifted": c.drifted, "reference_median": number(c.reference_median),
                 "current_median": number(c.current_median), "note": c.note}
                for c in self.columns
            ],
            "message": self.message(),
            "evidently": self.evidently,
        }

    def html(self) -> str:
        """Evidently's standalone HTML report (a plain page when nothing was testable)."""
        if self._snapshot is not None:
            return self._snapshot.get_html_str(as_iframe=False)
        items = "".join(f"<li>{escape(name)}</li>" for name in self.missing)
        return ("<!doctype html><html><head><meta charset='utf-8'><title>BRAIN drift"
                f"</title></head><body><h1>{escape(self.message())}</h1>"
                f"<p>Features missing from the current sessions:</p><ul>{items}</ul>"
                "</body></html>")


def _status(value: Any) -> str:
    return str(getattr(value, "value", value)).upper()


def check_drift(reference: pd.DataFrame, current: pd.DataFrame, rule: DriftRule | None = None,
                *, columns: Sequence[str] | None = None, detailed: bool = True,
                in_episode: bool = False) -> DriftCheck:
    """Compare the current sessions with the reference, feature by feature, with Evidently.

    Parameters
    ----------
    reference : DataFrame
        One row per reference session, one numeric column per feature.
    current : DataFrame
        One row per recent session; the same feature columns.
    rule : DriftRule | None
        Test threshold and dataset rule; defaults to ``DriftRule()``.
    columns : sequence of str | None
        Features to compare; None takes every numeric column of ``reference`` but the
        session table's identifiers (``n_recordings``, ...). Columns
        without a finite value in the reference are left out.
    detailed : bool
        Also compute each feature's p-value and Evidently's per-feature report (about
        70 ms of CPU per feature); False runs only the dataset-level test.
    in_episode : bool
        A drift episode is open: judge with ``rule.recovery_alpha`` (hysteresis).

    Returns
    -------
    DriftCheck
    """
    rule = rule or DriftRule()
    if len(reference) < 2:
        raise InvalidInputError(
            f"Invalid value for the 'reference' parameter: expected at least 2 sessions, "
            f"got {len(reference)}.", field="reference")
    if len(current) < 1:
        raise InvalidInputError(
            "Invalid value for the 'current' parameter: no session to compare.",
            field="current")
    if columns is None:
        columns = [c for c in reference.columns
                   if c not in ID_COLUMNS and pd.api.types.is_numeric_dtype(reference[c])]
    absent = [c for c in columns if c not in reference.columns]
    if absent:
        raise InvalidInputError(
            f"Invalid value for the 'columns' parameter: the reference lacks {absent[:5]}.",
            field="columns")
    # A feature the reference never had a value for (e.g. 60 Hz at a 100 Hz rate) cannot
    # be compared: left out.
    columns = [c for c in columns
               if np.isfinite(pd.to_numeric(reference[c], errors="coerce")
                              .to_numpy(dtype=float)).any()]
    if not columns:
        raise InvalidInputError(
            "Invalid value for the 'reference' parameter: it holds no feature column with "
            "a finite value.", field="reference")
    missing = [c for c in columns
               if c not in current.columns or not np.isfinite(
                   pd.to_numeric(current[c], errors="coerce").to_numpy(dtype=float)).any()]
    tested = [c for c in columns if c not in missing]
    ref = reference[tested].apply(pd.to_numeric, errors="coerce").astype(float)
    cur = current[tested].apply(pd.to_numeric, errors="coerce").astype(float) \
        if tested else pd.DataFrame()
    threshold = rule.feature_threshold(len(tested), in_episode)

    started = time.perf_counter()
    evidently: dict[str, Any] = {}
    snapshot = None
    n_drifted_tested = 0
    p_values: dict[str, float] = {}
    if tested:
        snapshot = _run_evidently(ref, cur, tested, rule, threshold, detailed)
        # Through JSON: plain types only (Evidently's dict holds enums).
        evidently = json.loads(snapshot.json())
        n_drifted_tested, evidently_says_drift, p_values = _read_snapshot(evidently)
        if not missing and evidently_says_drift != (n_drifted_tested >= rule.min_drifted):
            raise RuntimeError(  # pragma: no cover - would mean Evidently changed semantics
                f"Evidently's dataset test ({evidently_says_drift}) disagrees with its "
                f"drifted-column count ({n_drifted_tested}); check the pinned version.")
    duration = time.perf_counter() - started

    ref_median = reference[columns].apply(pd.to_numeric, errors="coerce").median()
    cur_median = (current[[c for c in columns if c in current.columns]]
                  .apply(pd.to_numeric, errors="coerce").median())
    feature_rows = [
        FeatureDrift(name=c, p_value=None, threshold=threshold, drifted=True,
                     reference_median=float(ref_median[c]), current_median=math.nan,
                     note="missing from the current sessions")
        for c in missing
    ]
    if detailed:
        feature_rows += [
            FeatureDrift(name=c, p_value=p_values[c], threshold=threshold,
                         drifted=p_values[c] <= threshold,
                         reference_median=float(ref_median[c]),
                         current_median=float(cur_median[c]))
            for c in tested
        ]
    n_drifted = n_drifted_tested + len(missing)
    return DriftCheck(
        drift=n_drifted >= rule.min_drifted, rule=rule, features=tuple(tested),
        n_drifted=n_drifted, columns=feature_rows, missing=missing,
        n_reference=len(reference), n_current=len(current), detailed=detailed,
        in_episode=in_episode, created=datetime.now(UTC), duration_s=duration, evidently=evidently,
        _snapshot=snapshot)


def _run_evidently(ref: pd.DataFrame, cur: pd.DataFrame, tested: list[str], rule: DriftRule,
                   threshold: float, detailed: bool) -> Any:
    ev = _evidently()
    # Just under k / n: Evidently's test passes while the drifted share is below it.
    drift_share = (rule.min_drifted - 0.5) / len(tested)
    if detailed:
        metrics = [ev["DataDriftPreset"](columns=tested, method=METHOD, threshold=threshold,
                                         drift_share=drift_share)]
    else:
        metrics = [ev["DriftedColumnsCount"](columns=tested, method=METHOD, threshold=threshold,
                                             drift_share=drift_share)]
    definition = ev["DataDefinition"](numerical_columns=tested)
    with _LOCK, np.errstate(all="ignore"), warnings.catch_warnings():
        # Evidently computes correlations and histograms for its plots; on a constant
        # column (e.g. every epoch rejected) they warn, which says nothing about drift.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        report = ev["Report"](metrics, include_tests=True)
        return report.run(ev["Dataset"].from_pandas(cur, data_definition=definition),
                          ev["Dataset"].from_pandas(ref, data_definition=definition))


def _read_snapshot(result: dict[str, Any]) -> tuple[int, bool, dict[str, float]]:
    """Drifted count, dataset verdict and per-column p-values from ``Snapshot.dict()``."""
    count: int | None = None
    p_values: dict[str, float] = {}
    for metric in result["metrics"]:
        kind = str(metric.get("config", {}).get("type", ""))
        if kind.endswith(":DriftedColumnsCount"):
            count = int(round(float(metric["value"]["count"])))
        elif kind.endswith(":ValueDrift"):
            p_values[metric["config"]["column"]] = float(metric["value"])
    verdict = None
    for test in result["tests"]:
        params = test.get("metric_config", {}).get("params", {})
        if str(params.get("type", "")).endswith(":DriftedColumnsCount"):
            verdict = _status(test["status"]) == "FAIL"
    if count is None or verdict is None:
        raise RuntimeError(  # pragma: no cover - guards against an Evidently upgrade
            "Evidently's snapshot lacks the DriftedColumnsCount metric or its test.")
    return count, verdict, p_values
