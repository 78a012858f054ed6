"""``brain``: the one command line for people.

brain_core defines the application and its own commands; every other installed BRAIN
package adds its commands through the ``brain.commands`` entry-point group (a function
``register(app: typer.Typer) -> None``), so a service's image carries only its own
commands while a development install has them all.
"""

from __future__ import annotations

import logging
import sys
from importlib import import_module
from importlib.metadata import entry_points

import typer

from brain_core import __version__
from brain_core.errors import BrainError

log = logging.getLogger(__name__)

#: brain_core's own command modules; each has ``register(app)``.
CORE_COMMAND_MODULES = ("brain_core.cli_data",)

HELP = """\
BRAIN recovers the birthdate a person recognizes from their EEG (P300 responses to
their own day, month and year) and runs the ML loop around that prediction.

Every command explains itself with --help, e.g. `brain simulate --help`.
"""


def _version(value: bool) -> None:
    if value:
        typer.echo(f"brain {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The ``brain`` application with every installed package's commands."""
    app = typer.Typer(help=HELP, no_args_is_help=True, add_completion=False,
                      pretty_exceptions_enable=False, rich_markup_mode="rich")

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                     help="Print the version and exit."),
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    ) -> None:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                            format="%(levelname)s %(name)s: %(message)s")

    for module in CORE_COMMAND_MODULES:
        import_module(module).register(app)
    for ep in sorted(entry_points(group="brain.commands"), key=lambda e: e.name):
        try:
            ep.load()(app)
        except Exception as err:  # one broken plug-in must not take the others down
            log.warning("could not load brain commands from %s: %s", ep.value, err)
    return app


def main() -> None:
    """Entry point of the ``brain`` script: a BrainError becomes a message and exit code 2.

    Typer handles usage errors, ``--help`` and exit codes itself (standalone mode); only
    BRAIN's own errors, which a user can cause with a bad file or value, are turned into a
    one-line message instead of a traceback.
    """
    app = build_app()
    try:
        app()
    except BrainError as err:
        typer.secho(f"Error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(2)
