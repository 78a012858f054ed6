"""``brain pipeline run``: bring the feature store up to date with the raw repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

PIPELINE_HELP = """\
The transformer pipeline: raw recordings -> transform service -> feature store.

Settings come from BRAIN_PIPELINE_* environment variables; options override them.
"""

RUN_HELP = """\
Transform the recordings the feature store does not have yet and commit the features.

Reads the raw repository (in place, or a clone of --raw-git-url), sends new or changed
recordings to the transform service, writes one Parquet file per recording (one row per
epoch; schema in brain_transformer_pipeline/SCHEMA.md), fills in targets for labels that
arrived since, and commits and pushes the feature store. With nothing new it changes
nothing. Needs the transform service running (`python -m brain_transform_service`).

Example:

  brain pipeline run --transform-url http://127.0.0.1:8001
"""


def _opt(env: str, what: str, default: str | None = None) -> Any:
    """An option that overrides the ``BRAIN_PIPELINE_<env>`` setting."""
    shown = f"; default {default}" if default else ""
    return typer.Option(None, help=f"{what} (env BRAIN_PIPELINE_{env}{shown}).",
                        show_default=False)


_RAW_REPO = _opt("RAW_REPO", "Raw repository, read in place", "var/data/raw")
_RAW_GIT_URL = _opt("RAW_GIT_URL", "Clone the raw repository from this git URL instead")
_FEATURE_REPO = _opt("FEATURE_REPO", "Feature store", "var/data/features")
_TRANSFORM_URL = _opt("TRANSFORM_URL", "Transform service URL", "http://127.0.0.1:8001")
_BATCH_SIZE = _opt("BATCH_SIZE", "Recordings per transform request", "8")


def register(app: typer.Typer) -> None:
    """Add ``brain pipeline ...`` to the ``brain`` application."""
    from brain_data.cli import _help

    pipeline = typer.Typer(help=_help(PIPELINE_HELP), no_args_is_help=True)

    @pipeline.command("run", help=_help(RUN_HELP))
    def run(
        raw_repo: Path = _RAW_REPO,
        raw_git_url: str = _RAW_GIT_URL,
        feature_repo: Path = _FEATURE_REPO,
        transform_url: str = _TRANSFORM_URL,
        batch_size: int = _BATCH_SIZE,
        json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="Show a progress bar."),
    ) -> None:
        from brain_transformer_pipeline.config import Settings
        from brain_transformer_pipeline.pipeline import run_pipeline

        overrides = {"raw_repo": raw_repo, "raw_git_url": raw_git_url,
                     "feature_repo": feature_repo, "transform_url": transform_url,
                     "batch_size": batch_size}
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        report = run_pipeline(settings, progress=progress and not json_output)
        if json_output:
            typer.echo(json.dumps(report.to_dict(), indent=2))
            return
        typer.echo(f"{len(report.transformed)} recording(s) transformed ({report.epochs} "
                   f"epochs), {len(report.relabelled)} relabelled, {len(report.failed)} "
                   f"refused by the transform, in {report.seconds:.1f} s.")
        for key, reason in report.failed:
            typer.echo(f"  refused {key}: {reason}")
        if report.commits:
            typer.echo(f"Feature store committed: {', '.join(c[:12] for c in report.commits)}")
        else:
            typer.echo("Nothing new: the feature store is unchanged.")

    app.add_typer(pipeline, name="pipeline")
