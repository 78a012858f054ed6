"""The reference: features of the sessions the champion was trained on.

Written by ``brain drift reference`` (from a BIDS dataset, or simulated) as a Parquet or
CSV table, one row per session (see :mod:`brain_drift.features`); the service compares
every window of recent sessions with it. Rebuild it whenever the champion changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from brain_core.errors import InvalidInputError
from brain_core.models import Recording
from brain_drift.features import ID_COLUMNS, feature_columns, session_table
from brain_drift.scenarios import simulate_sessions
from brain_drift.storage import load_table, save_table

#: Fewest sessions a reference may hold: below this a two-sample test has no power.
MIN_REFERENCE_SESSIONS = 10


def recordings_from(paths: Iterable[Path]) -> Iterable[Recording]:
    """Every recording of each source: a BIDS dataset, ``*.brainrec`` files, EDF, ..."""
    from brain_core.importers import read_source

    for path in paths:
        yield from read_source(Path(path)).recordings


def reference_from_recordings(recordings: Iterable[Recording], *, progress: bool = False,
                              total: int | None = None) -> pd.DataFrame:
    """The features table of ``recordings`` (one row per session), checked for size."""
    table = session_table(recordings, progress=progress, total=total)
    check_reference(table)
    return table


def simulated_reference(n_sessions: int, *, preset: str = "realistic", seed: int = 0,
                        phases: Sequence[str] = ("month",), repetitions: int = 3,
                        progress: bool = False) -> pd.DataFrame:
    """A reference of ``n_sessions`` simulated sessions (see :func:`simulate_sessions`)."""
    recordings = simulate_sessions(n_sessions, preset=preset, seed=seed, phases=phases,
                                   repetitions=repetitions)
    return reference_from_recordings(recordings, progress=progress,
                                     total=n_sessions * len(phases))


def check_reference(table: pd.DataFrame) -> pd.DataFrame:
    """Raise unless ``table`` is a usable reference: enough sessions, some features."""
    if len(table) < MIN_REFERENCE_SESSIONS:
        raise InvalidInputError(
            f"Invalid value for the 'reference' parameter: it holds {len(table)} session(s); "
            f"at least {MIN_REFERENCE_SESSIONS} are needed for a meaningful comparison.",
            field="reference")
    if not feature_columns(table):
        raise InvalidInputError(
            "Invalid value for the 'reference' parameter: the table has no feature column "
            f"(only {list(ID_COLUMNS)}).", field="reference")
    return table


def save_reference(table: pd.DataFrame, path: Path) -> Path:
    """Write a reference table (Parquet or CSV by suffix), atomically."""
    return save_table(check_reference(table), path)


def load_reference(path: Path) -> pd.DataFrame:
    """Read and check a reference table."""
    return check_reference(load_table(path))
