"""Honest, leave-subject-out evaluation of a P300 model on a labelled BIDS dataset.

Every number comes from subjects the model never saw: the outer cross-validation
holds out whole subjects, and everything the model sets from data - classifier,
score calibration, temperature, decision thresholds - is fitted inside the training
subjects (:class:`brain_model.model.P300Model`). The splitter is
``LeaveOneGroupOut`` up to :data:`MAX_LOGO_SUBJECTS` subjects and ``GroupKFold`` with
:data:`DEFAULT_FOLDS` folds above (each fold then trains on ~90 % of the subjects,
close to leave-one-out, at a tenth of its cost).

The report (:class:`EvaluationResult`):

* ``auc``: single-epoch ROC AUC, probe vs irrelevant, of the calibrated out-of-fold
  scores pooled over folds (every epoch, rejected ones included; ``auc_accepted`` only
  counts epochs with a non-zero artifact weight);
* ``top1``: share of phases whose top item is the probe, per phase, and of whole
  birthdates (the most probable real date); year and birthdate only over subjects whose
  year was shown (non-innocent). Each with its chance level and a 95 % Wilson interval;
* ``repetitions``: the same accuracies using only the first k showings of each item;
* ``innocent_fpr``: share of innocent subjects whose year phase is called confidently;
* ``confident_rate`` and ``confident_wrong_rate``: share of phases called with
  confidence, and share of those calls that are wrong (an innocent's confident year call
  is wrong);
* ``shuffled_auc``: the whole evaluation again with birthdates shuffled across
  subjects (targets that do not match the EEG): anything above chance there is leakage.

Birthdates are never printed, logged or written: only accuracies are.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut
from threadpoolctl import threadpool_limits

from brain_core.errors import InvalidInputError
from brain_core.models import PHASES
from brain_model.dataset import LabelledDataset, LabelledPhase, load_dataset
from brain_model.estimators import estimator_spec
from brain_model.model import P300Model
from brain_model.scoring import (
    combine_birthdate,
    item_evidence,
    item_probabilities,
    n_valid_dates,
    wilson_interval,
)

log = logging.getLogger(__name__)

#: Up to this many subjects the outer loop is leave-one-subject-out.
MAX_LOGO_SUBJECTS = 10
#: Outer folds (GroupKFold) above MAX_LOGO_SUBJECTS subjects.
DEFAULT_FOLDS = 10
TARGETS = (*PHASES, "birthdate")


@dataclass
class PhaseOutcome:
    """One held-out phase: what the model said and whether it was right."""

    subject: str
    session_id: str
    phase: str
    n_items: int
    innocent: bool
    correct: bool
    confident: bool
    confidence: float
    top_probability: float
    curve: list[bool] = field(default_factory=list)  # correct with the first k repetitions


@dataclass
class EvaluationResult:
    """What :func:`evaluate` measured. ``to_dict()`` is the ``--json`` content."""

    estimator: str
    n_subjects: int
    n_innocent: int
    n_phases: int
    n_epochs: int
    cv: str
    n_splits: int
    seed: int
    auc: float
    auc_accepted: float
    top1: dict[str, float]
    top1_ci: dict[str, tuple[float, float]]
    chance: dict[str, float]
    n_scored: dict[str, int]
    repetitions: dict[str, list[float]]
    innocent_fpr: float | None
    confident_rate: float
    confident_wrong_rate: float
    n_confident: int
    confident_by_phase: dict[str, dict[str, float | int]]
    calibration: dict[str, dict[str, float]]
    shuffled_auc: float
    shuffled: dict[str, Any]
    wall_time_s: float
    source: str | None = None
    preset: str | None = None
    transform_config: dict[str, Any] | None = None
    # For plots only (not in to_dict): grand-average probe-minus-irrelevant ERP.
    erp: np.ndarray | None = field(default=None, repr=False)
    erp_times: np.ndarray | None = field(default=None, repr=False)
    ch_names: tuple[str, ...] = ()
    outcomes: list[PhaseOutcome] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no birthdate, no per-subject detail)."""
        out = asdict(self)
        for key in ("erp", "erp_times", "outcomes", "ch_names"):
            out.pop(key)
        out["top1_ci"] = {k: list(v) for k, v in self.top1_ci.items()}
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def make_splitter(subjects: Sequence[str], n_splits: int | None, seed: int
                  ) -> tuple[Any, str, int]:
    """The outer splitter over subjects, its description and its number of folds."""
    n = len(subjects)
    if n < 3:
        raise InvalidInputError(
            f"Leave-subject-out evaluation needs at least 3 labelled subjects (2 to train, "
            f"1 to test), got {n}.", field="bids_root")
    if n_splits is None:
        n_splits = n if n <= MAX_LOGO_SUBJECTS else DEFAULT_FOLDS
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or not 2 <= n_splits <= n:
        raise InvalidInputError(
            f"Invalid value for the 'n_splits' parameter: expected an integer between 2 "
            f"and the number of subjects ({n}), got {n_splits!r}.", field="n_splits")
    # Each training set needs >= 2 subjects for the model's inner calibration.
    if n - math.ceil(n / n_splits) < 2:
        raise InvalidInputError(
            f"Invalid value for the 'n_splits' parameter: {n_splits} fold(s) of {n} "
            "subjects leave fewer than 2 training subjects.", field="n_splits")
    if n_splits == n:
        return LeaveOneGroupOut(), "LeaveOneGroupOut", n
    return (GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed),
            f"GroupKFold({n_splits})", n_splits)


def _folds(dataset: LabelledDataset, splitter: Any) -> Iterator[tuple[list[str], list[str]]]:
    subjects = np.asarray(dataset.subjects)
    for train, test in splitter.split(subjects, groups=subjects):
        yield subjects[train].tolist(), subjects[test].tolist()


@dataclass
class _RunOutput:
    outcomes: list[PhaseOutcome]
    birthdates: list[PhaseOutcome]
    y: list[np.ndarray]
    llr: list[np.ndarray]
    weights: list[np.ndarray]


def _run(dataset: LabelledDataset, estimator: str, splitter: Any, n_splits: int, *,
         seed: int, progress: bool, desc: str, curves: bool,
         model_params: dict[str, Any]) -> _RunOutput:
    """One outer cross-validation: fit per fold, predict every held-out phase."""
    from tqdm.auto import tqdm

    out = _RunOutput([], [], [], [], [])
    folds = tqdm(_folds(dataset, splitter), total=n_splits, desc=desc, unit="fold",
                 disable=not progress)
    for train, test in folds:
        model = P300Model(estimator, seed=seed, **model_params).fit(dataset.subset(train))
        # (fit takes the dataset's transform config, as a served model would carry it)
        sessions: dict[tuple[str, str], dict[str, tuple[LabelledPhase, Any, np.ndarray]]] = \
            defaultdict(dict)
        for p in dataset.subset(test).phases:
            llr = model.epoch_llr(p.epochs)
            pred = model.predict_phase(p.epochs, items=p.shown_items, llr=llr)
            weights = np.asarray(p.epochs.weights, dtype=float)
            out.y.append(p.y)
            out.llr.append(llr)
            out.weights.append(weights)
            correct = p.probe is not None and pred.top_item == p.probe
            outcome = PhaseOutcome(
                subject=p.subject, session_id=p.session_id, phase=p.phase,
                n_items=len(p.shown_items), innocent=p.innocent, correct=bool(correct),
                confident=not pred.indeterminate, confidence=pred.confidence,
                top_probability=max(pred.probabilities))
            contributions = model.epoch_weights(p.epochs) * llr
            if curves:
                outcome.curve = [top == p.probe_index for top in
                                 _curve_tops(p, contributions)]
            out.outcomes.append(outcome)
            sessions[(p.subject, p.session_id)][p.phase] = (p, pred, contributions)
        for (subject, session_id), by_phase in sessions.items():
            if set(by_phase) != set(PHASES):
                continue
            phases = [by_phase[ph][0] for ph in PHASES]
            preds = {ph: by_phase[ph][1] for ph in PHASES}
            innocent = any(p.innocent for p in phases)
            birthdate = model.predict_birthdate(preds)
            truth = tuple(p.probe for p in phases)  # (day, month, year)
            said = (birthdate.date.day, birthdate.date.month, birthdate.date.year)
            outcome = PhaseOutcome(
                subject=subject, session_id=session_id, phase="birthdate",
                n_items=_n_valid_dates(preds), innocent=innocent,
                correct=bool(not innocent and said == truth),
                confident=not birthdate.indeterminate, confidence=birthdate.probability,
                top_probability=birthdate.probability)
            if curves:
                outcome.curve = _birthdate_curve(model, phases,
                                                 [by_phase[ph][2] for ph in PHASES], truth)
            out.birthdates.append(outcome)
    return out


def _curve_tops(p: LabelledPhase, contributions: np.ndarray) -> list[int]:
    """Top item index using the first k repetitions, k = 1 .. max repetitions."""
    reps = p.repetition_index()
    items = np.asarray(p.epochs.items)
    tops = []
    for k in range(1, int(reps.max()) + 2 if reps.size else 1):
        mask = reps < k
        evidence = item_evidence(contributions[mask], items[mask], None, p.shown_items)
        tops.append(int(np.argmax(evidence)))
    return tops


def _birthdate_curve(model: P300Model, phases: list[LabelledPhase],
                     contributions: list[np.ndarray], truth: tuple) -> list[bool]:
    from brain_core.models import PhasePrediction

    reps = [p.repetition_index() for p in phases]
    n_k = max(int(r.max()) + 1 for r in reps if r.size)
    curve = []
    for k in range(1, n_k + 1):
        preds = []
        for p, r, c in zip(phases, reps, contributions, strict=True):
            mask = r < k
            evidence = item_evidence(c[mask], np.asarray(p.epochs.items)[mask], None,
                                     p.shown_items)
            prob = item_probabilities(evidence, model.temperature_)
            top = int(np.argmax(prob))
            preds.append(PhasePrediction(
                phase=p.phase, items=p.shown_items, probabilities=tuple(prob.tolist()),
                top_item=p.shown_items[top], confidence=0.0, indeterminate=True,
                model_name=model.name, model_version=str(model.version)))
        said = combine_birthdate(*preds).date
        curve.append(None not in truth and (said.day, said.month, said.year) == truth)
    return curve


def _n_valid_dates(preds: dict) -> int:
    """How many real dates the shown day, month and year items can form."""
    return n_valid_dates(preds["day"].items, preds["month"].items, preds["year"].items)


def _auc(y: list[np.ndarray], scores: list[np.ndarray], mask: list[np.ndarray] | None = None
         ) -> float:
    yy = np.concatenate(y)
    ss = np.concatenate(scores)
    if mask is not None:
        keep = np.concatenate(mask)
        yy, ss = yy[keep], ss[keep]
    if np.unique(yy).size < 2:
        return float("nan")
    return float(roc_auc_score(yy, ss))


def _summaries(run: _RunOutput) -> dict[str, Any]:
    """Accuracies, chance levels, intervals, confident-call rates of one run."""
    by_target: dict[str, list[PhaseOutcome]] = {t: [] for t in TARGETS}
    for o in run.outcomes + run.birthdates:
        by_target[o.phase].append(o)
    top1, ci, chance, n_scored, curves, calibration = {}, {}, {}, {}, {}, {}
    for target, outcomes in by_target.items():
        scored = [o for o in outcomes if not o.innocent]
        n = len(scored)
        hits = sum(o.correct for o in scored)
        n_scored[target] = n
        top1[target] = hits / n if n else float("nan")
        ci[target] = wilson_interval(hits, n)
        chance[target] = float(np.mean([1.0 / o.n_items for o in scored])) if n else float(
            "nan")
        if scored and scored[0].curve:
            length = min(len(o.curve) for o in scored)
            curves[target] = [float(np.mean([o.curve[k] for o in scored]))
                              for k in range(length)]
        if n:
            calibration[target] = {
                "mean_top_probability": float(np.mean([o.top_probability for o in scored])),
                "accuracy": top1[target]}
    phases = run.outcomes
    confident = [o for o in phases if o.confident]
    wrong = [o for o in confident if not o.correct]
    innocent_years = [o for o in phases if o.phase == "year" and o.innocent]
    by_phase = {}
    for target, outcomes in by_target.items():
        called = [o for o in outcomes if o.confident]
        by_phase[target] = {
            "n": len(outcomes), "confident": len(called),
            "confident_rate": len(called) / len(outcomes) if outcomes else float("nan"),
            "confident_wrong": sum(not o.correct for o in called),
            "confident_wrong_rate": (sum(not o.correct for o in called) / len(called)
                                     if called else 0.0)}
    return {
        "top1": top1, "top1_ci": ci, "chance": chance, "n_scored": n_scored,
        "repetitions": curves, "calibration": calibration,
        "innocent_fpr": (sum(o.confident for o in innocent_years) / len(innocent_years)
                         if innocent_years else None),
        "confident_rate": len(confident) / len(phases) if phases else 0.0,
        "confident_wrong_rate": len(wrong) / len(confident) if confident else 0.0,
        "n_confident": len(confident),
        "confident_by_phase": by_phase,
        "auc": _auc(run.y, run.llr),
        "auc_accepted": _auc(run.y, run.llr, [w > 0 for w in run.weights]),
    }


def grand_average_erp(dataset: LabelledDataset) -> np.ndarray:
    """Probe-minus-irrelevant average per channel, in volts, (n_channels, n_times).

    Each phase with a probe contributes its weighted probe average minus its weighted
    irrelevant average; phases are averaged with equal weight.
    """
    diffs = []
    for p in dataset.phases:
        if p.probe is None:
            continue
        data = np.asarray(p.epochs.data, dtype=float)
        w = np.asarray(p.epochs.weights, dtype=float)
        y = p.y.astype(bool)
        wp, wi = w * y, w * ~y
        if wp.sum() <= 0 or wi.sum() <= 0:
            continue
        probe = np.tensordot(wp, data, axes=1) / wp.sum()
        irrelevant = np.tensordot(wi, data, axes=1) / wi.sum()
        diffs.append(probe - irrelevant)
    if not diffs:
        return np.zeros((len(dataset.ch_names), len(dataset.times)))
    return np.mean(diffs, axis=0)


def evaluate_dataset(dataset: LabelledDataset, estimator: str = "lda", *, seed: int = 0,
                     n_splits: int | None = None, progress: bool = True,
                     shuffled: bool = True, model_params: dict[str, Any] | None = None
                     ) -> EvaluationResult:
    """:func:`evaluate` on an already transformed :class:`LabelledDataset`.

    Parameters
    ----------
    dataset : LabelledDataset
        Labelled phases of at least 3 subjects.
    estimator : str
        Registered estimator name.
    seed : int
        Seeds fold shuffling, bootstraps and the label shuffle.
    n_splits : int | None
        Outer folds; None: leave-one-subject-out up to 10 subjects, else 10 folds.
    progress : bool
        tqdm bars over folds (stderr).
    shuffled : bool
        Also run the shuffled-label control (doubles the time).
    model_params : dict | None
        Extra :class:`P300Model` parameters.
    """
    estimator_spec(estimator)  # fail before any work on an unknown name
    # The matrices here are small (a few hundred features): multi-threaded BLAS costs
    # more in synchronization than it gains, ~15x slower on a busy 2-core machine.
    with threadpool_limits(limits=1):
        return _evaluate_dataset(dataset, estimator, seed=seed, n_splits=n_splits,
                                 progress=progress, shuffled=shuffled,
                                 model_params=model_params)


def _evaluate_dataset(dataset: LabelledDataset, estimator: str, *, seed: int,
                      n_splits: int | None, progress: bool, shuffled: bool,
                      model_params: dict[str, Any] | None) -> EvaluationResult:
    start = time.perf_counter()
    params = dict(model_params or {})
    splitter, cv, folds = make_splitter(dataset.subjects, n_splits, seed)
    main = _run(dataset, estimator, splitter, folds, seed=seed, progress=progress,
                desc=f"evaluating {estimator}", curves=True, model_params=params)
    summary = _summaries(main)
    control: dict[str, Any] = {}
    shuffled_auc = float("nan")
    if shuffled:
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
        run = _run(dataset.shuffled(rng), estimator, splitter, folds, seed=seed,
                   progress=progress, desc="shuffled control", curves=False,
                   model_params=params)
        s = _summaries(run)
        shuffled_auc = s["auc"]
        control = {"auc": s["auc"], "top1": s["top1"], "chance": s["chance"],
                   "confident_rate": s["confident_rate"],
                   "confident_wrong_rate": s["confident_wrong_rate"]}
    return EvaluationResult(
        estimator=estimator, n_subjects=len(dataset.subjects),
        n_innocent=len(dataset.innocent_subjects), n_phases=len(dataset.phases),
        n_epochs=int(sum(len(p.y) for p in dataset.phases)), cv=cv, n_splits=folds,
        seed=seed, auc=summary["auc"], auc_accepted=summary["auc_accepted"],
        top1=summary["top1"], top1_ci=summary["top1_ci"], chance=summary["chance"],
        n_scored=summary["n_scored"], repetitions=summary["repetitions"],
        innocent_fpr=summary["innocent_fpr"], confident_rate=summary["confident_rate"],
        confident_wrong_rate=summary["confident_wrong_rate"],
        n_confident=summary["n_confident"], confident_by_phase=summary["confident_by_phase"],
        calibration=summary["calibration"], shuffled_auc=shuffled_auc, shuffled=control,
        wall_time_s=time.perf_counter() - start, source=dataset.source,
        transform_config=(dataset.config.model_dump(mode="json")
                          if dataset.config is not None else None),
        erp=grand_average_erp(dataset), erp_times=np.asarray(dataset.times),
        ch_names=tuple(dataset.ch_names), outcomes=main.outcomes + main.birthdates)


def evaluate(bids_root: Path | str, estimator: str = "lda", *, seed: int = 0,
             n_splits: int | None = None, progress: bool = True,
             transform_config: Any = None) -> EvaluationResult:
    """Leave-subject-out evaluation of ``estimator`` on a labelled BIDS dataset.

    Parameters
    ----------
    bids_root : path
        BIDS root in DESIGN.md's format with ``birthdate`` in participants.tsv; every
        recording must have the same channels.
    estimator : str
        "lda", "xdawn_ts" or "baseline" (see :data:`brain_model.estimators.ESTIMATORS`).
    seed : int
        Same data and seed, same result.
    n_splits : int | None
        Outer folds; None: leave-one-subject-out up to 10 subjects, else
        ``GroupKFold(10)``.
    progress : bool
        Progress bars (transform, folds) on stderr.
    transform_config : TransformConfig | None
        How recordings become epochs (None: the transform service's defaults).

    Returns
    -------
    EvaluationResult
    """
    estimator_spec(estimator)
    dataset = load_dataset(bids_root, config=transform_config, progress=progress)
    return evaluate_dataset(dataset, estimator, seed=seed, n_splits=n_splits,
                            progress=progress)


# ----------------------------------------------------------------------------- plots

def write_plots(result: EvaluationResult, out_dir: Path | str) -> list[Path]:
    """Accuracy-vs-repetitions and probe-minus-irrelevant ERP figures, as PNGs.

    Returns
    -------
    list of Path
        The files written (``accuracy_vs_repetitions.png``, ``erp_difference.png``).
    """
    import matplotlib

    matplotlib.use("Agg")  # here, not at import: the caller may have its own backend
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = dict(zip(TARGETS, ("C0", "C1", "C2", "C3"), strict=True))
    for target in TARGETS:
        curve = result.repetitions.get(target)
        if not curve:
            continue
        k = np.arange(1, len(curve) + 1)
        ax.plot(k, curve, marker="o", color=colors[target], label=target)
        ax.axhline(result.chance[target], color=colors[target], linestyle=":", linewidth=1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("repetitions of each item used")
    ax.set_ylabel("top-1 accuracy (held-out subjects)")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{result.estimator}: accuracy vs repetitions (dotted: chance)")
    ax.legend(loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "accuracy_vs_repetitions.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    written.append(path)

    if result.erp is not None and result.erp_times is not None:
        n_ch = len(result.ch_names)
        cols = min(4, n_ch)
        rows = math.ceil(n_ch / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.3 * rows), sharex=True,
                                 sharey=True, squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i >= n_ch:
                ax.axis("off")
                continue
            ax.plot(result.erp_times, result.erp[i] * 1e6, color="C3")
            ax.axhline(0, color="k", linewidth=0.5)
            ax.axvspan(0.3, 0.6, color="C1", alpha=0.1)
            ax.set_title(result.ch_names[i], fontsize=9)
        for ax in axes[-1]:
            ax.set_xlabel("time (s)")
        for ax in axes[:, 0]:
            ax.set_ylabel("µV")
        fig.suptitle("grand average, probe minus irrelevant (shaded: 300-600 ms)")
        fig.tight_layout()
        path = out / "erp_difference.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written
