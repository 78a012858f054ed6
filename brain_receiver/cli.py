"""``brain receiver ...`` commands."""

from __future__ import annotations

import secrets
from pathlib import Path

import typer

from brain_receiver.auth import hash_password, parse_credentials
from brain_receiver.spool import atomic_write


def register(app: typer.Typer) -> None:
    receiver = typer.Typer(help="The upload receiver: credentials and its API description.",
                           no_args_is_help=True)

    @receiver.command("add-collector")
    def add_collector(
        name: str = typer.Argument(..., help="Collector name (its HTTP basic user name)."),
        credentials_file: Path = typer.Option(
            ..., "--credentials-file", "-f",
            help="The file BRAIN_RECEIVER_CREDENTIALS_FILE points to; created if missing."),
    ) -> None:
        """Create or rotate a collector's password; prints it ONCE, stores only its hash.

        The running receiver re-reads the file when it changes: no restart needed.
        Example: brain receiver add-collector lab1 -f secrets/receiver_credentials
        """
        existing = (parse_credentials(credentials_file.read_text(encoding="utf-8"))
                    if credentials_file.exists() else {})
        password = secrets.token_urlsafe(24)
        existing[name] = hash_password(password)
        text = "".join(f"{user}:{hashed}\n" for user, hashed in sorted(existing.items()))
        atomic_write(credentials_file, text.encode())
        credentials_file.chmod(0o600)
        typer.echo(f"Collector {name!r} stored in {credentials_file}.")
        typer.echo("Give the collector these settings (shown once, not stored anywhere):")
        typer.echo(f"  API_USERNAME={name}")
        typer.echo(f"  API_PASSWORD={password}")

    @receiver.command("openapi")
    def openapi(out: Path = typer.Option(None, help="Write to this file instead of stdout.")):
        """Print the receiver's OpenAPI document (JSON)."""
        from brain_receiver.app import openapi_json

        text = openapi_json()
        if out:
            out.write_text(text)
        else:
            typer.echo(text)

    app.add_typer(receiver, name="receiver")
