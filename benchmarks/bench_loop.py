"""The ML loop: a new labelled session committed -> the new champion served.

30 simulated subjects go through the receiver and brain_data; brain_etl and brain_train
run (``dag.test()``) and inference serves the first champion. Then one more labelled
session arrives: the clock starts when brain_data has committed it and stops when
inference serves the model trained with it (or, when that model does not beat the
champion, when the training run has decided so). The original system waited for an
hourly schedule and then a nightly restart of inference.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console

from brain_core.models import PHASES
from brain_core.upload import ReceiverClient
from brain_demo.fleet import Fleet
from brain_demo.run import run_dags, upload_simulated_subjects, wait_for_ingest, wait_for_version
from brain_sim.simulate import make_subject, simulate_session

N_SUBJECTS = 30
YEARS = (1980, 1999)


def main() -> None:
    from mlflow import MlflowClient

    console = Console(stderr=True)
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(Path(tmp) / "fleet")
        fleet.start()
        try:
            registry = MlflowClient(tracking_uri=fleet.url("mlflow"),
                                    registry_uri=fleet.url("mlflow"))
            with ReceiverClient(fleet.url("receiver"), fleet.collector,
                                fleet.password) as client:
                upload_simulated_subjects(client, N_SUBJECTS, preset="easy", repetitions=10,
                                          years=YEARS, seed=0, console=console)
                wait_for_ingest(fleet, N_SUBJECTS * len(PHASES), console)
                run_dags(fleet, console, n_trials=1, n_splits=5, estimators=("lda",))
                first = registry.get_model_version_by_alias("brain-p300", "champion")
                wait_for_version(fleet.url("inference"), str(first.version))
                person = make_subject("S31", preset="easy", seed=31, years=YEARS)
                recordings, label = simulate_session(person, preset="easy", repetitions=10,
                                                     years=YEARS, seed=31)
                for recording in recordings:
                    client.upload_phase(recording)
                client.upload_label(label.session_id, label.subject, label.birthdate)
                wait_for_ingest(fleet, (N_SUBJECTS + 1) * len(PHASES), console)
                committed = time.monotonic()
                runs = run_dags(fleet, console, n_trials=1, n_splits=5, estimators=("lda",))
                trained = time.monotonic()
                newest = max(int(v.version) for v in
                             registry.search_model_versions("name='brain-p300'"))
                champion = registry.get_model_version_by_alias("brain-p300", "champion")
                promoted = int(champion.version) == newest
                if promoted:
                    wait_for_version(fleet.url("inference"), str(newest))
                served = time.monotonic()
                decision = registry.get_model_version("brain-p300", str(newest)).tags.get(
                    "brain.promotion", "")
        finally:
            fleet.stop()
    print("| step | seconds |")
    print("|---|---|")
    print(f"| brain_etl + brain_train after the commit (dag.test) | {trained - committed:.0f} |")
    print(f"| until inference serves it (poll interval 2 s) | {served - trained:.0f} |")
    print(f"| total: session committed -> {'new champion served' if promoted else 'decision'}"
          f" | {served - committed:.0f} |")
    print(f"\nversion {newest}: {decision}; tasks {runs}")


if __name__ == "__main__":
    main()
