"""Epoch classifiers: probe (P300) versus irrelevant, as scikit-learn pipelines.

Every estimator takes ``X`` shaped ``(n_epochs, n_channels, n_times)`` in volts (the
transform service's epochs: 0.5-20 Hz, re-referenced, baselined, ~32 Hz) and ``y`` with
1 for a probe epoch (the item is the subject's own day, month or year) and 0 otherwise.
Its ``decision_function`` is a score that grows with the evidence for a P300; the
scores are calibrated and aggregated per item in :mod:`brain_model.scoring`.

Probes are rare (one item in 12-60, about 1:30 overall), so every estimator balances
the classes (LDA priors of 0.5/0.5, ``class_weight="balanced"``): otherwise a
classifier learns the base rate and its scores carry little about the P300.

Registered estimators (``ESTIMATORS``):

``lda``
    Shrinkage LDA (``solver="lsqr"``, Ledoit-Wolf ``shrinkage="auto"``) on the
    post-stimulus window (0.1-0.8 s), averaged over pairs of samples (about 16 Hz,
    ~60 ms bins) and vectorized: the standard P300 speller classifier
    (Blankertz et al. 2011, NeuroImage 56:814).
``xdawn_ts``
    pyriemann's ``XdawnCovariances`` (the P300 prototype and the epochs projected
    on 2 xDAWN spatial filters, Rivet et al. 2009), mapped to the tangent space of the
    SPD manifold and classified by logistic regression (Barachant & Congedo 2014).
    Two filters rather than the usual 4: the Crown's 8 average-referenced channels
    have rank 7, and on simulated development data (not the benchmark's subjects)
    2 filters gave a higher out-of-fold AUC at both the easy and realistic presets.
``baseline``
    A plain MNE + scikit-learn pipeline for comparison: ``mne.decoding.Vectorizer``,
    ``StandardScaler`` and ``LogisticRegression`` on the whole epoch, without
    artifact weights (rejected epochs are used like the others).

Artifact weights (``EpochSet.weights`` in [0, 1], 0 = rejected) are applied by
:func:`fit_estimator`: for estimators that use them, rejected epochs are left out of
the fit and the remaining weights are passed as ``sample_weight`` to every step that
accepts one (TangentSpace, LogisticRegression; scikit-learn's LDA and pyriemann's
XdawnCovariances accept none).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, has_fit_parameter

from brain_core.errors import InvalidInputError, check_option


class EpochWindow(TransformerMixin, BaseEstimator):
    """Keep a time window of each epoch, average bins of ``decim`` samples, flatten.

    Parameters
    ----------
    times : array of float, shape (n_times,) | None
        The epochs' sample times in seconds. None keeps every sample.
    tmin, tmax : float
        Window in seconds, inclusive.
    decim : int
        Average non-overlapping bins of this many samples (a boxcar low-pass before
        downsampling, so no aliasing). 1 keeps every sample.
    flatten : bool
        Return ``(n_epochs, n_channels * n_bins)`` instead of 3-D.
    """

    def __init__(self, times=None, tmin: float = 0.1, tmax: float = 0.8, decim: int = 2,
                 flatten: bool = True) -> None:
        self.times = times
        self.tmin = tmin
        self.tmax = tmax
        self.decim = decim
        self.flatten = flatten

    def fit(self, X, y=None):
        X = _check_epochs(X)
        if int(self.decim) < 1:
            raise InvalidInputError(
                f"Invalid value for the 'decim' parameter: expected an integer >= 1, got "
                f"{self.decim!r}.", field="decim")
        if self.times is None:
            mask = np.ones(X.shape[2], dtype=bool)
        else:
            times = np.asarray(self.times, dtype=float)
            if times.shape != (X.shape[2],):
                raise InvalidInputError(
                    f"Invalid value for the 'times' parameter: it has {times.size} value(s) "
                    f"but the epochs have n_times={X.shape[2]}.", field="times")
            mask = (times >= self.tmin - 1e-9) & (times <= self.tmax + 1e-9)
        n_keep = int(mask.sum()) // int(self.decim) * int(self.decim)
        if n_keep == 0:
            raise InvalidInputError(
                f"Invalid window: no complete bin of {self.decim} sample(s) between "
                f"tmin={self.tmin} s and tmax={self.tmax} s.", field="tmin")
        self.samples_ = np.flatnonzero(mask)[:n_keep]
        self.n_times_in_ = X.shape[2]
        return self

    def transform(self, X):
        check_is_fitted(self, "samples_")
        X = _check_epochs(X)
        if X.shape[2] != self.n_times_in_:
            raise InvalidInputError(
                f"Epochs have n_times={X.shape[2]} but the window was fitted on "
                f"n_times={self.n_times_in_}.", field="X")
        kept = X[:, :, self.samples_]
        binned = kept.reshape(X.shape[0], X.shape[1], -1, int(self.decim)).mean(axis=3)
        return binned.reshape(X.shape[0], -1) if self.flatten else binned


def _check_epochs(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise InvalidInputError(
            f"Invalid value for the 'X' parameter: expected epochs shaped (n_epochs, "
            f"n_channels, n_times), got shape {X.shape}.", field="X")
    return X


def _lda(times=None, tmin: float = 0.1, tmax: float = 0.8, decim: int = 2) -> Pipeline:
    return Pipeline([
        ("window", EpochWindow(times=times, tmin=tmin, tmax=tmax, decim=decim)),
        # Volts are ~1e-6: scaling keeps the covariance well away from the float floor.
        ("scale", StandardScaler()),
        ("lda", LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto",
                                           priors=[0.5, 0.5])),
    ])


def _xdawn_ts(times=None, tmin: float = -0.1, tmax: float = 0.8, nfilter: int = 2,
              C: float = 1.0, shrinkage: float = 0.05) -> Pipeline:
    from pyriemann.estimation import XdawnCovariances
    from pyriemann.tangentspace import TangentSpace

    return Pipeline([
        # µV keeps the covariances well conditioned; the window keeps the baseline.
        ("window", EpochWindow(times=times, tmin=tmin, tmax=tmax, decim=1, flatten=False)),
        ("microvolts", _Scale(1e6)),
        # Sample covariances: the (2 * nfilter) x (2 * nfilter) matrices are well
        # determined by ~29 samples, and shrinkage toward a diagonal target would damp the
        # prototype-epoch cross-covariance that carries the P300. "lwf" here also calls
        # scikit-learn once per epoch (~50x slower).
        ("xdawn", XdawnCovariances(nfilter=nfilter, classes=[1], estimator="scm",
                                   xdawn_estimator="lwf")),
        # Average-referenced epochs are rank-deficient (and a bad channel is zero): a
        # little shrinkage toward the identity keeps every matrix positive definite.
        ("shrink", CovarianceShrinkage(shrinkage=shrinkage)),
        ("tangent", TangentSpace(metric="riemann")),
        ("logreg", LogisticRegression(C=C, class_weight="balanced", max_iter=1000)),
    ])


def _baseline(C: float = 0.01) -> Pipeline:
    # Strong L2 (C=0.01): 232 correlated features and few probes; it also converges in
    # ~50 lbfgs iterations instead of ~300 at scikit-learn's default C=1.
    from mne.decoding import Vectorizer

    return Pipeline([
        ("vectorize", Vectorizer()),
        ("scale", StandardScaler()),
        ("logreg", LogisticRegression(C=C, class_weight="balanced", max_iter=1000)),
    ])


class _Scale(TransformerMixin, BaseEstimator):
    """Multiply by a constant (volts to microvolts)."""

    def __init__(self, factor: float = 1e6) -> None:
        self.factor = factor

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float64) * self.factor


class CovarianceShrinkage(TransformerMixin, BaseEstimator):
    """Shrink covariance matrices toward a scaled identity: ``(1 - s) C + s tr(C) / n I``.

    The same as pyriemann's ``Shrinkage``, vectorized over matrices (that one calls
    scikit-learn's validated ``shrunk_covariance`` once per epoch, ~100x slower).
    """

    def __init__(self, shrinkage: float = 0.05) -> None:
        self.shrinkage = shrinkage

    def fit(self, X, y=None):
        if not 0.0 <= float(self.shrinkage) <= 1.0:
            raise InvalidInputError(
                f"Invalid value for the 'shrinkage' parameter: expected a value in [0, 1], "
                f"got {self.shrinkage!r}.", field="shrinkage")
        return self

    def transform(self, X):
        C = np.asarray(X, dtype=np.float64)
        n = C.shape[-1]
        mu = np.trace(C, axis1=-2, axis2=-1) / n
        return (1.0 - self.shrinkage) * C + self.shrinkage * mu[:, None, None] * np.eye(n)


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: how to build it and whether it uses artifact weights."""

    name: str
    factory: Callable[..., Pipeline]
    uses_weights: bool
    description: str
    needs_times: bool = True


ESTIMATORS: dict[str, EstimatorSpec] = {
    spec.name: spec
    for spec in (
        EstimatorSpec("lda", _lda, True,
                      "shrinkage LDA on the 0.1-0.8 s window, ~60 ms bins"),
        EstimatorSpec("xdawn_ts", _xdawn_ts, True,
                      "xDAWN covariances + tangent space + logistic regression"),
        EstimatorSpec("baseline", _baseline, False,
                      "MNE Vectorizer + StandardScaler + logistic regression, no weights",
                      needs_times=False),
    )
}


def estimator_spec(name: str) -> EstimatorSpec:
    """The registered :class:`EstimatorSpec` called ``name``."""
    check_option("estimator", name, tuple(ESTIMATORS))
    return ESTIMATORS[name]


def make_estimator(name: str, **params: Any) -> Pipeline:
    """A new, unfitted pipeline for the registered estimator ``name``.

    Parameters
    ----------
    name : str
        One of ``ESTIMATORS`` ("lda", "xdawn_ts", "baseline").
    **params
        Passed to the factory, e.g. ``times`` (the epochs' times in seconds, used to
        cut the post-stimulus window), ``tmin``, ``tmax``, ``decim``, ``nfilter``, ``C``.
        ``times`` is accepted and ignored by estimators that use the whole epoch.
    """
    spec = estimator_spec(name)
    if not spec.needs_times:
        params.pop("times", None)
    try:
        return spec.factory(**params)
    except TypeError as err:
        raise InvalidInputError(
            f"Invalid parameters {sorted(params)} for the {name!r} estimator: {err}",
            field="params") from err


def fit_estimator(estimator: Pipeline, X: np.ndarray, y: np.ndarray,
                  sample_weight: np.ndarray | None = None, *,
                  uses_weights: bool = True) -> Pipeline:
    """Fit ``estimator`` on epochs, honouring artifact weights where it can.

    Parameters
    ----------
    estimator : Pipeline
        From :func:`make_estimator`.
    X : array, shape (n_epochs, n_channels, n_times)
        Epochs in volts.
    y : array of int, shape (n_epochs,)
        1 for probe epochs, 0 for irrelevant ones.
    sample_weight : array of float, shape (n_epochs,) | None
        Artifact weights in [0, 1]. With ``uses_weights``, epochs of weight 0 are left
        out and the others' weights go to every step whose ``fit`` takes
        ``sample_weight``.
    uses_weights : bool
        False ignores the weights entirely (the baseline).

    Returns
    -------
    Pipeline
        The fitted estimator (the same object).
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(int)
    if len(X) != len(y):
        raise InvalidInputError(
            f"X has {len(X)} epoch(s) but y has {len(y)}.", field="y")
    fit_params: dict[str, np.ndarray] = {}
    if uses_weights and sample_weight is not None:
        w = np.asarray(sample_weight, dtype=float)
        if w.shape != y.shape:
            raise InvalidInputError(
                f"sample_weight has shape {w.shape}, expected {y.shape}.",
                field="sample_weight")
        keep = w > 0
        X, y, w = X[keep], y[keep], w[keep]
        if not np.all(w == 1.0):
            for step_name, step in estimator.steps:
                if has_fit_parameter(step, "sample_weight"):
                    fit_params[f"{step_name}__sample_weight"] = w
    if np.unique(y).size < 2:
        raise InvalidInputError(
            "Cannot fit a probe classifier: the (unrejected) training epochs hold "
            f"only class {np.unique(y).tolist()}; probe and irrelevant epochs are both "
            "needed.", field="y")
    return estimator.fit(X, y, **fit_params)


def epoch_scores(estimator: Pipeline, X: np.ndarray) -> np.ndarray:
    """Decision scores, shape (n_epochs,): larger means more P300-like."""
    return np.asarray(estimator.decision_function(np.asarray(X)), dtype=float).ravel()
