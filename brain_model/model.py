"""The trainable, picklable P300 model that is evaluated, registered and served.

:class:`P300Model` holds everything a prediction needs: the fitted epoch classifier,
the transform settings (serving runs the same transform), the expected channels,
sampling rate and epoch times, the per-epoch score calibration, the temperature of the
item posterior and one decision threshold per phase.

Fitting on labelled phases (:meth:`P300Model.fit`):

1. Inner cross-validation over the *training* subjects (GroupKFold, up to
   ``inner_splits`` folds) gives out-of-fold epoch scores.
2. Those scores fit the Platt calibration into log-likelihood ratios, the temperature
   of the item posterior, and - through bootstrap confidences of the out-of-fold phases
   and of probe-free copies of them - the thresholds that keep wrong confident calls at
   or below ``max_wrong_rate`` (:func:`brain_model.scoring.choose_threshold`).
3. The classifier is refitted on every training epoch.

No test subject is ever seen by any of these steps, so the evaluation in
:mod:`brain_model.evaluate` measures the decision rule as it will be served.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from brain_core.errors import InvalidInputError, check_option
from brain_core.models import PHASES, PhasePrediction, Recording
from brain_model.dataset import LabelledDataset, LabelledPhase
from brain_model.estimators import (
    epoch_scores,
    estimator_spec,
    fit_estimator,
    make_estimator,
)
from brain_model.scoring import (
    N_BOOTSTRAP,
    BirthdatePrediction,
    EpochCalibration,
    bootstrap_confidence,
    choose_threshold,
    combine_birthdate,
    fit_temperature,
    item_evidence,
    item_probabilities,
)

MODEL_VERSION_UNSET = "unregistered"


class P300Model:
    """Probe detection over epochs, calibrated item probabilities and phase decisions.

    Parameters
    ----------
    estimator : str
        Name in :data:`brain_model.estimators.ESTIMATORS`.
    estimator_params : dict | None
        Extra parameters for :func:`~brain_model.estimators.make_estimator`.
    transform_config : TransformConfig | None
        The transform settings the epochs were made with; used by
        :meth:`predict_recording` so serving and training compute the same features.
        None: taken from the :class:`LabelledDataset` given to :meth:`fit` (whose
        ``config`` None means the transform's defaults).
    n_bootstrap : int
        Bootstrap rounds for each phase's confidence.
    n_permutations : int
        Item-label permutations of each probe-free training phase added to the null
        sample the thresholds are set on (see :func:`~brain_model.scoring.choose_threshold`).
    max_wrong_rate : float
        Target share of wrong calls among confident ones (innocent phases included).
    inner_splits : int
        Folds of the inner leave-subject-out cross-validation used for calibration.
    min_birthdate_probability : float
        A birthdate whose joint probability is below this is indeterminate.
    seed : int
        Seeds the bootstrap: same data and seed, same confidences.
    name, version : str
        Written into every prediction (``model_name``, ``model_version``).
    """

    def __init__(self, estimator: str = "lda", *, estimator_params: Mapping[str, Any] | None
                 = None, transform_config: Any = None, n_bootstrap: int = N_BOOTSTRAP,
                 n_permutations: int = 10,
                 max_wrong_rate: float = 0.05, inner_splits: int = 5,
                 min_birthdate_probability: float = 0.5, seed: int = 0,
                 name: str | None = None, version: str = MODEL_VERSION_UNSET) -> None:
        self.spec = estimator_spec(estimator)
        self.estimator = estimator
        self.estimator_params = dict(estimator_params or {})
        self.transform_config = transform_config
        self._config_given = transform_config is not None
        if int(n_bootstrap) < 10:
            raise InvalidInputError(
                f"Invalid value for the 'n_bootstrap' parameter: expected >= 10, got "
                f"{n_bootstrap!r}.", field="n_bootstrap")
        self.n_bootstrap = int(n_bootstrap)
        if int(n_permutations) < 0:
            raise InvalidInputError(
                f"Invalid value for the 'n_permutations' parameter: expected >= 0, got "
                f"{n_permutations!r}.", field="n_permutations")
        self.n_permutations = int(n_permutations)
        if not 0 < max_wrong_rate < 1:
            raise InvalidInputError(
                f"Invalid value for the 'max_wrong_rate' parameter: expected a share in "
                f"(0, 1), got {max_wrong_rate!r}.", field="max_wrong_rate")
        self.max_wrong_rate = float(max_wrong_rate)
        if int(inner_splits) < 2:
            raise InvalidInputError(
                f"Invalid value for the 'inner_splits' parameter: expected >= 2, got "
                f"{inner_splits!r}.", field="inner_splits")
        self.inner_splits = int(inner_splits)
        self.min_birthdate_probability = float(min_birthdate_probability)
        self.seed = int(seed)
        self.name = name or f"p300-{estimator}"
        self.version = version

    # ------------------------------------------------------------------ fitting

    def fit(self, phases: LabelledDataset | Sequence[LabelledPhase]) -> P300Model:
        """Fit classifier, calibration, temperature and thresholds on labelled phases.

        Parameters
        ----------
        phases : LabelledDataset | sequence of LabelledPhase
            Training phases of at least 2 subjects, one montage and epoch window.

        Returns
        -------
        P300Model
            ``self``, fitted.
        """
        if isinstance(phases, LabelledDataset) and not self._config_given:
            # Serve with the transform the training epochs were made with.
            self.transform_config = phases.config
        # Small matrices: single-threaded BLAS is faster than contended threads.
        with threadpool_limits(limits=1):
            return self._fit(list(phases.phases if isinstance(phases, LabelledDataset)
                                  else phases))

    def _fit(self, phases: list[LabelledPhase]) -> P300Model:
        if not phases:
            raise InvalidInputError("Cannot fit on no phases.", field="phases")
        first = phases[0].epochs
        self.ch_names_ = tuple(first.ch_names)
        self.sfreq_ = float(first.sfreq)
        self.times_ = np.asarray(first.times, dtype=float)
        subjects = sorted({p.subject for p in phases})
        if len(subjects) < 2:
            raise InvalidInputError(
                f"Fitting needs phases of at least 2 subjects (calibration is set by "
                f"leave-subject-out), got {len(subjects)}.", field="phases")

        X, y, w, groups = _stack(phases, [self._check_epochs(p.epochs) for p in phases])
        fit_w = w if self.spec.uses_weights else None

        # 1. out-of-fold scores on the training subjects
        n_splits = min(self.inner_splits, len(subjects))
        oof = np.empty(len(y))
        for train, test in GroupKFold(n_splits=n_splits).split(X, y, groups):
            inner = fit_estimator(self._new_estimator(), X[train], y[train],
                                  None if fit_w is None else fit_w[train],
                                  uses_weights=self.spec.uses_weights)
            oof[test] = epoch_scores(inner, X[test])

        # 2. calibration, temperature, thresholds
        self.calibration_ = EpochCalibration.fit(oof, y, fit_w)
        rng = np.random.default_rng(self.seed)
        evidences, truths = [], []
        natural: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        nulls: dict[str, list[float]] = defaultdict(list)
        permuted: dict[str, list[float]] = defaultdict(list)
        start = 0
        for p in phases:
            n = len(p.epochs.items)
            contributions = self.epoch_weights(p.epochs) * self.calibration_.llr(
                oof[start:start + n])
            start += n
            items = np.asarray(p.epochs.items)
            conf, top = bootstrap_confidence(contributions, items, p.shown_items,
                                             n_bootstrap=self.n_bootstrap, rng=rng)
            natural[p.phase].append((conf, p.probe is not None and top == p.probe_index))
            if p.probe is None:
                null = (contributions, items, p.shown_items)
            else:
                evidences.append(item_evidence(contributions, items, None, p.shown_items))
                truths.append(p.probe_index)
                # The same phase without its probe: what an innocent subject looks like.
                keep = items != p.probe
                null = (contributions[keep], items[keep],
                        tuple(v for v in p.shown_items if v != p.probe))
            if len(null[2]) < 2:
                continue
            if p.probe is not None:
                nulls[p.phase].append(bootstrap_confidence(
                    *null, n_bootstrap=self.n_bootstrap, rng=rng)[0])
            else:
                nulls[p.phase].append(conf)
            for _ in range(self.n_permutations):
                shuffled = rng.permutation(null[1])
                permuted[p.phase].append(bootstrap_confidence(
                    null[0], shuffled, null[2], n_bootstrap=self.n_bootstrap, rng=rng)[0])
        self.temperature_ = fit_temperature(evidences, truths)
        self.thresholds_ = {}
        for phase in PHASES:
            calls = natural.get(phase, [])
            if not calls:
                self.thresholds_[phase] = math.inf
                continue
            self.thresholds_[phase] = choose_threshold(
                nulls.get(phase, []), [c for c, _ in calls], [ok for _, ok in calls],
                max_wrong_rate=self.max_wrong_rate,
                permuted_null_confidences=permuted.get(phase, []))

        # 3. the classifier served
        self.estimator_ = fit_estimator(self._new_estimator(), X, y, fit_w,
                                        uses_weights=self.spec.uses_weights)
        self.fit_report_ = {
            "n_subjects": len(subjects),
            "n_phases": len(phases),
            "n_epochs": int(len(y)),
            "n_probe_epochs": int(y.sum()),
            "inner_splits": n_splits,
            "oof_auc": _auc(y, oof, fit_w),
            "temperature": self.temperature_,
            "thresholds": dict(self.thresholds_),
            "n_null_phases": {k: len(v) for k, v in nulls.items()},
            "n_permuted_null_phases": {k: len(v) for k, v in permuted.items()},
            "calibration": {"slope": self.calibration_.slope,
                            "intercept": self.calibration_.intercept,
                            "log_prior_odds": self.calibration_.log_prior_odds},
        }
        return self

    def _new_estimator(self):
        params = dict(self.estimator_params)
        params.setdefault("times", self.times_)
        return make_estimator(self.estimator, **params)

    # ------------------------------------------------------------------ predicting

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimator_"):
            raise InvalidInputError(
                f"This {self.name} model is not fitted yet: call fit() first.", field="model")

    def _check_epochs(self, epochs: Any) -> np.ndarray:
        """The epochs' data in the fitted channel order; raise on any mismatch."""
        names = tuple(epochs.ch_names)
        data = np.asarray(epochs.data)
        if names != self.ch_names_:
            if sorted(names) != sorted(self.ch_names_):
                raise InvalidInputError(
                    f"Invalid value for the 'ch_names' parameter: the model expects "
                    f"{list(self.ch_names_)}, got {list(names)}.", field="ch_names")
            data = data[:, [names.index(ch) for ch in self.ch_names_], :]
        if not math.isclose(float(epochs.sfreq), self.sfreq_, rel_tol=1e-6):
            raise InvalidInputError(
                f"Invalid value for the 'sfreq' parameter: the model expects epochs at "
                f"{self.sfreq_:g} Hz, got {float(epochs.sfreq):g} Hz.", field="sfreq")
        times = np.asarray(epochs.times, dtype=float)
        if times.shape != self.times_.shape or not np.allclose(times, self.times_, atol=1e-6):
            raise InvalidInputError(
                f"Invalid value for the 'times' parameter: the model expects "
                f"{self.times_.size} samples from {self.times_[0]:g} s, got {times.size} "
                f"from {times[0] if times.size else float('nan'):g} s.", field="times")
        return data

    def epoch_weights(self, epochs: Any) -> np.ndarray:
        """Artifact weights used in aggregation, (n_epochs,): all 1 for the baseline."""
        n = len(epochs.items)
        if not self.spec.uses_weights or getattr(epochs, "weights", None) is None:
            return np.ones(n)
        return np.asarray(epochs.weights, dtype=float)

    def decision_function(self, epochs: Any) -> np.ndarray:
        """Raw classifier scores of an EpochSet's epochs, shape (n_epochs,)."""
        self._check_fitted()
        data = self._check_epochs(epochs)
        if len(data) == 0:
            return np.zeros(0)
        return epoch_scores(self.estimator_, data)

    def epoch_llr(self, epochs: Any) -> np.ndarray:
        """Calibrated log-likelihood ratio (probe vs irrelevant) per epoch, (n_epochs,)."""
        return self.calibration_.llr(self.decision_function(epochs))

    def predict_phase(self, epochs: Any, *, items: Sequence[int] | None = None,
                      session_id: Any = None, llr: np.ndarray | None = None,
                      seed: int | None = None) -> PhasePrediction:
        """Probabilities over the shown items, the top item, a confidence and a decision.

        Parameters
        ----------
        epochs : EpochSet
            One phase's epochs from the transform service.
        items : sequence of int | None
            Every item shown (None: those present in ``epochs.items``).
        session_id : UUID | str | None
            Copied into the prediction (None: ``epochs.session_id`` if it has one).
        llr : array, shape (n_epochs,) | None
            Precomputed :meth:`epoch_llr` (saves scoring twice).
        seed : int | None
            Bootstrap seed (None: the model's): same input and seed, same confidence.

        Returns
        -------
        PhasePrediction
        """
        self._check_fitted()
        phase = str(getattr(epochs.phase, "value", epochs.phase))
        check_option("phase", phase, PHASES)
        shown = tuple(int(v) for v in (items if items is not None
                                       else np.unique(np.asarray(epochs.items))))
        if not shown:
            raise InvalidInputError(
                "Cannot predict a phase without items: the epochs are empty and no "
                "'items' were given.", field="items")
        if llr is None:
            llr = self.epoch_llr(epochs)
        contributions = self.epoch_weights(epochs) * np.asarray(llr, dtype=float)
        item_values = np.asarray(epochs.items)
        evidence = item_evidence(contributions, item_values, None, shown)
        probabilities = item_probabilities(evidence, self.temperature_)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        confidence, top = bootstrap_confidence(contributions, item_values, shown,
                                               n_bootstrap=self.n_bootstrap, rng=rng)
        threshold = self.thresholds_.get(phase, math.inf)
        if session_id is None:
            session_id = getattr(epochs, "session_id", None)
        return PhasePrediction(
            session_id=session_id, phase=phase, items=shown,
            probabilities=tuple(float(p) for p in probabilities), top_item=shown[top],
            confidence=min(max(confidence, 0.0), 1.0),
            indeterminate=bool(confidence < threshold),
            model_name=self.name, model_version=str(self.version))

    def predict_recording(self, recording: Recording) -> PhasePrediction:
        """Transform one recording with the model's transform settings and predict it."""
        from brain_transform_service.transform import transform_recording

        epochs = transform_recording(recording, self.transform_config)
        return self.predict_phase(epochs, items=recording.paradigm.items,
                                  session_id=recording.session_id)

    def predict_birthdate(self, predictions: Mapping[str, PhasePrediction]
                          | Sequence[PhasePrediction]) -> BirthdatePrediction:
        """The most probable real birthdate from a day, a month and a year prediction.

        Parameters
        ----------
        predictions : mapping phase -> PhasePrediction | sequence of PhasePrediction
            Exactly one prediction per phase.
        """
        if isinstance(predictions, Mapping):
            by_phase = {str(k): v for k, v in predictions.items()}
        else:
            by_phase = {}
            for pred in predictions:
                if pred.phase.value in by_phase:
                    raise InvalidInputError(
                        f"Two predictions for the {pred.phase.value!r} phase.",
                        field="predictions")
                by_phase[pred.phase.value] = pred
        missing = [p for p in PHASES if p not in by_phase]
        if missing:
            raise InvalidInputError(
                f"A birthdate needs a prediction for every phase; missing {missing}.",
                field="predictions")
        return combine_birthdate(by_phase["day"], by_phase["month"], by_phase["year"],
                                 min_probability=self.min_birthdate_probability)

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "estimator_") else "unfitted"
        return f"P300Model(estimator={self.estimator!r}, {state}, version={self.version!r})"


def _stack(phases: Sequence[LabelledPhase], data: Sequence[np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epochs (n, n_channels, n_times), targets, weights and subject groups of phases."""
    X = np.concatenate([np.asarray(d, dtype=np.float32) for d in data])
    y = np.concatenate([p.y for p in phases])
    w = np.concatenate([np.asarray(p.epochs.weights, dtype=float) for p in phases])
    groups = np.concatenate([np.full(len(p.y), p.subject) for p in phases])
    return X, y, w, groups


def _auc(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None) -> float:
    from sklearn.metrics import roc_auc_score

    if np.unique(y).size < 2:
        return float("nan")
    return float(roc_auc_score(y, scores, sample_weight=weights))
