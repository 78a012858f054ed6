"""``brain info``, ``brain import`` and ``brain export-bids``: look at and move EEG data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from brain_core import bids
from brain_core.errors import InvalidInputError
from brain_core.importers import import_source, is_bids_root, read_source
from brain_core.models import PHASES, Recording

INFO_HELP = (
    "Describe EEG data: a recording file, a legacy session or a whole BIDS dataset.\n\n"
    "Shows, per recording: subject, session, phase, channels, sampling rate, duration, "
    "stimulus events and showings per item, whether the onsets were marked or guessed "
    "(untimed), and whether the subject is labelled. Birthdates themselves are never "
    "printed.\n\n"
    "Examples:\n\n"
    "  brain info recording.edf\n\n"
    "  brain info data/bids --subject s01"
)

IMPORT_HELP = (
    "Import recordings made elsewhere into a BIDS dataset (created if needed).\n\n"
    "SRC may be a BIDS dataset, a legacy MLOPS-BRAIN session (a folder with "
    "<name>_metadata.json and <name>_days.csv, _months.csv, _years.csv), an encoded "
    "recording (*.brainrec), or any file MNE reads (EDF/BDF, BrainVision .vhdr, FIF) "
    "whose annotations name the stimuli stim/<phase>/<value>, e.g. stim/day/17. Each "
    "phase becomes one recording; birthdates the source holds go to participants.tsv. "
    "Importing the same data again changes nothing.\n\n"
    "Example:\n\n"
    "  brain import session01.edf --bids-root data/bids --subject s01"
)

EXPORT_HELP = (
    "Write recordings as a new, self-contained BIDS-EEG dataset (BrainVision, "
    "float32).\n\n"
    "SRC is anything `brain import` accepts. Birthdates are left out unless you pass "
    "--labels, so the export can be shared without them. OUT must be missing, empty, or "
    "a dataset written by an earlier export.\n\n"
    "Examples:\n\n"
    "  brain export-bids data/bids shared/ --subject s01 --subject s02\n\n"
    "  brain export-bids legacy_session/ out/ --labels"
)


def register(app: typer.Typer) -> None:
    """Add the data commands to the ``brain`` application."""
    app.command("info", help=INFO_HELP)(info)
    app.command("import", help=IMPORT_HELP)(import_command)
    app.command("export-bids", help=EXPORT_HELP)(export_bids)


def info(
    source: Path = typer.Argument(
        ..., help="A recording file (.vhdr .edf .bdf .fif .brainrec), a legacy session "
                  "folder, or a BIDS dataset folder.", show_default=False),
    subject: str | None = typer.Option(
        None, "--subject", "-s", help="BIDS dataset: only this subject. File: the "
                                      "pseudonym to show it under."),
) -> None:
    """Describe EEG data (see the command's help)."""
    console = Console()
    src = read_source(source, subject=subject)
    recordings = list(src.recordings)
    labelled = set(src.birthdates)
    if src.kind == "bids":
        subjects = sorted({r.subject for r in recordings}, key=bids.natural_key)
        sessions = {(r.subject, r.session_id) for r in recordings}
        with_label = [s for s in subjects if s in labelled]
        console.print(f"[bold]BIDS dataset[/bold] {escape(str(source))}: "
                      f"{len(subjects)} subject(s), {len(sessions)} session(s), "
                      f"{len(recordings)} recording(s)")
        console.print(f"Labelled subjects: {len(with_label)} of {len(subjects)}"
                      + (f" ({', '.join(with_label)})" if with_label else ""))
        channel_sets = _channel_sets(recordings)
        if len(channel_sets) == 1:
            console.print(f"Channels: {', '.join(channel_sets[0][1])}")
        else:
            console.print(f"Channels: {len(channel_sets)} different sets")
    else:
        console.print(f"[bold]{escape(str(source))}[/bold] ({src.kind}): "
                      f"{len(recordings)} recording(s)")
        for name, ch_names in _channel_sets(recordings):
            console.print(f"Channels ({name}): {', '.join(ch_names)}")
        console.print(f"Labelled: {'yes' if labelled else 'no'}")
    console.print(_table(recordings, labelled))


def _channel_sets(recordings: Iterable[Recording]) -> list[tuple[str, tuple[str, ...]]]:
    sets: dict[tuple[str, ...], list[str]] = {}
    for r in recordings:
        sets.setdefault(r.ch_names, []).append(r.phase.value)
    return [(", ".join(phases), names) for names, phases in sets.items()]


def _per_item(recording: Recording) -> str:
    """Showings per item, e.g. ``10`` or ``8-10`` (items never shown count as 0)."""
    counts = Counter(e.value for e in recording.events)
    shown = [counts.get(item, 0) for item in recording.paradigm.items]
    low, high = min(shown), max(shown)
    return str(low) if low == high else f"{low}-{high}"


def _table(recordings: list[Recording], labelled: set[str]) -> Table:
    # A borderless table fits an 80-column terminal with every column readable.
    table = Table(box=box.SIMPLE_HEAD, padding=(0, 0))
    for column, justify in (("Subject", "left"), ("Session", "left"), ("Phase", "left"),
                            ("Ch", "right"), ("Hz", "right"), ("Sec", "right"),
                            ("Events", "right"), ("Items", "right"), ("Per item", "right"),
                            ("Untimed", "left"), ("Labelled", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    order = {p: i for i, p in enumerate(PHASES)}
    for r in sorted(recordings, key=lambda r: (bids.natural_key(r.subject), str(r.session_id),
                                               order[r.phase.value])):
        table.add_row(r.subject, r.session_id.hex[:8], r.phase.value, str(r.n_channels),
                      f"{r.sfreq:g}", f"{r.duration_s:.1f}", str(len(r.events)),
                      str(len(r.paradigm.items)), _per_item(r), "yes" if r.untimed else "no",
                      "yes" if r.subject in labelled else "no")
    return table


def import_command(
    src: Path = typer.Argument(..., help="What to import (see above).", show_default=False),
    bids_root: Path = typer.Option(..., "--bids-root", help="The BIDS dataset to write into.",
                                   show_default=False),
    subject: str | None = typer.Option(
        None, "--subject", "-s",
        help="File: the pseudonym (letters and digits) to file it under; default from the "
             "file name. BIDS dataset: import only this subject."),
) -> None:
    """Import recordings into a BIDS dataset (see the command's help)."""
    report = import_source(src, bids_root, subject=subject, progress=True)
    typer.echo(report.summary())


def export_bids(
    src: Path = typer.Argument(..., help="What to export: anything `brain import` accepts.",
                               show_default=False),
    out: Path = typer.Argument(..., help="Folder of the new BIDS dataset.", show_default=False),
    subjects: list[str] | None = typer.Option(
        None, "--subject", "-s",
        help="Export only this subject (repeat for several). With a single file as SRC, "
             "one --subject names its subject."),
    labels: bool = typer.Option(
        False, "--labels/--no-labels", help="Include birthdates (participants.tsv column "
                                            "'birthdate')."),
) -> None:
    """Export recordings as a BIDS dataset (see the command's help)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not is_bids_root(out))):
        raise InvalidInputError(
            f"OUT {out} exists and is not an empty folder or a BIDS dataset; choose a new "
            "folder.",
            field="out",
        )
    wanted = {bids._strip_sub(s) for s in subjects} if subjects else None
    # One --subject also names the subject of a single-file source.
    source = read_source(src, subject=subjects[0] if subjects and len(subjects) == 1 else None)
    exported: Counter[str] = Counter()

    def chosen() -> Iterator[Recording]:
        for recording in source.recordings:
            if wanted is None or recording.subject in wanted:
                exported[recording.subject] += 1
                yield recording

    written = bids.write_dataset(out, chosen(), progress=True)
    if not exported:
        raise InvalidInputError(
            f"No recording of subject(s) {', '.join(sorted(wanted or []))} in {src}.",
            field="subject",
        )
    birthdates = {s: d for s, d in source.birthdates.items() if s in exported} if labels else {}
    if birthdates:
        bids.write_labels(out, birthdates)
    total = sum(exported.values())
    typer.echo(f"Exported {total} recording(s) of {len(exported)} subject(s) to {out} "
               f"({written} written, {total - written} already there); "
               f"labels: {len(birthdates) if labels else 'left out'}.")
