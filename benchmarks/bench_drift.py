"""Drift monitoring: latency of one session's check, false-alarm and detection rates.

Sessions are simulated month phases (3 repetitions, ~20 s of 8-channel EEG at 256 Hz) of
the ``realistic`` preset: 100 reference sessions, 80 fresh sessions from the same
distribution (other subjects), 25 sessions per drift kind (see brain_drift.scenarios).
Checks replay the service (brain_drift.monitor.replay): one check after every session, on
the last 20 sessions, default rule (KS per feature at 0.02 / 62, drift from one feature,
0.2 / 62 keeps an open episode open).

Latency of one session = its features (per recording) + one check. The service runs the
detailed check (Evidently's per-feature report, saved as HTML and JSON); the
dataset-level verdict alone is the same decision at a fraction of the cost.

Run from the repository root::

    python benchmarks/bench_drift.py          # about 3-5 minutes
    python benchmarks/bench_drift.py --quick  # fewer sessions, rough numbers
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from brain_drift.evidently_report import DriftRule, check_drift, warm_up  # noqa: E402
from brain_drift.features import feature_columns, recording_features, session_table  # noqa: E402
from brain_drift.monitor import replay  # noqa: E402
from brain_drift.scenarios import DRIFT_KINDS, simulate_sessions  # noqa: E402
from brain_drift.storage import ReportStore  # noqa: E402

WINDOW = 20
MIN_SESSIONS = 10


def _median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall-clock and CPU milliseconds of ``fn()`` over ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return 1e3 * float(np.median(wall)), 1e3 * float(np.median(cpu))


def latency(reference: pd.DataFrame, fresh: pd.DataFrame, repeats: int) -> None:
    (month,) = simulate_sessions(1, seed=7)
    (day,) = simulate_sessions(1, seed=7, phases=("day",), repetitions=10)
    window = fresh.iloc[:WINDOW]
    columns = feature_columns(reference)
    store = ReportStore(Path(tempfile.mkdtemp()) / "reports", keep=3)

    def detailed() -> None:
        result = check_drift(reference, window, DriftRule(), columns=columns)
        store.save(result.to_dict(), result.html(), result.created)

    rows = [
        (f"features of a month phase ({month.duration_s:.0f} s, 3 repetitions)",
         _median_ms(lambda: recording_features(month), repeats)),
        (f"features of a day phase ({day.duration_s:.0f} s, 10 repetitions)",
         _median_ms(lambda: recording_features(day), repeats)),
        (f"check, dataset-level verdict ({WINDOW} vs {len(reference)} sessions, "
         f"{len(columns)} features)",
         _median_ms(lambda: check_drift(reference, window, DriftRule(), columns=columns,
                                        detailed=False), repeats)),
        ("check, detailed report + saving HTML and JSON (what the service does)",
         _median_ms(detailed, max(2, repeats // 3))),
    ]
    print("| step | wall median (ms) | CPU median (ms) |")
    print("|---|---|---|")
    for label, (wall, cpu) in rows:
        print(f"| {label} | {wall:,.0f} | {cpu:,.0f} |")
    per_session = rows[0][1][0] + rows[3][1][0]
    print(f"\nLatency of one session in the service (month phase features + detailed check): "
          f"{per_session:,.0f} ms wall.\n")


def rates(reference: pd.DataFrame, fresh: pd.DataFrame, drifted: dict[str, pd.DataFrame]
          ) -> None:
    print("| sessions | checks | alarms (entry rule) | time drifting | alerts "
          "| first alarm after | windows of drifted sessions flagged | verdict ms (median) |")
    print("|---|---|---|---|---|---|---|---|")
    steps = replay(reference, fresh, window_size=WINDOW, min_sessions=MIN_SESSIONS)
    _row(f"fresh ({len(fresh)})", steps, None)
    for kind, table in drifted.items():
        stream = pd.concat([fresh.iloc[-WINDOW:], table], ignore_index=True)
        steps = replay(reference, stream, window_size=WINDOW, start=WINDOW + 1)
        _row(f"{kind} ({len(table)})", steps, WINDOW)


def _row(label: str, steps, window: int | None) -> None:
    alarms = sum(s.alarm for s in steps)
    drifting = sum(s.drifting for s in steps) / len(steps)
    states = [s.drifting for s in steps]
    alerts = sum(1 for a, b in zip([False, *states], states, strict=False) if b and not a)
    first = next((i + 1 for i, s in enumerate(steps) if s.alarm), None)
    if window is None:
        first_text, full_text = "-", "-"
    else:
        full = [s.alarm for s in steps[window - 1:]]
        first_text = f"{first} sessions" if first else "never"
        full_text = f"{sum(full)}/{len(full)} = {sum(full) / len(full):.0%}"
    verdict_ms = 1e3 * float(np.median([s.duration_s for s in steps]))
    print(f"| {label} | {len(steps)} | {alarms} = {alarms / len(steps):.1%} | {drifting:.0%} "
          f"| {alerts} | {first_text} | {full_text} | {verdict_ms:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sessions and repeats")
    args = parser.parse_args(argv)
    n_reference, n_fresh, n_drifted, repeats = (50, 40, 25, 3) if args.quick else \
        (100, 80, 25, 9)
    started = time.perf_counter()
    warm_up()
    reference = session_table(simulate_sessions(n_reference, seed=101))
    fresh = session_table(simulate_sessions(n_fresh, seed=202))
    drifted = {kind: session_table(simulate_sessions(n_drifted, drift=kind, seed=303 + i))
               for i, kind in enumerate(k for k in DRIFT_KINDS if k != "none")}
    print(f"Drift monitoring on one core ({platform.machine()}, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}); "
          f"{n_reference} reference sessions, window {WINDOW}, min {MIN_SESSIONS} sessions; "
          f"simulation and features took {time.perf_counter() - started:.0f} s.\n")
    latency(reference, fresh, repeats)
    rates(reference, fresh, drifted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
