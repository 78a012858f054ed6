"""From epoch scores to item probabilities, a confidence, a decision and a birthdate.

The model (see :mod:`brain_model.model`) assumes that exactly one shown item is the
probe and that epochs are independent given which one. Then the log-likelihood of
"item j is the probe" is, up to a constant shared by all items, the sum of the
per-epoch log-likelihood ratios (LLR) of the epochs of item j:

    log P(data | probe = j) = const + sum_{i in j} w_i * LLR(s_i)

with ``w_i`` the artifact weight (a rejected epoch carries no evidence) and
``LLR(s) = logit P(probe | s) - logit(prior)`` from a Platt scaling of the classifier's
score fitted on out-of-fold training scores (:class:`EpochCalibration`). With a uniform
prior over items, the posterior is ``softmax(L / T)``. Epochs are not quite independent
(overlapping responses, slow drifts, subject-specific amplitudes), which makes the sum
over-confident; the temperature ``T`` is fitted on out-of-fold training phases by
maximum likelihood of the true item (temperature scaling, Guo et al. 2017, ICML).

The probabilities are conditional on a probe being among the items, as the contract's
``PhasePrediction`` (one probability per shown item, summing to 1) requires. Whether
there is a probe at all (an "innocent" subject whose year was not shown) is decided by
the confidence gate instead of an explicit "no probe" hypothesis: a no-probe prior would
have to be guessed for each deployment, while the gate's threshold is set on training
data so that wrong confident calls - calls on probe-free phases included - stay rare.

Confidence is a bootstrap over epochs in the manner of Rosenfeld's complex trial
protocol (Rosenfeld et al. 2008, Psychophysiology 45:906): each item's epochs are
resampled with replacement, the item evidence recomputed, and the confidence is the
share of rounds in which the top item stays on top. It is 1/n_items-ish for pure noise
and near 1 when the probe clearly stands out. A phase is ``indeterminate`` when its
confidence is below the phase's threshold (:func:`choose_threshold`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax

from brain_core.birthdate import (  # noqa: F401 - re-exported
    BirthdatePrediction,
    combine_birthdate,
    joint_date_log_probabilities,
    n_valid_dates,
)
from brain_core.errors import InvalidInputError

#: Default number of bootstrap rounds for a phase's confidence (resolution 1/500).
N_BOOTSTRAP = 500


@dataclass(frozen=True)
class EpochCalibration:
    """Platt scaling of classifier scores into per-epoch log-likelihood ratios.

    ``LLR(s) = slope * s + intercept - log_prior_odds``: the logistic fit gives the log
    posterior odds at the training base rate; subtracting the base rate's log odds
    leaves the likelihood ratio, which does not depend on how rare probes were.
    """

    slope: float
    intercept: float
    log_prior_odds: float

    @classmethod
    def fit(cls, scores: np.ndarray, y: np.ndarray,
            sample_weight: np.ndarray | None = None) -> EpochCalibration:
        """Fit on out-of-fold ``scores`` (n_epochs,) with targets ``y`` (0/1)."""
        from sklearn.linear_model import LogisticRegression

        scores = np.asarray(scores, dtype=float).ravel()
        y = np.asarray(y).astype(int).ravel()
        w = np.ones_like(scores) if sample_weight is None else np.asarray(
            sample_weight, dtype=float).ravel()
        keep = w > 0
        scores, y, w = scores[keep], y[keep], w[keep]
        if np.unique(y).size < 2:
            raise InvalidInputError(
                "Cannot calibrate scores: both probe (1) and irrelevant (0) epochs are "
                f"needed, got only {np.unique(y).tolist()}.", field="y")
        scale = float(np.std(scores)) or 1.0
        # Almost no regularization: this is a 2-parameter fit on thousands of epochs.
        platt = LogisticRegression(C=1e4, max_iter=1000)
        platt.fit(scores[:, None] / scale, y, sample_weight=w)
        prior = float(np.sum(w * y) / np.sum(w))
        return cls(slope=float(platt.coef_[0, 0]) / scale,
                   intercept=float(platt.intercept_[0]),
                   log_prior_odds=math.log(prior / (1.0 - prior)))

    def llr(self, scores: np.ndarray) -> np.ndarray:
        """Per-epoch log-likelihood ratio, probe vs irrelevant, shape of ``scores``."""
        return self.slope * np.asarray(scores, dtype=float) + self.intercept \
            - self.log_prior_odds


def _item_index(items: np.ndarray, item_values: Sequence[int]) -> np.ndarray:
    values = np.asarray(item_values)
    order = np.argsort(values)
    pos = np.searchsorted(values[order], items)
    pos = np.clip(pos, 0, len(values) - 1)
    index = order[pos]
    bad = values[index] != items
    if bad.any():
        raise InvalidInputError(
            f"Epoch item {int(np.asarray(items)[bad][0])} is not one of the phase's "
            f"items ({len(values)} shown).", field="items")
    return index


def item_evidence(llr: np.ndarray, items: np.ndarray, weights: np.ndarray | None,
                  item_values: Sequence[int]) -> np.ndarray:
    """Summed weighted LLR per item.

    Parameters
    ----------
    llr : array, shape (n_epochs,)
        Per-epoch log-likelihood ratios.
    items : array of int, shape (n_epochs,)
        The item each epoch showed.
    weights : array, shape (n_epochs,) | None
        Artifact weights in [0, 1]; None counts every epoch fully.
    item_values : sequence of int, length n_items
        The items shown in the phase; an item without epochs gets evidence 0.

    Returns
    -------
    evidence : array, shape (n_items,)
        Log-likelihood of "item j is the probe", up to a shared constant.
    """
    llr = np.asarray(llr, dtype=float)
    w = np.ones_like(llr) if weights is None else np.asarray(weights, dtype=float)
    index = _item_index(np.asarray(items), item_values)
    return np.bincount(index, weights=w * llr, minlength=len(item_values))


def item_probabilities(evidence: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(evidence / temperature)``: probabilities over items, summing to 1."""
    if not temperature > 0:
        raise InvalidInputError(
            f"Invalid value for the 'temperature' parameter: expected > 0, got "
            f"{temperature!r}.", field="temperature")
    p = softmax(np.asarray(evidence, dtype=float) / temperature)
    return p / p.sum()


def fit_temperature(evidences: Sequence[np.ndarray], true_index: Sequence[int]) -> float:
    """The temperature minimizing the negative log-likelihood of the true items.

    Parameters
    ----------
    evidences : sequence of arrays, each (n_items,)
        Item evidence of out-of-fold training phases that have a probe.
    true_index : sequence of int
        Index of the probe in each.

    Returns
    -------
    float
        Temperature in [0.05, 1000]; 1.0 when there is nothing to fit on.
    """
    if len(evidences) == 0:
        return 1.0

    def nll(log_t: float) -> float:
        t = math.exp(log_t)
        return -sum(float(e[k] / t - logsumexp(e / t))
                    for e, k in zip(evidences, true_index, strict=True))

    res = minimize_scalar(nll, bounds=(math.log(0.05), math.log(1000.0)), method="bounded")
    return float(math.exp(res.x))


def bootstrap_confidence(contributions: np.ndarray, items: np.ndarray,
                         item_values: Sequence[int], *, n_bootstrap: int = N_BOOTSTRAP,
                         rng: np.random.Generator) -> tuple[float, int]:
    """Share of bootstrap rounds in which the top item stays on top.

    Parameters
    ----------
    contributions : array, shape (n_epochs,)
        Each epoch's weighted LLR (``w_i * LLR_i``).
    items : array of int, shape (n_epochs,)
        The item each epoch showed.
    item_values : sequence of int, length n_items
        The items shown.
    n_bootstrap : int
        Rounds; each resamples every item's epochs with replacement, keeping its count.
    rng : numpy.random.Generator
        Source of the resampling, for reproducible confidences.

    Returns
    -------
    confidence : float
        In [0, 1].
    top : int
        Index (into ``item_values``) of the top item on the full data.
    """
    contributions = np.asarray(contributions, dtype=float)
    index = _item_index(np.asarray(items), item_values)
    n_items = len(item_values)
    evidence = np.bincount(index, weights=contributions, minlength=n_items)
    top = int(np.argmax(evidence))
    if n_items == 1:
        return 1.0, top
    # Items as rows of a padded (n_items, max_count) table so one gather resamples all.
    counts = np.bincount(index, minlength=n_items)
    width = max(int(counts.max()), 1)
    order = np.argsort(index, kind="stable")
    column = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
    table = np.zeros((n_items, width))
    table[index[order], column] = contributions[order]
    draws = np.floor(rng.random((n_bootstrap, n_items, width)) * counts[None, :, None])
    draws = draws.astype(np.intp)
    valid = np.arange(width)[None, None, :] < counts[None, :, None]
    rows = np.arange(n_items)[None, :, None]
    boot = np.where(valid, table[rows, draws], 0.0).sum(axis=2)
    # Strictly on top: a tie (e.g. no evidence at all) is not a confident top item.
    others = np.delete(boot, top, axis=1).max(axis=1)
    return float(np.mean(boot[:, top] > others)), top


def choose_threshold(null_confidences: Sequence[float], confidences: Sequence[float],
                     correct: Sequence[bool], *, max_wrong_rate: float = 0.05,
                     permuted_null_confidences: Sequence[float] = ()) -> float:
    """The lowest confidence threshold whose calls stay right, set on training data.

    Three kinds of out-of-fold training phases are used:

    * null phases: no probe among the items (innocent subjects' year phases, and every
      phase with its probe's epochs removed), where any confident call is wrong;
    * permuted nulls: those null phases with their epochs' item labels shuffled, many
      per phase. They assume irrelevant items are exchangeable (as the CIT bootstrap
      does) and give the false-positive rate a resolution finer than 1 / n_subjects;
    * the natural phases (each as recorded, innocent ones included), with whether
      their top item is right.

    For a threshold ``t`` (confident when ``confidence >= t``) the false-positive rate
    ``fpr(t)`` is the larger of the real nulls' share at or above ``t`` and the
    conformal estimate ``(k + 1) / (n + 1)`` over all nulls (real and permuted; k of
    n at or above ``t``), so it never claims a rate the sample cannot show. With
    ``n(t)`` natural calls of which ``wrong(t)`` are wrong, the wrong calls are
    estimated as ``max(wrong(t), fpr(t) * n_natural)`` - as if every phase could err
    like a probe-free one (Storey's FDR estimate with pi0 = 1). ``t`` is acceptable
    when ``fpr(t) <= max_wrong_rate`` and the estimated wrong share of calls,
    ``wrong / max(n(t), 1)``, is ``<= max_wrong_rate``. Where the signal is too weak
    for the natural phases to stand out from the nulls, no threshold is acceptable and
    the phase is never called: with P300s at chance level that is the honest answer.
    The threshold is the lowest acceptable ``t`` (the largest set of calls whose
    estimated wrong share is within target, as in the Benjamini-Hochberg step-up).

    Returns
    -------
    float
        The threshold; ``math.inf`` (never confident) when no value is acceptable.
    """
    real = np.asarray(null_confidences, dtype=float)
    pooled = np.concatenate([real, np.asarray(permuted_null_confidences, dtype=float)])
    conf = np.asarray(confidences, dtype=float)
    ok_call = np.asarray(correct, dtype=bool)
    n_natural = conf.size
    candidates = np.unique(np.concatenate([pooled, conf]))[::-1]
    best = math.inf
    for t in candidates:
        fpr = (np.sum(pooled >= t) + 1) / (pooled.size + 1)
        if real.size:
            fpr = max(fpr, float(np.mean(real >= t)))
        called = conf >= t
        n_called = int(called.sum())
        wrong = max(float(np.sum(called & ~ok_call)), fpr * n_natural)
        # max(n, 1) as in Storey's estimate: expecting false calls where the training
        # phases make none is not "no calls, no errors".
        rate = wrong / max(n_called, 1)
        if fpr <= max_wrong_rate and rate <= max_wrong_rate:
            best = float(t)
    return best


# --- birthdate -------------------------------------------------------------------
# The combination of the three phases into a real date lives in brain_core.birthdate
# (the collector shows it without the model's dependencies); re-exported here.

def wilson_interval(successes: int, n: int, z: float = 1.959963984540054
                    ) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); (0, 1) when n = 0."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
