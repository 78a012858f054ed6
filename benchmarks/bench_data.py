"""Data versioning: spool -> raw DVC repository latency, and a transformer-pipeline run.

1. Ingest latency of one recording, from the receiver's atomic rename into the spool to
   the spool file's removal (which happens only after ``dvc push`` succeeded), measured
   against a running ``python -m brain_data`` (local-folder DVC remote), one arrival at a
   time, after a warm-up arrival. The recording is a full Crown day phase (8 channels,
   256 Hz, 31 items x 10 repetitions, ~160 s, 1.3 MB encoded).
2. ``run_pipeline`` over 20 simulated sessions (day, month and year phases, 10
   repetitions, years 1990-1999: 60 recordings, 10,600 epochs) with the real transform
   service over HTTP, then the same run again (nothing new: no commit).

Run from the repository root::

    python benchmarks/bench_data.py [--arrivals 10] [--sessions 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from brain_core.codec import encode_recording
from brain_core.testing import free_port
from brain_data.config import Settings
from brain_data.features import init_feature_repo
from brain_data.raw import committed_recordings, ingest_once, init_raw_repo
from brain_data.tests.helpers import serving
from brain_receiver.spool import atomic_write
from brain_sim.simulate import make_subject, simulate_session
from brain_transformer_pipeline.config import Settings as PipelineSettings
from brain_transformer_pipeline.pipeline import run_pipeline

YEARS = (1990, 1999)


def _settings(root: Path) -> Settings:
    _label_key(root / "label_key")
    return Settings(spool_dir=root / "spool", raw_repo=root / "raw",
                    feature_repo=root / "features", raw_remote=str(root / "remote" / "raw"),
                    feature_remote=str(root / "remote" / "features"), settle_s=0.0,
                    rescan_interval_s=5.0)


def _label_key(path: Path) -> None:
    """Labels are encrypted at rest: a key for this run, inherited by child processes."""
    from brain_data.label_keys import create_key_file

    if not path.exists():
        create_key_file(path)
    os.environ["BRAIN_LABEL_KEY_FILE"] = str(path)


def _session(index: int, repetitions: int = 10):
    subject = make_subject(f"B{index:03d}", preset="realistic", seed=index, years=YEARS)
    return simulate_session(subject, preset="realistic", repetitions=repetitions, years=YEARS,
                            seed=index)


def bench_ingest(root: Path, arrivals: int) -> dict[str, float]:
    settings = _settings(root)
    init_raw_repo(settings.raw_repo, settings.raw_remote)
    init_feature_repo(settings.feature_repo, settings.feature_remote)
    days = [_session(1000 + i, repetitions=10)[0][0] for i in range(arrivals + 1)]
    env = {**os.environ, "BRAIN_DATA_SPOOL_DIR": str(settings.spool_dir),
           "BRAIN_DATA_RAW_REPO": str(settings.raw_repo),
           "BRAIN_DATA_FEATURE_REPO": str(settings.feature_repo),
           "BRAIN_DATA_SETTLE_S": "0", "BRAIN_DATA_RESCAN_INTERVAL_S": "5"}
    latencies = []
    with open(root / "brain_data.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "brain_data"], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            for i, recording in enumerate(days):
                path = settings.incoming / f"{recording.session_id}_day.brainrec"
                payload = encode_recording(recording)
                start = time.perf_counter()
                atomic_write(path, payload)
                while path.exists():
                    if proc.poll() is not None:
                        raise RuntimeError((root / "brain_data.log").read_text()[-2000:])
                    time.sleep(0.005)
                if i > 0:  # the first one pays for importing MNE and DVC
                    latencies.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    assert len(committed_recordings(settings.raw_repo)) == len(days)
    return {"n": len(latencies), "bytes": len(payload),
            "median_s": statistics.median(latencies), "max_s": max(latencies),
            "min_s": min(latencies)}


def bench_pipeline(root: Path, n_sessions: int) -> dict[str, float]:
    settings = _settings(root)
    init_raw_repo(settings.raw_repo, settings.raw_remote)
    init_feature_repo(settings.feature_repo, settings.feature_remote)
    for i in range(n_sessions):
        recordings, label = _session(i)
        for recording in recordings:
            atomic_write(settings.incoming / f"{recording.session_id}_{recording.phase.value}"
                         ".brainrec", encode_recording(recording))
        atomic_write(settings.incoming / f"{label.session_id}_label.json",
                     label.model_dump_json().encode())
    start = time.perf_counter()
    reports = []
    while True:
        reports.append(ingest_once(settings))
        if reports[-1].remaining == 0:
            break
    ingest_s = time.perf_counter() - start
    n_recordings = sum(len(r.recordings) for r in reports)
    port = free_port()
    with serving([sys.executable, "-m", "brain_transform_service"],
                 f"http://127.0.0.1:{port}", root / "transform.log",
                 env={"BRAIN_TRANSFORM_PORT": str(port)}) as url:
        pipeline = PipelineSettings(raw_repo=settings.raw_repo,
                                    feature_repo=settings.feature_repo, transform_url=url)
        start = time.perf_counter()
        first = run_pipeline(pipeline)
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        second = run_pipeline(pipeline)
        second_s = time.perf_counter() - start
    assert len(first.transformed) == n_recordings and not second.commits
    return {"sessions": n_sessions, "recordings": n_recordings, "epochs": first.epochs,
            "ingest_s": ingest_s, "first_s": first_s, "second_s": second_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arrivals", type=int, default=10)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        ingest = bench_ingest(Path(tmp) / "ingest", args.arrivals)
        pipeline = bench_pipeline(Path(tmp) / "pipeline", args.sessions)
    print("| measure | value |")
    print("|---|---|")
    print(f"| ingest of one day phase ({ingest['bytes'] / 1e6:.1f} MB), spool -> pushed, "
          f"median of {ingest['n']} | {ingest['median_s']:.2f} s (min {ingest['min_s']:.2f}, "
          f"max {ingest['max_s']:.2f}) |")
    print(f"| ingest of {pipeline['recordings']} recordings ({pipeline['sessions']} sessions) "
          f"in batches, in-process | {pipeline['ingest_s']:.1f} s |")
    print(f"| pipeline run over {pipeline['sessions']} sessions ({pipeline['recordings']} "
          f"recordings, {pipeline['epochs']} epochs), transform over HTTP, commit + push | "
          f"{pipeline['first_s']:.1f} s |")
    print(f"| the same run again, nothing new (no commit) | {pipeline['second_s']:.2f} s |")


if __name__ == "__main__":
    main()
