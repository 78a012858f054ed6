"""Throughput of :func:`transform_recording` on one core, in x real time.

A day phase as the Crown records it: 8 channels at 256 Hz, 31 items x 10 repetitions
at a 0.5 s SOA (155 s of stimuli, plus 1 s before and 1.5 s after), white noise with a
blink every 10 s. Throughput = seconds of EEG transformed per second of compute; the
target is >= 2,000x real time. Also timed: the same phase from a 250 Hz board
(Cyton-like, exercising the 64/125 polyphase resampler).

Run from the repository root::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_transform.py

(the script sets both variables itself when they are unset, before numpy loads).
"""

from __future__ import annotations

import os

# One core: BLAS/OpenMP pools must be sized before numpy is first imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import numpy as np  # noqa: E402

from brain_core.devices import CROWN_CH_NAMES  # noqa: E402
from brain_core.models import Device, Recording  # noqa: E402
from brain_core.paradigm import make_paradigm, make_schedule  # noqa: E402
from brain_transform_service.transform import (  # noqa: E402
    TransformConfig,
    transform_recording,
)

TARGET_X_REAL_TIME = 2000.0


def day_recording(sfreq: float, seed: int = 0) -> Recording:
    """An ~157 s, 8-channel day phase at ``sfreq`` Hz (31 items x 10 repetitions)."""
    paradigm = make_paradigm("day", repetitions=10, seed=seed)
    events = make_schedule(paradigm, lead_s=1.0).events("day")
    n_times = int((events[-1].onset + 1.5) * sfreq)
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(CROWN_CH_NAMES), n_times)) * 10e-6
    t = np.arange(n_times) / sfreq
    for blink_s in np.arange(5.0, t[-1], 10.0):  # 200 µV frontal blinks
        bump = 200e-6 * np.exp(-0.5 * ((t - blink_s) / 0.08) ** 2)
        data[[2, 5]] += bump
    return Recording(
        session_id=uuid.UUID(int=seed),
        subject="bench",
        phase="day",
        sfreq=sfreq,
        ch_names=CROWN_CH_NAMES,
        data=data.astype(np.float32),
        meas_date=datetime(2026, 1, 1, tzinfo=UTC),
        events=events,
        device=Device(name="bench", board_id=None),
        paradigm=paradigm,
        software_version="bench",
    )


def measure(recording: Recording, config: TransformConfig, repeats: int) -> dict[str, float]:
    """Wall-clock and CPU seconds per call over ``repeats`` calls, after one warm-up."""
    transform_recording(recording, config)  # designs the filters once (they are cached)
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        transform_recording(recording, config)
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return {
        "duration_s": recording.duration_s,
        "wall_median_s": float(np.median(wall)),
        "wall_best_s": float(min(wall)),
        "cpu_median_s": float(np.median(cpu)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per case")
    args = parser.parse_args(argv)
    config = TransformConfig()
    print(
        f"transform_recording on one core ({platform.machine()}, Python "
        f"{platform.python_version()}, numpy {np.__version__}, OMP_NUM_THREADS="
        f"{os.environ['OMP_NUM_THREADS']}, load average {os.getloadavg()[0]:.1f}); "
        f"{args.repeats} calls per case; target >= {TARGET_X_REAL_TIME:,.0f}x real time "
        "(wall-clock median).\n"
    )
    print("| case | EEG (s) | wall median (ms) | wall best (ms) | CPU median (ms) "
          "| x real time (wall median) | x real time (CPU median) |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for label, sfreq in (("day phase, 8 ch, 256 Hz (Crown)", 256.0),
                         ("day phase, 8 ch, 250 Hz (Cyton-like)", 250.0)):
        r = measure(day_recording(sfreq), config, args.repeats)
        x_wall = r["duration_s"] / r["wall_median_s"]
        x_cpu = r["duration_s"] / r["cpu_median_s"]
        ok &= x_wall >= TARGET_X_REAL_TIME
        print(
            f"| {label} | {r['duration_s']:.1f} | {1e3 * r['wall_median_s']:.1f} "
            f"| {1e3 * r['wall_best_s']:.1f} | {1e3 * r['cpu_median_s']:.1f} "
            f"| {x_wall:,.0f}x | {x_cpu:,.0f}x |"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
