"""Leave-subject-out quality of the P300 model at each simulation preset.

For each preset (easy, realistic, hard) a labelled BIDS dataset is simulated once and
cached (default: 20 subjects, 10 repetitions, years 1990-2009 i.e. 20 year items, 10 %
innocent subjects born outside those years, seed 2026 - never the seeds the model was
developed on). It is transformed twice - with the transform service's defaults and
with the recording's own reference kept (``TRANSFORMS``) - and each estimator (lda,
xdawn_ts, baseline) is evaluated on each by
:func:`brain_model.evaluate.evaluate_dataset` - GroupKFold(10) over subjects, every
threshold and calibration fitted inside the training subjects - and the table reports
single-epoch AUC, top-1 per phase and for the whole birthdate, innocent FPR,
confident_rate, confident_wrong_rate, the shuffled-label AUC and the wall time.

Run from the repository root (progress goes to stderr, the table to stdout)::

    python benchmarks/bench_model.py [--subjects 20] [--presets easy realistic hard]

It takes several minutes on 2 cores; the datasets are kept in ``--cache``
(default ``$TMPDIR/brain-bench-model``) so a rerun only evaluates.
"""

from __future__ import annotations

import os

# One BLAS thread: the matrices are small and the machine is shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

TARGETS = ("day", "month", "year", "birthdate")

#: Transform settings compared: the transform service's defaults (common average
#: reference) and the same with the recording's own reference kept. With 8 channels
#: over the P300's own territory the average reference subtracts much of the P300.
TRANSFORMS = {"default": {}, "recording-ref": {"reference": None}}


def cached_dataset(cache: Path, preset: str, *, subjects: int, repetitions: int,
                   years: tuple[int, int], innocent: float, seed: int) -> Path:
    """The simulated BIDS root for these settings, written once (atomically renamed)."""
    from brain_sim.simulate import write_simulated_dataset

    name = (f"{preset}-n{subjects}-r{repetitions}-y{years[0]}-{years[1]}-"
            f"i{innocent:g}-s{seed}")
    root = cache / name
    if (root / "participants.tsv").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=cache))
    try:
        write_simulated_dataset(work / "bids", subjects, preset=preset, seed=seed,
                                repetitions=repetitions, years=years,
                                innocent_fraction=innocent, progress=True)
        (work / "bids").rename(root)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return root


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.0f} %"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--repetitions", type=int, default=10)
    parser.add_argument("--years", type=int, nargs=2, default=(1990, 2009))
    parser.add_argument("--innocent-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--presets", nargs="+", default=["easy", "realistic", "hard"])
    parser.add_argument("--estimators", nargs="+", default=["lda", "xdawn_ts", "baseline"])
    parser.add_argument("--transforms", nargs="+", default=list(TRANSFORMS),
                        choices=list(TRANSFORMS),
                        help="Transform settings to compare (see TRANSFORMS).")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "brain-bench-model")
    parser.add_argument("--json", type=Path, default=None,
                        help="Also write every result as JSON here.")
    args = parser.parse_args(argv)

    from brain_model.dataset import load_dataset
    from brain_model.evaluate import evaluate_dataset
    from brain_transform_service.transform import TransformConfig

    header = ("| preset | transform | estimator | AUC | top-1 day | month | year | birthdate | "
              "innocent FPR | confident | wrong when confident | shuffled AUC | wall time |")
    rows, results = [], []
    for preset in args.presets:
        root = cached_dataset(args.cache, preset, subjects=args.subjects,
                              repetitions=args.repetitions, years=tuple(args.years),
                              innocent=args.innocent_fraction, seed=args.seed)
        for transform in args.transforms:
            started = time.perf_counter()
            config = TransformConfig(**TRANSFORMS[transform])
            dataset = load_dataset(root, config=config, progress=True)
            load_s = time.perf_counter() - started
            for estimator in args.estimators:
                result = evaluate_dataset(dataset, estimator, seed=0, progress=True)
                result.preset = preset
                wrong = result.confident_wrong_rate
                rows.append(
                    f"| {preset} | {transform} | {estimator} | {result.auc:.3f} | "
                    + " | ".join(_pct(result.top1[t]) for t in TARGETS)
                    + f" | {_pct(result.innocent_fpr)} ({result.n_innocent} innocent) | "
                    f"{_pct(result.confident_rate)} | {_pct(wrong)} "
                    f"({result.n_confident} calls) | {result.shuffled_auc:.3f} | "
                    f"{result.wall_time_s:.0f} s |")
                results.append({**result.to_dict(), "transform": transform,
                                "load_s": load_s})
                print(rows[-1], file=sys.stderr, flush=True)

    machine = (f"{platform.node()}, {os.cpu_count()} cores, Python "
               f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}")
    chance = results[0]["chance"] if results else {}
    print(f"P300 model, leave-subject-out ({results[0]['cv'] if results else '?'}), "
          f"{args.subjects} simulated subjects per preset, {args.repetitions} repetitions, "
          f"years {args.years[0]}-{args.years[1]}, {args.innocent_fraction:.0%} innocent, "
          f"seed {args.seed}; {machine}.")
    if chance:
        print("Chance: " + ", ".join(f"{t} {100 * chance[t]:.2g} %" for t in TARGETS)
              + ". Wall time = evaluation plus its shuffled-label control (not the "
              "transform).\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for row in rows:
        print(row)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
