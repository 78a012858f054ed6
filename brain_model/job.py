"""The orchestrated training job: search, evaluate leave-subject-out, register, promote.

:func:`run_training` takes a labelled dataset (from the feature store), runs an Optuna
search over the estimators and their parameters, each trial scored by the pooled
single-epoch ROC AUC of a leave-subject-out evaluation, refits the best configuration on
all subjects, logs everything to MLflow (parameters, metrics, plots, the dataset's DVC
revision), registers the model with a signature and an input example, and promotes it to
``champion`` only if it beats the current champion **on the same evaluation**: the
champion's configuration is re-evaluated with the same folds on the same data (a model
that has seen every subject cannot be scored fairly on them as it is).
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field

from brain_core.settings import BrainSettings, settings_config
from brain_model.dataset import LabelledDataset
from brain_model.registry import (
    DEFAULT_MODEL_NAME,
    current_champion,
    experiment_id,
    log_p300_model,
    promote,
    register_version,
)

log = logging.getLogger(__name__)

#: Search space per estimator; every trial picks one estimator and its parameters.
SEARCH_SPACE: dict[str, dict[str, tuple[Any, ...]]] = {
    "lda": {"tmin": (0.1, 0.2), "tmax": (0.7, 0.8), "decim": (1, 2)},
    "xdawn_ts": {"nfilter": (2, 3, 4), "C": (0.1, 1.0)},
}


class TrainSettings(BrainSettings):
    """Training job settings (environment prefix ``BRAIN_TRAIN_``)."""

    model_config = settings_config("BRAIN_TRAIN_")

    tracking_uri: str = Field(description="MLflow tracking URI")
    model_name: str = DEFAULT_MODEL_NAME
    experiment: str = "brain-p300"
    n_trials: int = Field(3, ge=1, description="Optuna trials (small: a cycle stays quick)")
    estimators: tuple[str, ...] = ("lda", "xdawn_ts")
    min_subjects: int = Field(
        6, ge=3, description="fewer labelled (non-innocent) subjects: train nothing")
    n_splits: int | None = Field(None, description="outer folds (None: see evaluate)")
    seed: int = 0
    drift_reference_path: Path | None = Field(
        None, description="on promotion, write the drift monitor's reference (the new "
        "champion's training recordings) here; brain_drift reloads it")


@dataclass
class TrainingOutcome:
    """What one run of the job did."""

    status: str  # "promoted", "kept_champion", "too_few_subjects"
    message: str
    n_subjects: int
    best: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    version: str | None = None
    run_id: str | None = None
    champion_score: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _metrics(result: Any) -> dict[str, float]:
    metrics = {"auc": result.auc, "shuffled_auc": result.shuffled_auc,
               "confident_rate": result.confident_rate,
               "confident_wrong_rate": result.confident_wrong_rate}
    metrics.update({f"top1_{k}": v for k, v in result.top1.items()})
    if result.innocent_fpr is not None:
        metrics["innocent_fpr"] = result.innocent_fpr
    return {k: float(v) for k, v in metrics.items() if v == v}  # drop NaN


def search(dataset: LabelledDataset, settings: TrainSettings) -> tuple[dict[str, Any], float]:
    """Optuna over :data:`SEARCH_SPACE`; returns the best configuration and its AUC."""
    import optuna

    from brain_model.evaluate import evaluate_dataset

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        estimator = trial.suggest_categorical("estimator", list(settings.estimators))
        params = {name: trial.suggest_categorical(f"{estimator}.{name}", list(values))
                  for name, values in SEARCH_SPACE.get(estimator, {}).items()}
        result = evaluate_dataset(dataset, estimator, seed=settings.seed,
                                  n_splits=settings.n_splits, progress=False, shuffled=False,
                                  model_params={"estimator_params": params})
        trial.set_user_attr("config", {"estimator": estimator, "estimator_params": params})
        return float(result.auc)

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=settings.seed))
    study.optimize(objective, n_trials=settings.n_trials, show_progress_bar=False)
    return study.best_trial.user_attrs["config"], float(study.best_value)


def run_training(dataset: LabelledDataset, settings: TrainSettings, *,
                 dataset_version: str | None = None, config: dict[str, Any] | None = None
                 ) -> TrainingOutcome:
    """Train, evaluate, register and maybe promote (see the module docstring).

    ``config`` (``{"estimator": ..., "estimator_params": {...}}``) skips the search.
    """
    import mlflow

    from brain_model.evaluate import evaluate_dataset, write_plots
    from brain_model.model import P300Model

    labelled = [s for s in dataset.subjects if s not in set(dataset.innocent_subjects)]
    if len(labelled) < settings.min_subjects:
        message = (f"{len(labelled)} labelled subject(s), fewer than the minimum of "
                   f"{settings.min_subjects}: no model trained, nothing promoted.")
        log.warning(message)
        return TrainingOutcome("too_few_subjects", message, len(dataset.subjects))
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    best, search_auc = (config, float("nan")) if config else search(dataset, settings)
    result = evaluate_dataset(dataset, best["estimator"], seed=settings.seed,
                              n_splits=settings.n_splits, progress=False, shuffled=True,
                              model_params={"estimator_params": best["estimator_params"]})
    metrics = _metrics(result)
    champion_score = None
    newer_data_tie = False
    champion = current_champion(settings.model_name)
    if champion is not None:
        champion_config = _config_of(champion)
        if champion_config == best:  # same folds, same configuration: the same score
            champion_score = float(result.auc)
            newer_data_tie = (dataset_version is not None
                              and (champion.tags or {}).get("brain.dataset_version")
                              != dataset_version)
        elif champion_config is not None:
            champion_result = evaluate_dataset(
                dataset, champion_config["estimator"], seed=settings.seed,
                n_splits=settings.n_splits, progress=False, shuffled=False,
                model_params={"estimator_params": champion_config["estimator_params"]})
            champion_score = float(champion_result.auc)
    model = P300Model(best["estimator"], estimator_params=best["estimator_params"],
                      seed=settings.seed, name=settings.model_name).fit(dataset)
    with mlflow.start_run(experiment_id=experiment_id(settings.experiment),
                          run_name=f"train-{best['estimator']}") as run:
        mlflow.log_params({"estimator": best["estimator"],
                           "estimator_params": json.dumps(best["estimator_params"],
                                                          sort_keys=True),
                           "n_trials": settings.n_trials, "cv": result.cv,
                           "n_splits": result.n_splits, "n_subjects": result.n_subjects,
                           "n_innocent_subjects": result.n_innocent, "seed": settings.seed})
        mlflow.set_tag("brain.config", json.dumps(best, sort_keys=True))
        mlflow.set_tag("brain.dataset_version", dataset_version or "unknown")
        mlflow.set_tag("brain.dataset_source", dataset.source or "unknown")
        mlflow.log_metrics(metrics)
        if search_auc == search_auc:
            mlflow.log_metric("search_best_auc", search_auc)
        if champion_score is not None:
            mlflow.log_metric("champion_auc_same_evaluation", champion_score)
        with tempfile.TemporaryDirectory() as tmp:
            for path in write_plots(result, Path(tmp)):
                mlflow.log_artifact(str(path), artifact_path="evaluation")
            (Path(tmp) / "evaluation.json").write_text(json.dumps(result.to_dict(), indent=2))
            mlflow.log_artifact(str(Path(tmp) / "evaluation.json"), artifact_path="evaluation")
        info = log_p300_model(model, dataset.phases[0].epochs.data)
    version = register_version(info.model_uri, settings.model_name, score=metrics["auc"],
                               metric="auc",
                               tags={"brain.config": json.dumps(best),
                                     "brain.dataset_version": dataset_version or "unknown"})
    decision = promote(settings.model_name, str(version.version), metrics["auc"],
                       champion_score, newer_data_tie=newer_data_tie)
    status = "promoted" if decision.promoted else "kept_champion"
    return TrainingOutcome(status, decision.reason, result.n_subjects, best=best,
                           metrics=metrics, version=str(version.version),
                           run_id=run.info.run_id, champion_score=champion_score)


def _config_of(version: Any) -> dict[str, Any] | None:
    """The estimator configuration a registered version was trained with."""
    text = (version.tags or {}).get("brain.config")
    if text:
        return json.loads(text)
    log.warning("champion version %s has no brain.config tag; it cannot be re-evaluated",
                version.version)
    return None


def dataset_from_features(frame: Any, *, source: str | None = None) -> LabelledDataset:
    """A :class:`LabelledDataset` from the feature store's labelled rows.

    The feature store keeps targets, not birthdates (privacy). The per-subject birthdate
    that :class:`LabelledDataset` wants (to shuffle labels across subjects for the
    control) is rebuilt from the probes: the day, month and year items whose epochs have
    target 1. A subject with no year probe (innocent) gets a leap year that no recording
    showed, so that it stays innocent after the rebuild.
    """
    from datetime import date

    import numpy as np

    from brain_core.errors import InvalidInputError
    from brain_model.dataset import LabelledPhase
    from brain_transformer_pipeline.features import feature_phases

    phases = [p for p in feature_phases(frame) if p.labelled]
    if not phases:
        raise InvalidInputError("The feature store holds no labelled recording yet.",
                                field="feature_repo")
    shown_years = {item for p in phases if p.epochs.phase == "year" for item in p.shown_items}
    outside = next(y for y in range(1904, 2104, 4) if y not in shown_years)
    probes: dict[str, dict[str, int]] = {}
    for p in phases:
        if p.probe is not None:
            probes.setdefault(p.epochs.subject, {})[p.epochs.phase] = p.probe
    birthdates = {}
    for subject, own in probes.items():
        if "day" in own and "month" in own:
            birthdates[subject] = date(own.get("year", outside), own["month"], own["day"])
    kept = [LabelledPhase(epochs=p.epochs, shown_items=p.shown_items, probe=p.probe)
            for p in phases if p.epochs.subject in birthdates]
    first = kept[0].epochs
    for p in kept[1:]:
        if tuple(p.epochs.ch_names) != tuple(first.ch_names) or p.epochs.sfreq != first.sfreq:
            raise InvalidInputError(
                f"Feature store recordings disagree on channels or rate: {p.epochs.subject}/"
                f"{p.epochs.phase} has {list(p.epochs.ch_names)} at {p.epochs.sfreq:g} Hz, "
                f"{first.subject}/{first.phase} {list(first.ch_names)} at {first.sfreq:g} Hz.",
                field="features")
    return LabelledDataset(phases=tuple(kept), birthdates=birthdates,
                           ch_names=tuple(first.ch_names), sfreq=float(first.sfreq),
                           times=np.asarray(first.times), source=source)
