"""``brain evaluate``: leave-subject-out evaluation of a P300 model on labelled BIDS data.

Registered in the ``brain`` command line through the ``brain.commands`` entry point
(``brain_model.cli:register``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer

EVALUATE_HELP = (
    "Evaluate a P300 model on a labelled BIDS dataset, holding out whole subjects.\n\n"
    "Prints single-epoch AUC, top-1 accuracy per phase and for the whole birthdate (with "
    "chance levels and 95 % intervals), how often phases are called with confidence and "
    "how often those calls are wrong, and a shuffled-label control that must sit at "
    "chance. Birthdates themselves are never printed.\n\n"
    "Example: brain evaluate data/sim --estimator xdawn_ts --json eval.json --plots plots/"
)


def _write_json_atomic(path: Path, payload: dict) -> None:
    """Write, fsync and rename: a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, allow_nan=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(value: float | None, pct: bool = True) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    if pct and 0 < value < 0.001:
        return f"1 in {round(1 / value):,}"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def render(result) -> None:
    """Print an :class:`~brain_model.evaluate.EvaluationResult` as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"P300 model '{result.estimator}' - {result.cv} over "
                        f"{result.n_subjects} subjects ({result.n_innocent} innocent)")
    table.add_column("target")
    table.add_column("top-1", justify="right")
    table.add_column("95 % interval", justify="right")
    table.add_column("chance", justify="right")
    table.add_column("n", justify="right")
    table.add_column("confident", justify="right")
    table.add_column("wrong when confident", justify="right")
    for target in ("day", "month", "year", "birthdate"):
        low, high = result.top1_ci[target]
        called = result.confident_by_phase.get(target, {})
        table.add_row(target, _fmt(result.top1[target]), f"{low:.0%}-{high:.0%}",
                      _fmt(result.chance[target]), str(result.n_scored[target]),
                      _fmt(called.get("confident_rate")),
                      f"{called.get('confident_wrong', 0)}/{called.get('confident', 0)}")
    console.print(table)
    summary = Table(show_header=False, title="calibration and controls")
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    summary.add_row("single-epoch AUC (pooled out-of-fold)", _fmt(result.auc, pct=False))
    summary.add_row("confident_rate (phases called)", _fmt(result.confident_rate))
    summary.add_row("confident_wrong_rate (target <= 5 %)",
                    _fmt(result.confident_wrong_rate))
    summary.add_row("innocent_fpr (target <= 5 %)", _fmt(result.innocent_fpr))
    summary.add_row("shuffled-label AUC (must be ~0.5)", _fmt(result.shuffled_auc, pct=False))
    summary.add_row("wall time", f"{result.wall_time_s:.0f} s")
    console.print(summary)


def _transform_config(text: str | None):
    """A TransformConfig from JSON; None for the defaults."""
    if text is None:
        return None
    from pydantic import ValidationError

    from brain_core.errors import InvalidInputError
    from brain_transform_service.transform import TransformConfig

    try:
        return TransformConfig.model_validate(json.loads(text))
    except (ValueError, ValidationError) as err:
        raise InvalidInputError(
            f"Invalid value for the '--transform-config' option: expected TransformConfig "
            f"fields as a JSON object, got {text!r} ({err}).",
            field="transform_config") from err


def register(app: typer.Typer) -> None:
    """Add ``brain evaluate`` to the ``brain`` application."""

    @app.command("evaluate", help=EVALUATE_HELP)
    def evaluate_command(
        bids_root: Path = typer.Argument(..., help="Labelled BIDS dataset (participants.tsv "
                                         "with a 'birthdate' column).",
                                         exists=True, file_okay=False, dir_okay=True),
        estimator: str = typer.Option("lda", "--estimator", "-e",
                                      help="lda, xdawn_ts or baseline."),
        json_path: Path | None = typer.Option(None, "--json",
                                              help="Write the metrics as JSON here."),
        plots: Path | None = typer.Option(None, "--plots",
                                          help="Write PNG figures into this folder."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed: same data, same result."),
        n_splits: int | None = typer.Option(None, "--n-splits", min=2,
                                            help="Outer folds (default: leave-one-subject-"
                                                 "out up to 10 subjects, else 10)."),
        transform: str | None = typer.Option(
            None, "--transform-config",
            help='Transform settings as JSON, e.g. \'{"reference": null}\' to keep the '
                 "recording's reference (fields not given keep their defaults)."),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="Progress bars on stderr."),
    ) -> None:
        from brain_model.estimators import estimator_spec
        from brain_model.evaluate import evaluate, write_plots

        estimator_spec(estimator)  # a clear error before any data is read
        config = _transform_config(transform)
        result = evaluate(bids_root, estimator, seed=seed, n_splits=n_splits,
                          progress=progress, transform_config=config)
        render(result)
        if json_path is not None:
            _write_json_atomic(json_path, result.to_dict())
            typer.echo(f"metrics written to {json_path}")
        if plots is not None:
            for path in write_plots(result, plots):
                typer.echo(f"plot written to {path}")
