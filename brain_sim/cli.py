"""``brain simulate`` and ``brain emulate-crown``: simulated subjects, on disk or live."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from brain_core.paradigm import DEFAULT_YEARS

SIMULATE_HELP = """\
Write a labelled BIDS-EEG dataset of simulated subjects.

Each subject gets one session: the day, month and year phases, each item
shown --repetitions times, 8 Crown channels at 256 Hz. Their EEG carries a
P300 to their own day, month and year (and to nothing else), over
background EEG and artifacts whose size the preset sets:

  easy       P300 8-12 µV, background 4-6 µV, no blinks, no bad channel

  realistic  P300 3-6 µV, background 8-12 µV; blinks, line noise,
             drifting offsets, a bad channel in 30% of subjects

  hard       P300 2-4 µV, background 12-20 µV; mV line noise, 2-3 bad
             channels

A share of subjects (--innocent-fraction) is born outside the year range,
so no year is theirs. Birthdates go to participants.tsv (column
birthdate). The same seed writes the same data; running the command again
on the same folder changes nothing.

Example:

  brain simulate --subjects 20 --preset realistic --seed 1 --out data/sim
"""

EMULATE_HELP = """\
Pretend to be a Neurosity Crown: stream a simulated subject's EEG over
OSC/UDP until Ctrl-C (or for --seconds).

BrainFlow's Crown driver (board id 23, parameter ip_port) reads it like
the real headset: 8 channels at 256 Hz in µV, 16 samples per packet, sent
to 127.0.0.1:PORT.

For the stream to carry the subject's responses (a P300 to their own day,
month and year), tell the emulator when each stimulus appears: start it
with --stimulus-port and send OSC messages /brain/stimulus (phase, value,
onset in UNIX seconds), e.g. with brain_sim.emulator.send_stimulus.
Without them the stream is background EEG only.

Example (then point BrainFlow, or the collector, at port 9000):

  brain emulate-crown --port 9000 --subject S01 --stimulus-port 9001
"""


class PresetName(StrEnum):
    easy = "easy"
    realistic = "realistic"
    hard = "hard"


def register(app: typer.Typer) -> None:
    """Add the simulation commands to the ``brain`` application."""
    app.command("simulate", help=SIMULATE_HELP)(simulate)
    app.command("emulate-crown", help=EMULATE_HELP)(emulate_crown)


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def simulate(
    out: Path = typer.Option(..., "--out", "-o", help="Folder of the BIDS dataset (created "
                             "if needed).", show_default=False),
    subjects: int = typer.Option(10, "--subjects", "-n", min=1, max=9999,
                                 help="Number of subjects (one session each)."),
    preset: PresetName = typer.Option(PresetName.easy, "--preset", "-p",
                                      help="How noisy the EEG is."),
    seed: int = typer.Option(0, "--seed", min=0, help="Same seed, same dataset."),
    repetitions: int = typer.Option(10, "--repetitions", "-r", min=1, max=200,
                                    help="Showings of each item per phase."),
    innocent_fraction: float = typer.Option(
        0.1, "--innocent-fraction", min=0.0, max=1.0,
        help="Share of subjects born outside the year range."),
    start_year: int = typer.Option(DEFAULT_YEARS[0], "--start-year",
                                   help="First year shown in the year phase."),
    end_year: int = typer.Option(DEFAULT_YEARS[1], "--end-year",
                                 help="Last year shown in the year phase."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Write a labelled BIDS dataset of simulated subjects (see the command's help)."""
    from brain_core import bids
    from brain_sim.simulate import write_simulated_dataset

    began = time.perf_counter()
    root = write_simulated_dataset(
        out, subjects, preset=preset.value, seed=seed, repetitions=repetitions,
        years=(start_year, end_year), innocent_fraction=innocent_fraction,
        progress=not quiet)
    elapsed = time.perf_counter() - began

    labels = bids.read_labels(root)
    paths = bids.find_recordings(root)
    innocent = sum(1 for d in labels.values() if not start_year <= d.year <= end_year)
    table = Table(title=f"Simulated dataset ({preset.value})", show_header=False)
    table.add_row("folder", str(root))
    table.add_row("subjects", f"{len(labels)} ({innocent} innocent: born outside "
                              f"{start_year}-{end_year})")
    table.add_row("recordings", f"{len(paths)} (day, month and year phase per subject)")
    table.add_row("repetitions", str(repetitions))
    table.add_row("size on disk", f"{_size(root) / 1e6:.1f} MB")
    table.add_row("time", f"{elapsed:.1f} s")
    Console().print(table)


def emulate_crown(
    port: int = typer.Option(9000, "--port", min=1, max=65535,
                             help="UDP port BrainFlow listens on (its ip_port)."),
    subject: str = typer.Option("S01", "--subject", "-s", help="Simulated subject's label; "
                                "with --seed it fixes their birthdate and EEG."),
    preset: PresetName = typer.Option(PresetName.easy, "--preset", "-p",
                                      help="How noisy the EEG is."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the subject and the noise."),
    seconds: float | None = typer.Option(None, "--seconds", min=0.0,
                                         help="Stop after this long (default: Ctrl-C)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Where to send the packets."),
    stimulus_port: int | None = typer.Option(
        None, "--stimulus-port", min=1, max=65535,
        help="Also listen here for /brain/stimulus OSC messages."),
    show_birthdate: bool = typer.Option(False, "--show-birthdate",
                                        help="Print the simulated subject's birthdate."),
) -> None:
    """Stream a simulated subject as a Neurosity Crown (see the command's help)."""
    from brain_sim.emulator import CrownEmulator

    emulator = CrownEmulator(subject, port=port, host=host, preset=preset.value, seed=seed,
                             stimulus_port=stimulus_port)
    who = f"subject {subject} ({preset.value}"
    if show_birthdate:
        who += f", born {emulator.subject.birthdate.isoformat()}"
    who += ")"
    typer.echo(f"Streaming {who} as a Crown to udp://{host}:{port}"
               + (f"; stimuli on udp port {stimulus_port}" if stimulus_port else "")
               + (f" for {seconds:g} s." if seconds is not None else ". Ctrl-C stops."))
    emulator.start()
    try:
        deadline = None if seconds is None else time.monotonic() + seconds
        while emulator.running and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline
                                                                  - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    if emulator.error is not None:
        raise typer.Exit(1) from emulator.error
    typer.echo(f"Sent {emulator.n_samples_sent} samples "
               f"({emulator.n_samples_sent / emulator.sfreq:.1f} s).")
