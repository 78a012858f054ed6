"""``brain data init|ingest|status``: the raw repository and the feature store."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import typer

DATA_HELP = """\
BRAIN's versioned data: the raw repository (every recording the receiver accepted, as
BIDS, plus labels kept apart) and the feature store (what the transformer pipeline
computed from it). Both are git repositories whose data DVC tracks and pushes to a
remote: a local folder by default, or S3/MinIO.

Start with `brain data init`, run `brain data ingest` next to the receiver, look at
`brain data status`. Settings come from BRAIN_DATA_* environment variables (options
override them); S3 credentials only from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
"""

INIT_HELP = """\
Create the raw repository and the feature store and set their DVC remotes.

Running it again is harmless: an existing repository keeps its remote unless you give a
new one (option or environment variable).

Examples:

  brain data init

  brain data init --raw-remote s3://brain/raw --s3-endpoint-url http://127.0.0.1:9000
"""

INGEST_HELP = """\
Move what the receiver spooled into the raw repository: commit, push, then clear the spool.

Without --once it keeps watching the spool (like `python -m brain_data`) until Ctrl-C.
Bad files go to the quarantine folder with a .reason.json each; see `brain data status`.
"""

STATUS_HELP = """\
Show what the raw repository and the feature store hold: git revision, DVC remote,
sessions, recordings per phase, labelled sessions, files waiting in the spool or in
quarantine, and recordings the transformer pipeline has not processed yet.
Birthdates are never shown.
"""


KEYGEN_HELP = """\
Create the key file that encrypts labels (birthdates) at rest, mode 0600.

Point BRAIN_LABEL_KEY_FILE at it for brain_data and the transformer pipeline (in Docker:
the label_key secret). It refuses to overwrite a file: labels encrypted with a lost key
are lost. With --add it puts a new key first in an existing file (the old keys still
decrypt); then run `brain data reencrypt-labels`.

Examples:

  brain data keygen var/secrets/label_key

  brain data keygen --add var/secrets/label_key
"""

REENCRYPT_HELP = """\
Rewrite every label of the raw repository under the current (first) label key, in one
commit: after `brain data keygen --add`, or to encrypt labels stored before encryption.
Labels already under the current key are left as they are.
"""

FORGET_HELP = """\
Remove a subject's recordings, labels and features from the raw repository, the feature
store, their DVC caches and every DVC remote, and from the spool and the quarantine; then
ask Airflow to retrain without them (brain_features asset event) when it is configured.

Both repositories get one commit each, made under the writer locks ingest and the
pipeline use. Only the subject's own DVC objects are deleted (and the old directory
listings that name them): other subjects' old versions stay restorable. Git history
keeps the pseudonym in older watermark.json versions; no birthdate is anywhere.
A JSON report (mode 0600) goes to --report-dir; a summary is printed. A subject with
nothing left is an error (exit code 2).

Examples:

  brain forget S02

  brain forget S02 --json
"""


def _help(text: str) -> str:
    """Help text for Typer's rich mode: paragraphs on one line, example lines kept."""
    paragraphs = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        paragraphs.append(block if lines[0].startswith("  ") else " ".join(
            line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _opt(env: str, what: str, default: str | None = None) -> Any:
    """An option that overrides the ``BRAIN_DATA_<env>`` setting."""
    shown = f"; default {default}" if default else ""
    return typer.Option(None, help=f"{what} (env BRAIN_DATA_{env}{shown}).",
                        show_default=False)


_RAW_REPO = _opt("RAW_REPO", "Raw repository folder", "var/data/raw")
_FEATURE_REPO = _opt("FEATURE_REPO", "Feature store folder", "var/data/features")
_SPOOL_DIR = _opt("SPOOL_DIR", "The receiver's spool", "var/spool")
_RAW_REMOTE = _opt("RAW_REMOTE", "DVC remote of the raw repository: a folder or "
                   "s3://bucket/prefix", "var/dvc-remote/raw")
_FEATURE_REMOTE = _opt("FEATURE_REMOTE", "DVC remote of the feature store",
                       "var/dvc-remote/features")
_S3_ENDPOINT_URL = _opt("S3_ENDPOINT_URL", "S3 API endpoint for s3:// remotes, e.g. MinIO's "
                        "http://127.0.0.1:9000")

_FORGET_REPORT_DIR = _opt("FORGET_REPORT_DIR", "Folder of forget reports",
                          "var/data/forget-reports")


def _remote(repo: Path, url: str, given: bool) -> str | None:
    """The remote to configure: None keeps an existing repository's own."""
    from brain_data.repository import VersionedRepo

    return url if given or not VersionedRepo(repo, ()).exists() else None


def _settings(**overrides: Any):
    from brain_data.config import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def register(app: typer.Typer) -> None:
    """Add ``brain data ...`` to the ``brain`` application."""
    data = typer.Typer(help=_help(DATA_HELP), no_args_is_help=True)

    @data.command("init", help=_help(INIT_HELP))
    def init(
        raw_repo: Path = _RAW_REPO,
        feature_repo: Path = _FEATURE_REPO,
        raw_remote: str = _RAW_REMOTE,
        feature_remote: str = _FEATURE_REMOTE,
        s3_endpoint_url: str = _S3_ENDPOINT_URL,
    ) -> None:
        from brain_data.features import init_feature_repo
        from brain_data.raw import init_raw_repo

        settings = _settings(raw_repo=raw_repo, feature_repo=feature_repo,
                             raw_remote=raw_remote, feature_remote=feature_remote,
                             s3_endpoint_url=s3_endpoint_url)
        given = settings.model_fields_set  # from an option or the environment
        raw = init_raw_repo(
            settings.raw_repo, _remote(settings.raw_repo, settings.raw_remote,
                                       "raw_remote" in given),
            endpoint_url=settings.s3_endpoint_url)
        features = init_feature_repo(
            settings.feature_repo, _remote(settings.feature_repo, settings.feature_remote,
                                           "feature_remote" in given),
            endpoint_url=settings.s3_endpoint_url)
        for name, repo in (("raw repository", raw), ("feature store", features)):
            typer.echo(f"{name}: {repo.root} (DVC remote {repo.remote_url()})")

    @data.command("ingest", help=_help(INGEST_HELP))
    def ingest(
        once: bool = typer.Option(False, "--once", help="Ingest what is in the spool now, "
                                  "then exit."),
        spool_dir: Path = _SPOOL_DIR,
        raw_repo: Path = _RAW_REPO,
        json_output: bool = typer.Option(False, "--json", help="With --once: print the "
                                         "report as JSON."),
    ) -> None:
        settings = _settings(spool_dir=spool_dir, raw_repo=raw_repo)
        if not once:
            import signal
            import threading

            from brain_data.service import run_service

            logging.getLogger("brain_data").setLevel(logging.INFO)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                run_service(settings, stop)
            except KeyboardInterrupt:
                stop.set()
            return
        from brain_data.service import drain

        reports = drain(settings)
        summary: dict[str, Any] = {
            "recordings": sum(len(r.recordings) for r in reports),
            "labels": sum(len(r.labels) for r in reports),
            "duplicates": sum(len(r.duplicates) for r in reports),
            "quarantined": [q for r in reports for q in r.quarantined],
            "commits": [r.commit for r in reports if r.commit],
            "pushed": all(r.pushed for r in reports),
            "seconds": round(sum(r.seconds for r in reports), 3),
        }
        if json_output:
            typer.echo(json.dumps(summary, indent=2))
            return
        typer.echo(f"{summary['recordings']} recording(s) and {summary['labels']} label(s) "
                   f"stored, {summary['duplicates']} duplicate(s) dropped, "
                   f"{len(summary['quarantined'])} file(s) quarantined "
                   f"({summary['seconds']} s).")
        for name, reason in summary["quarantined"]:
            typer.echo(f"  quarantined {name}: {reason}")
        for commit in summary["commits"]:
            typer.echo(f"  commit {commit[:12]}")

    @data.command("status", help=_help(STATUS_HELP))
    def status(
        spool_dir: Path = _SPOOL_DIR,
        raw_repo: Path = _RAW_REPO,
        feature_repo: Path = _FEATURE_REPO,
        json_output: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        from brain_data.features import feature_status
        from brain_data.raw import raw_status

        settings = _settings(spool_dir=spool_dir, raw_repo=raw_repo, feature_repo=feature_repo)
        raw = raw_status(settings)
        features = feature_status(settings.feature_repo, settings.raw_repo)
        if json_output:
            typer.echo(json.dumps({"raw": raw.to_dict(), "features": features.to_dict()},
                                  indent=2, default=str))
            return
        _print_status(raw, features, settings)

    @data.command("keygen", help=_help(KEYGEN_HELP))
    def keygen(
        path: Path = typer.Argument(..., help="The key file to create (or, with --add, to "
                                    "extend)."),
        add: bool = typer.Option(False, "--add", help="Put a new key first in an existing "
                                 "key file."),
    ) -> None:
        from brain_data.label_keys import add_key, create_key_file

        kid = add_key(path) if add else create_key_file(path)
        typer.echo(f"{'added' if add else 'created'} label key {kid} in {path}; set "
                   f"BRAIN_LABEL_KEY_FILE={path}")

    @data.command("reencrypt-labels", help=_help(REENCRYPT_HELP))
    def reencrypt(raw_repo: Path = _RAW_REPO) -> None:
        from brain_data.raw import reencrypt_labels

        done = reencrypt_labels(_settings(raw_repo=raw_repo))
        commit = f", commit {done.commit[:12]}" if done.commit else ""
        typer.echo(f"{done.rewritten} of {done.labels} label(s) re-encrypted{commit}.")

    app.add_typer(data, name="data")

    @app.command("forget", help=_help(FORGET_HELP))
    def forget(
        subject: str = typer.Argument(..., help="The subject's pseudonym (e.g. S02)."),
        spool_dir: Path = _SPOOL_DIR,
        raw_repo: Path = _RAW_REPO,
        feature_repo: Path = _FEATURE_REPO,
        report_dir: Path = _FORGET_REPORT_DIR,
        json_output: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        from brain_data.forget import forget_subject, write_report

        settings = _settings(spool_dir=spool_dir, raw_repo=raw_repo,
                             feature_repo=feature_repo, forget_report_dir=report_dir)
        report = forget_subject(settings, subject)
        path = write_report(report, settings.forget_report_dir)
        if json_output:
            typer.echo(json.dumps({**report.to_dict(), "report_path": str(path)}, indent=2))
            return
        _print_forget(report, path)


def _print_forget(report: Any, path: Path) -> None:
    lines = [f"Forgot subject {report.subject}: {len(report.sessions)} session(s) "
             f"({report.seconds} s)."]
    if report.spool_files or report.quarantine_files:
        lines.append(f"  spool: {len(report.spool_files)} file(s), quarantine: "
                     f"{len(report.quarantine_files)} file(s) deleted")
    for title, repo in (("raw repository", report.raw), ("feature store", report.features)):
        if repo is None:
            continue
        commit = f"commit {repo.commit[:12]}" if repo.commit else "no new commit"
        lines.append(f"  {title}: {len(repo.files)} file(s) removed, {commit}")
        for place in repo.objects:
            lines.append(f"    {len(place.deleted)} DVC object(s) deleted from {place.location}")
        if repo.unrestorable_revisions:
            lines.append(f"    {len(repo.unrestorable_revisions)} older revision(s) no longer "
                         "fully restorable (listed in the report)")
    if report.trained_on_revisions:
        lines.append(f"  models trained on {len(report.trained_on_revisions)} feature-store "
                     "revision(s) that held the subject (MLflow tag brain.dataset_version; "
                     "listed in the report)")
    lines.append(f"  retrain: {report.retrain}")
    lines += [f"  kept: {note}" for note in report.kept]
    lines.append(f"Report: {path}")
    typer.echo("\n".join(lines))


def _repo_lines(title: str, state: Any) -> list[str]:
    if not state.initialised:
        return [f"{title}: {state.path} (not initialised: run `brain data init`)"]
    rev = state.revision[:12] if state.revision else "no commit"
    notes = []
    if state.revision and not state.pushed:
        notes.append("HEAD not pushed yet")
    if state.uncommitted:
        notes.append("uncommitted changes")
    note = f" [{'; '.join(notes)}]" if notes else ""
    return [f"{title}: {state.path}", f"  revision {rev}, DVC remote {state.remote}{note}"]


def _print_status(raw: Any, features: Any, settings: Any) -> None:
    lines = _repo_lines("Raw repository", raw.repository)
    if raw.repository.revision:
        per_phase = ", ".join(f"{phase} {n}" for phase, n in raw.recordings.items())
        lines += [f"  {raw.subjects} subject(s), {raw.sessions} session(s); recordings: "
                  f"{per_phase}",
                  f"  labels: {raw.labels} ({raw.labelled_sessions} session(s) with EEG "
                  "labelled)"]
    lines.append(f"Spool {settings.incoming}: {raw.spool['recordings']} recording(s), "
                 f"{raw.spool['labels']} label(s), {raw.spool['other']} other file(s) waiting")
    lines.append(f"Quarantine {settings.quarantine}: {len(raw.quarantine)} file(s)")
    for item in raw.quarantine[-10:]:
        lines.append(f"  {item.original}: {item.reason}")
    lines += _repo_lines("Feature store", features.repository)
    if features.repository.revision:
        lines += [f"  {features.recordings} recording(s), {features.epochs} epoch(s), "
                  f"{features.labelled} labelled, {features.failed} refused by the transform "
                  f"(transform version {features.transform_version})",
                  f"  not yet transformed: {features.pending} recording(s); labels to apply: "
                  f"{features.relabel_pending}"]
    typer.echo("\n".join(lines))
