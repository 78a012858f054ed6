"""``brain drift reference`` and ``brain drift check``: drift on the command line."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from brain_core.errors import InvalidInputError
from brain_core.models import PHASES

REFERENCE_HELP = """\
Build the drift reference from the champion's training sessions.

One row per session: band powers per channel, line noise, amplitude
distribution, artifact rate, evoked-response size. From a BIDS dataset
(--from-bids), or from --simulate N simulated sessions of a preset.
Written as Parquet or CSV (by the suffix of --out; default
reference.parquet in BRAIN_DRIFT_REPORTS_DIR, where the drift service
reads it, and re-reads it when it changes). Rebuild it whenever the
champion changes.

Examples:

  brain drift reference --from-bids data/bids

  brain drift reference --simulate 100 --out var/drift/reference.csv
"""

CHECK_HELP = """\
Compare sessions with the drift reference, as the drift service does.

A Kolmogorov-Smirnov test per feature at family-alpha / n-features;
drift when at least --min-drifted features drift. Prints the verdict
and the features (most significant first), and writes Evidently's HTML
report and a JSON summary to --out.

--current takes features tables (.parquet, .csv), BIDS datasets,
folders of recordings, or recording files (*.brainrec, EDF/BDF,
BrainVision, FIF); give it several times. Exit code 1 when drift is
found, 0 otherwise.

Example:

  brain drift check -r var/drift/reference.parquet -c data/new_sessions
"""

_RECORDING_SUFFIXES = (".brainrec", ".edf", ".bdf", ".vhdr", ".fif")


class PresetName(StrEnum):
    easy = "easy"
    realistic = "realistic"
    hard = "hard"


def register(app: typer.Typer) -> None:
    """Add ``brain drift ...`` to the ``brain`` application."""
    drift = typer.Typer(help="Drift monitoring: the reference, and checks of new sessions.",
                        no_args_is_help=True)
    drift.command("reference", help=REFERENCE_HELP)(reference)
    drift.command("check", help=CHECK_HELP)(check)
    app.add_typer(drift, name="drift")


def _default_reference_path() -> Path:
    from brain_drift.config import Settings

    settings = Settings()  # type: ignore[call-arg]
    return settings.reference_path or settings.reports_dir / "reference.parquet"


def _default_reports_dir() -> Path:
    from brain_drift.config import Settings

    return Settings().reports_dir / "reports"  # type: ignore[call-arg]


def reference(
    from_bids: Path = typer.Option(None, "--from-bids", help="BIDS dataset of the champion's "
                                   "training sessions.", show_default=False),
    simulate: int = typer.Option(None, "--simulate", min=1, max=100_000,
                                 help="Simulate this many sessions instead.",
                                 show_default=False),
    preset: PresetName = typer.Option(PresetName.realistic, help="Preset of --simulate."),
    seed: int = typer.Option(0, min=0, help="Seed of --simulate."),
    phases: list[str] = typer.Option(list(PHASES), "--phase",
                                     help="Phases of each simulated session (repeatable)."),
    repetitions: int = typer.Option(10, min=1, max=200,
                                    help="Showings of each item in simulated sessions."),
    out: Path = typer.Option(None, "--out", "-o", help="Table to write (.parquet or .csv); "
                             "default: BRAIN_DRIFT_REFERENCE_PATH, else reference.parquet in "
                             "BRAIN_DRIFT_REPORTS_DIR.", show_default=False),
) -> None:
    from brain_drift import reference as ref

    if (from_bids is None) == (simulate is None):
        raise InvalidInputError("Give either --from-bids DIR or --simulate N.",
                                field="from_bids")
    out = out or _default_reference_path()
    if from_bids is not None:
        from brain_core.importers import is_bids_root

        if not is_bids_root(from_bids):
            raise InvalidInputError(
                f"Invalid value for --from-bids: {from_bids} is not a BIDS dataset (no "
                "dataset_description.json or sub-* folders).", field="from_bids")
        table = ref.reference_from_recordings(ref.recordings_from([from_bids]), progress=True)
    else:
        for phase in phases:
            if phase not in PHASES:
                raise InvalidInputError(
                    f"Invalid value for --phase: allowed values are {', '.join(PHASES)}, got "
                    f"{phase!r}.", field="phase")
        table = ref.simulated_reference(simulate, preset=preset.value, seed=seed,
                                        phases=phases, repetitions=repetitions, progress=True)
    path = ref.save_reference(table, out)
    n_features = len([c for c in table.columns if c not in ("session_id", "subject",
                                                              "n_recordings")])
    typer.echo(f"Reference of {len(table)} session(s), {n_features} features, written to "
               f"{path}.")


def _current_table(sources: list[Path]):
    import pandas as pd

    from brain_drift.features import session_table
    from brain_drift.reference import recordings_from
    from brain_drift.storage import TABLE_SUFFIXES, load_table

    tables, recording_paths = [], []
    for source in sources:
        if source.is_file() and source.suffix.lower() in TABLE_SUFFIXES:
            tables.append(load_table(source))
            continue
        if source.is_dir():
            from brain_core.importers import is_bids_root, is_legacy

            if not is_bids_root(source) and not is_legacy(source):
                found = sorted(p for p in source.iterdir()
                               if p.suffix.lower() in _RECORDING_SUFFIXES)
                if not found:
                    raise InvalidInputError(
                        f"Invalid value for --current: {source} holds no BIDS dataset, "
                        f"legacy session or recording file ({', '.join(_RECORDING_SUFFIXES)}).",
                        field="current")
                recording_paths.extend(found)
                continue
        recording_paths.append(source)
    if recording_paths:
        tables.append(session_table(recordings_from(recording_paths), progress=True))
    return pd.concat(tables, ignore_index=True)


def check(
    reference: Path = typer.Option(..., "--reference", "-r", help="Reference table "
                                   "(.parquet or .csv).", show_default=False),
    current: list[Path] = typer.Option(..., "--current", "-c", help="Sessions to check "
                                       "(repeatable; see above).", show_default=False),
    out: Path = typer.Option(None, "--out", "-o", help="Folder of the reports; default: "
                             "reports/ in BRAIN_DRIFT_REPORTS_DIR.", show_default=False),
    family_alpha: float = typer.Option(0.02, min=1e-9, max=0.5,
                                       help="Chance that a check alarms when nothing "
                                       "changed (upper bound)."),
    min_drifted: int = typer.Option(1, min=1, help="Drifted features that make drift."),
    show_all: bool = typer.Option(False, "--all", help="List every feature, not only the "
                                  "25 most significant."),
    as_json: bool = typer.Option(False, "--json", help="Print the JSON summary instead."),
) -> None:
    from brain_drift.evidently_report import DriftRule, check_drift
    from brain_drift.features import feature_columns
    from brain_drift.reference import load_reference
    from brain_drift.storage import ReportStore

    table = load_reference(reference)
    current_table = _current_table(current)
    if current_table.empty:
        raise InvalidInputError("Invalid value for --current: no session found.",
                                field="current")
    rule = DriftRule(family_alpha, min_drifted, recovery_alpha=max(0.2, family_alpha))
    result = check_drift(table, current_table, rule,
                         columns=feature_columns(table))
    summary = result.to_dict()
    summary["reference"] = {"path": str(reference), "sessions": len(table)}
    html_path, json_path = ReportStore(out or _default_reports_dir()).save(
        summary, result.html(), result.created)
    if as_json:
        from brain_drift.storage import json_ready

        summary.pop("evidently", None)
        typer.echo(json.dumps(json_ready(summary), indent=1))
    else:
        _print(result, show_all)
        typer.echo(f"Report: {html_path}\nSummary: {json_path}")
    if result.drift:
        raise typer.Exit(1)


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.{digits}g}"


def _print(result, show_all: bool) -> None:
    console = Console()
    verdict = "[bold red]DRIFT[/]" if result.drift else "[bold green]no drift[/]"
    console.print(f"{verdict}: {result.n_drifted} of {result.n_features} features drifted "
                  f"({result.n_current} session(s) vs {result.n_reference} reference "
                  f"session(s); KS p <= {_fmt(result.threshold)}"
                  f" per feature, drift from {result.rule.min_drifted} feature(s)).")
    rows = sorted(result.columns, key=lambda c: (not c.drifted, c.p_value if c.p_value
                                                  is not None else -1.0, c.name))
    shown = rows if show_all else rows[:25]
    table = Table(show_edge=False)
    for name, justify in (("feature", "left"), ("reference median", "right"),
                          ("current median", "right"), ("KS p-value", "right"),
                          ("drifted", "center")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for c in shown:
        table.add_row(c.name, _fmt(c.reference_median), _fmt(c.current_median),
                      _fmt(c.p_value, 2) if c.p_value is not None else c.note,
                      "[red]yes[/]" if c.drifted else "no")
    console.print(table)
    if len(rows) > len(shown):
        console.print(f"... {len(rows) - len(shown)} more (--all shows them).")
