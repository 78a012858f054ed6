"""Train a P300Model, log it to MLflow, register it, and promote it if it is better.

:func:`train_local` is the quick path (`brain train --local`): simulated training
subjects, a separate set of simulated evaluation subjects, and champion/challenger on
that same evaluation set. The orchestrated job (the feature store and a leave-subject-out
search) builds on the same registry functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from brain_core.models import PHASES
from brain_model.dataset import LabelledDataset, LabelledPhase, labelled_phases
from brain_model.registry import (
    DEFAULT_MODEL_NAME,
    Promotion,
    current_champion,
    experiment_id,
    load_registered,
    log_p300_model,
    promote,
    register_version,
)

log = logging.getLogger(__name__)

#: The metric champion/challenger compares: pooled single-epoch ROC AUC on the
#: evaluation subjects. Top-1 counts over a handful of phases are too coarse to rank
#: two models; the AUC over thousands of epochs is not.
PROMOTION_METRIC = "eval_auc"


def evaluation_metrics(model: Any, dataset: LabelledDataset) -> dict[str, float]:
    """Score ``model`` on ``dataset``: pooled epoch AUC and top-1 per phase and birthdate.

    Innocent phases (no probe shown) are left out of top-1; a birthdate counts as right
    when all three phases of a non-innocent session are right.
    """
    from sklearn.metrics import roc_auc_score

    scores, targets = [], []
    right: dict[str, list[bool]] = {p: [] for p in PHASES}
    by_session: dict[str, dict[str, bool]] = {}
    innocent_sessions: set[str] = set()
    for phase in dataset.phases:
        llr = model.epoch_llr(phase.epochs)
        scores.append(llr)
        targets.append(phase.y)
        if phase.innocent:
            innocent_sessions.add(phase.session_id)
            continue
        prediction = model.predict_phase(phase.epochs, items=phase.shown_items, llr=llr)
        hit = prediction.top_item == phase.probe
        right[phase.phase].append(hit)
        by_session.setdefault(phase.session_id, {})[phase.phase] = hit
    y, s = np.concatenate(targets), np.concatenate(scores)
    metrics = {"eval_auc": float(roc_auc_score(y, s)) if 0 < y.sum() < len(y) else 0.5}
    for phase, hits in right.items():
        if hits:
            metrics[f"eval_top1_{phase}"] = float(np.mean(hits))
    complete = [all(v.values()) for k, v in by_session.items()
                if len(v) == len(PHASES) and k not in innocent_sessions]
    if complete:
        metrics["eval_top1_birthdate"] = float(np.mean(complete))
    return metrics


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    version: str
    metrics: dict[str, float]
    promotion: Promotion

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promotion": asdict(self.promotion)}


def simulated_dataset(n_subjects: int, *, preset: str, seed: int, repetitions: int,
                      years: tuple[int, int], innocent_fraction: float,
                      progress: bool = False, subject_prefix: str = "") -> LabelledDataset:
    """Simulate ``n_subjects`` and transform them into a labelled dataset."""
    from brain_sim.simulate import simulate_dataset

    recordings, birthdates = [], {}
    for session, label in simulate_dataset(n_subjects, preset=preset, seed=seed,
                                           repetitions=repetitions, years=years,
                                           innocent_fraction=innocent_fraction):
        for recording in session:
            recordings.append(recording.model_copy(
                update={"subject": subject_prefix + recording.subject}))
        birthdates[subject_prefix + label.subject] = label.birthdate
    return labelled_phases(recordings, birthdates, progress=progress, total=len(recordings),
                           source=f"simulated:{preset}:seed{seed}")


def train_and_register(train: LabelledDataset, evaluation: LabelledDataset, *,
                       estimator: str = "lda", name: str = DEFAULT_MODEL_NAME,
                       params: dict[str, Any] | None = None, force_champion: bool = False,
                       dataset_version: str | None = None, seed: int = 0) -> TrainResult:
    """Fit on ``train``, evaluate challenger and champion on ``evaluation``, register, promote.

    Needs an MLflow tracking URI already set (``mlflow.set_tracking_uri``).
    """
    import mlflow

    from brain_model.model import P300Model

    model = P300Model(estimator, seed=seed, name=name).fit(train)
    metrics = evaluation_metrics(model, evaluation)
    champion = current_champion(name)
    champion_score = None
    if champion is not None:
        try:
            champion_model = load_registered(f"models:/{name}/{champion.version}")
            champion_score = evaluation_metrics(champion_model, evaluation)[PROMOTION_METRIC]
        except Exception as err:  # a champion that cannot load cannot defend its title
            log.warning("champion version %s could not be evaluated: %s", champion.version, err)
    with mlflow.start_run(experiment_id=experiment_id("brain-p300"),
                          run_name=f"train-{estimator}") as run:
        mlflow.log_params({"estimator": estimator, "n_train_subjects": len(train.subjects),
                           "n_eval_subjects": len(evaluation.subjects),
                           "train_source": train.source or "", "seed": seed,
                           **(params or {})})
        if dataset_version:
            mlflow.set_tag("brain.dataset_version", dataset_version)
        mlflow.log_metrics(metrics)
        if champion_score is not None:
            mlflow.log_metric("champion_eval_auc_same_data", champion_score)
        info = log_p300_model(model, train.phases[0].epochs.data)
    version = register_version(
        info.model_uri, name, score=metrics[PROMOTION_METRIC], metric=PROMOTION_METRIC,
        tags={"brain.config": json.dumps({"estimator": estimator, "estimator_params": {}})})
    promotion = promote(name, str(version.version), metrics[PROMOTION_METRIC], champion_score,
                        force=force_champion)
    return TrainResult(run_id=run.info.run_id, version=str(version.version), metrics=metrics,
                       promotion=promotion)


def train_local(tracking_uri: str, *, n_subjects: int = 12, n_eval_subjects: int = 6,
                preset: str = "easy", repetitions: int = 10,
                years: Sequence[int] = (1980, 1999), innocent_fraction: float = 0.1,
                estimator: str = "lda", name: str = DEFAULT_MODEL_NAME, seed: int = 0,
                force_champion: bool = False, progress: bool = True) -> TrainResult:
    """Simulate, train, evaluate on fresh simulated subjects, register, maybe promote."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    span = (int(years[0]), int(years[1]))
    train = simulated_dataset(n_subjects, preset=preset, seed=seed, repetitions=repetitions,
                              years=span, innocent_fraction=innocent_fraction,
                              progress=progress)
    evaluation = simulated_dataset(n_eval_subjects, preset=preset, seed=seed + 10_000,
                                   repetitions=repetitions, years=span,
                                   innocent_fraction=innocent_fraction, progress=progress,
                                   subject_prefix="E")
    return train_and_register(train, evaluation, estimator=estimator, name=name,
                              force_champion=force_champion, seed=seed,
                              params={"preset": preset, "repetitions": repetitions,
                                      "years": f"{span[0]}-{span[1]}"})


def phases_of(dataset: LabelledDataset, phase: str) -> list[LabelledPhase]:
    return [p for p in dataset.phases if p.phase == phase]
