"""Keeps the registry's champion loaded, and swaps in a new one without a restart.

A poller thread asks MLflow which version carries the alias every ``poll_interval_s``.
A new version is loaded in the background and then swapped in with one reference
assignment, so a request in flight finishes on the model it started with. A version
that fails to load leaves the old one serving; `/health` says so.

MLflow going away changes nothing for predictions: the loaded champion keeps serving,
``/health`` turns ``degraded`` with ``dependencies.mlflow = "unreachable"``, and the next
successful poll clears it. A load cut short by such an outage is retried at the next
poll; only a version that fails to load while MLflow answers is skipped until the next
promotion.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    """A served model and where it came from."""

    model: Any  # brain_model.model.P300Model
    name: str
    version: str
    run_id: str | None
    loaded_at: str


class ChampionHolder:
    """The current champion plus the state of the last registry poll."""

    def __init__(self, tracking_uri: str, name: str, alias: str, poll_interval_s: float) -> None:
        self.tracking_uri, self.name, self.alias = tracking_uri, name, alias
        self.poll_interval_s = poll_interval_s
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self.failed_version: str | None = None
        self.last_poll: str | None = None
        self.mlflow_state = "unknown"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: Any = None

    def _registry(self) -> Any:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=self.tracking_uri)
        return self._client

    def poll_once(self) -> None:
        """Ask the registry for the alias; load and swap in a version that is new."""
        try:
            version = self._registry().get_model_version_by_alias(self.name, self.alias)
        except Exception as err:  # MLflow down, or no such model/alias yet
            self.mlflow_state = mlflow_state(err)
            self.last_error = f"registry: {_short(err)}"
            log.warning("could not read %s@%s (MLflow %s): %s", self.name, self.alias,
                        self.mlflow_state, _short(err))
            return
        finally:
            self.last_poll = datetime.now(UTC).isoformat()
        self.mlflow_state = "ok"
        if self.current is not None and self.current.version == version.version:
            self.last_error = None
            return
        if version.version == self.failed_version:
            return  # already failed; wait for the next promotion
        try:
            model = load_p300_model(self.tracking_uri, f"models:/{self.name}/{version.version}")
        except Exception as err:
            self._load_failed(version.version, err)
            return
        self.current = LoadedModel(model=model, name=self.name, version=str(version.version),
                                   run_id=version.run_id,
                                   loaded_at=datetime.now(UTC).isoformat())
        self.failed_version, self.last_error = None, None
        log.info("now serving %s version %s", self.name, version.version)

    def _load_failed(self, version: str, err: Exception) -> None:
        """Skip ``version`` from now on, unless MLflow itself went away meanwhile."""
        try:
            self._registry().get_model_version_by_alias(self.name, self.alias)
        except Exception as probe:
            self.mlflow_state = mlflow_state(probe)
        if self.mlflow_state == "ok":
            self.failed_version = version
            self.last_error = f"version {version} failed to load: {_short(err)}"
        else:  # an outage, not a broken model: the next poll tries again
            self.last_error = (f"version {version} could not be loaded, MLflow is "
                               f"{self.mlflow_state}: {_short(err)}")
        log.error("keeping version %s: %s", self.current and self.current.version,
                  self.last_error)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="champion-poller", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.poll_once()
            self._stop.wait(max(0.0, self.poll_interval_s - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def health(self) -> dict[str, Any]:
        current = self.current
        if current is None:
            state = "no_model"
        elif self.last_error:
            state = "degraded"
        else:
            state = "ok"
        return {
            "status": state,
            "model": None if current is None else {
                "name": current.name, "version": current.version, "run_id": current.run_id,
                "loaded_at": current.loaded_at},
            "dependencies": {"mlflow": self.mlflow_state},
            "last_error": self.last_error,
            "last_poll": self.last_poll,
            "poll_interval_s": self.poll_interval_s,
        }


def load_p300_model(tracking_uri: str, uri: str) -> Any:
    """Load a registered BRAIN model and return the P300Model inside its pyfunc wrapper."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return mlflow.pyfunc.load_model(uri).unwrap_python_model().model


def mlflow_state(err: Exception) -> str:
    """``ok`` when MLflow answered (with an error such as "no such alias"), ``error`` when it
    failed on its side, ``unreachable`` when it could not be asked at all."""
    from mlflow.exceptions import RestException

    if isinstance(err, RestException):
        return "error" if err.get_http_status_code() >= 500 else "ok"
    return "unreachable"


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:300]
