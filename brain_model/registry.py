"""BRAIN models in MLflow: a pyfunc wrapper, registration, and champion/challenger.

A registered version holds the whole :class:`~brain_model.model.P300Model` (estimator,
calibration, thresholds, transform settings) as a pickled artifact inside an MLflow
pyfunc. Its pyfunc ``predict`` maps epochs ``(n_epochs, n_channels, n_times)`` (volts)
to per-epoch log-likelihood ratios; the inference service unwraps the P300Model to make
whole-phase decisions. Registry aliases only (``champion``), never stages.
"""

from __future__ import annotations

import logging
import pickle
import tempfile
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "brain-p300"
CHAMPION_ALIAS = "champion"
#: Tag on every registered version: the score it got on its evaluation.
SCORE_TAG = "brain.evaluation_score"
SCORE_METRIC_TAG = "brain.evaluation_metric"


class P300Pyfunc(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc around a pickled P300Model."""

    # The input is an ndarray of epochs, which MLflow's type-hint validation does not
    # cover (it warns either way); the logged signature describes it instead.
    _skip_type_hint_validation = True
    model: Any = None

    def load_context(self, context: Any) -> None:
        with open(context.artifacts["p300_model"], "rb") as handle:
            self.model = pickle.load(handle)  # noqa: S301 - our own registry's artifact

    # No type hints here: MLflow would try to infer a signature from them at log time.
    def predict(self, context, model_input, params=None):  # noqa: ANN001, ANN201
        """Per-epoch log-likelihood ratio (probe vs irrelevant) of epochs in volts."""
        from brain_model.estimators import epoch_scores

        data = np.asarray(model_input, dtype=np.float32)
        if data.ndim != 3:
            raise ValueError("expected epochs (n_epochs, n_channels, n_times), got "
                             f"{data.shape}")
        return self.model.calibration_.llr(epoch_scores(self.model.estimator_, data))


def _requirements() -> list[str]:
    names = ("numpy", "scipy", "scikit-learn", "pyriemann", "mne", "pydantic")
    return [f"{name}=={package_version(name)}" for name in names]


def log_p300_model(model: Any, example_epochs: np.ndarray) -> Any:
    """Log ``model`` as the pyfunc artifact ``model`` of the active run; return ModelInfo."""
    import mlflow
    from mlflow.models import infer_signature

    example = np.asarray(example_epochs[:2], dtype=np.float32)
    wrapper = P300Pyfunc()
    wrapper.model = model
    signature = infer_signature(example, wrapper.predict(None, example))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p300_model.pkl"
        path.write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        return mlflow.pyfunc.log_model(
            name="model", python_model=P300Pyfunc(), artifacts={"p300_model": str(path)},
            signature=signature, input_example=example, pip_requirements=_requirements())


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created if needed.

    (Not ``mlflow.set_experiment``: it also exports MLFLOW_EXPERIMENT_ID into this
    process's environment, which then leaks into every child process.)
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


@dataclass(frozen=True)
class Promotion:
    """The outcome of a champion/challenger comparison."""

    version: str
    promoted: bool
    challenger_score: float
    champion_version: str | None
    champion_score: float | None
    reason: str


def register_version(model_uri: str, name: str, *, score: float, metric: str,
                     tags: dict[str, str] | None = None) -> Any:
    """Register ``model_uri`` as a new version of ``name`` with its evaluation score."""
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(model_uri, name)
    client = MlflowClient()
    for key, value in {SCORE_TAG: f"{score:.6f}", SCORE_METRIC_TAG: metric,
                       **(tags or {})}.items():
        client.set_model_version_tag(name, version.version, key, value)
    return version


def current_champion(name: str) -> Any | None:
    """The version carrying the champion alias, or None."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException:
        return None


def promote(name: str, version: str, challenger_score: float,
            champion_score: float | None, *, force: bool = False,
            newer_data_tie: bool = False) -> Promotion:
    """Give ``version`` the champion alias if it beats the champion's score on the same data.

    ``champion_score`` must come from evaluating the current champion on the same
    evaluation data as the challenger (None when there is no champion yet).
    ``newer_data_tie``: the challenger has the champion's configuration and was trained on
    a newer dataset version, so a tie (the same procedure scores the same) promotes it.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    champion = current_champion(name)
    champion_version = None if champion is None else str(champion.version)
    client.set_model_version_tag(name, version, "brain.champion_score_on_same_evaluation",
                                 "none" if champion_score is None else f"{champion_score:.6f}")
    if champion is None:
        promoted, reason = True, "no champion yet"
    elif force:
        promoted, reason = True, "forced"
    elif newer_data_tie and champion_score is not None and challenger_score >= champion_score:
        # The same configuration scores the same under the same folds; the challenger
        # is that configuration refitted with the newer data, so it takes over.
        promoted, reason = True, (f"same configuration retrained on newer data; challenger "
                                  f"{challenger_score:.4f} >= champion {champion_score:.4f}")
    elif champion_score is None or challenger_score > champion_score:
        promoted, reason = True, (f"challenger {challenger_score:.4f} beats champion "
                                  f"{champion_score if champion_score is not None else 'n/a'}")
    else:
        promoted, reason = False, (f"challenger {challenger_score:.4f} does not beat champion "
                                   f"{champion_score:.4f}")
    if promoted:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, version)
    client.set_model_version_tag(name, version, "brain.promotion", reason)
    log.info("%s version %s: %s", name, version, reason)
    return Promotion(version=str(version), promoted=promoted,
                     challenger_score=challenger_score, champion_version=champion_version,
                     champion_score=champion_score, reason=reason)


def load_registered(uri: str) -> Any:
    """The P300Model of a registered version (``models:/name/3`` or ``models:/name@champion``)."""
    import mlflow

    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model
