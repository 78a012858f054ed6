"""``brain train``: fit a model and register it in MLflow."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        local: bool = typer.Option(
            True, "--local/--feature-store",
            help="Train on freshly simulated subjects (the feature-store job comes with "
                 "the orchestration)."),
        tracking_uri: str = typer.Option(
            ..., "--tracking-uri", envvar="MLFLOW_TRACKING_URI",
            help="MLflow tracking server, e.g. http://127.0.0.1:5000."),
        subjects: int = typer.Option(12, min=2, help="Simulated training subjects."),
        eval_subjects: int = typer.Option(6, min=2, help="Simulated evaluation subjects."),
        preset: str = typer.Option("easy", help="Simulation preset: easy, realistic, hard."),
        repetitions: int = typer.Option(10, min=1, help="Showings of each item."),
        start_year: int = typer.Option(1980, help="First year shown."),
        end_year: int = typer.Option(1999, help="Last year shown."),
        estimator: str = typer.Option("lda", help="lda, xdawn_ts or baseline."),
        name: str = typer.Option("brain-p300", help="Registered model name."),
        seed: int = typer.Option(0, help="Seed of the simulation and the model."),
        force_champion: bool = typer.Option(
            False, help="Make this version champion even if it scores lower."),
    ) -> None:
        """Train a P300 model, register it in MLflow and promote it if it beats the champion.

        The new version becomes champion (the alias the inference service serves) only
        when its single-epoch AUC on a set of evaluation subjects beats the current
        champion's AUC on the same subjects.

        Example: brain train --local --tracking-uri http://127.0.0.1:5000 --subjects 12
        """
        if not local:
            raise typer.BadParameter("only --local is available so far", param_hint="--local")
        from brain_model.training import train_local

        result = train_local(tracking_uri, n_subjects=subjects, n_eval_subjects=eval_subjects,
                             preset=preset, repetitions=repetitions,
                             years=(start_year, end_year), estimator=estimator, name=name,
                             seed=seed, force_champion=force_champion)
        typer.echo(json.dumps(result.as_dict(), indent=2))
