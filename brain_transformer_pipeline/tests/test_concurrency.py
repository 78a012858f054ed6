"""Ingest and the pipeline at the same time: no lock error, and both end consistent.

`python -m brain_data` (a real process) ingests recordings that keep arriving while
pipeline runs follow each other in this process, plus a competing writer hammering the
raw repository's lock. Every run must succeed; at the end a last run leaves nothing
pending and the feature store matches the raw repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from brain_data.raw import committed_recordings, ingest_once, raw_repository
from brain_data.tests.helpers import spool_files, spool_label, spool_recording, tiny_session
from brain_transformer_pipeline.features import load_features
from brain_transformer_pipeline.pipeline import pending_recordings, run_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_pipeline_runs_while_ingest_writes(data_settings, pipeline_settings, tmp_path):
    env = {**os.environ,
           "BRAIN_DATA_SPOOL_DIR": str(data_settings.spool_dir),
           "BRAIN_DATA_RAW_REPO": str(data_settings.raw_repo),
           "BRAIN_DATA_FEATURE_REPO": str(data_settings.feature_repo),
           "BRAIN_DATA_RAW_REMOTE": str(data_settings.raw_remote),
           "BRAIN_DATA_FEATURE_REMOTE": str(data_settings.feature_remote),
           "BRAIN_DATA_SETTLE_S": "0.1", "BRAIN_DATA_BATCH_MAX_FILES": "4"}
    sessions = [tiny_session(20 + i, subject=f"S{i}") for i in range(8)]
    errors: list[BaseException] = []

    def arrivals() -> None:
        for recordings, label in sessions:
            for recording in recordings:
                spool_recording(data_settings, recording)
                time.sleep(0.15)
            spool_label(data_settings, label)

    def competing_writer() -> None:  # `brain data ingest --once` run by hand meanwhile
        try:
            for _ in range(4):
                ingest_once(data_settings)
                time.sleep(0.5)
        except BaseException as err:  # noqa: BLE001 - reported by the test
            errors.append(err)

    with open(tmp_path / "brain_data.log", "wb") as log:
        service = subprocess.Popen([sys.executable, "-m", "brain_data"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            threads = [threading.Thread(target=arrivals), threading.Thread(
                target=competing_writer)]
            for thread in threads:
                thread.start()
            runs = []
            while threads[0].is_alive() or len(runs) < 3:
                runs.append(run_pipeline(pipeline_settings))  # must never raise
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + 120
            repo = raw_repository(data_settings.raw_repo)
            while spool_files(data_settings) or repo.pushed_revision() != repo.head():
                assert service.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        finally:
            service.terminate()
            service.wait(timeout=60)
    assert errors == []
    assert sum(len(r.transformed) for r in runs) > 0  # some ran while ingest was at work
    final = run_pipeline(pipeline_settings)
    assert pending_recordings(pipeline_settings) == []
    stored = committed_recordings(data_settings.raw_repo)
    assert len(stored) == 24
    frame = load_features(data_settings.feature_repo)
    assert frame.groupby(["session_id", "phase"]).ngroups == 24
    assert frame["target"].notna().all()  # every label arrived and was applied
    assert run_pipeline(pipeline_settings).commits == []
    log_text = (tmp_path / "brain_data.log").read_text()
    assert "Unable to acquire lock" not in log_text and '"level": "ERROR"' not in log_text
    assert final.failed == []
