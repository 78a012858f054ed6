"""Feature files: one Parquet file per recording, one row per epoch.

Schema version 1 (also in ``SCHEMA.md`` next to this module):

=================  =========================  =============================================
column             Arrow type                 meaning
=================  =========================  =============================================
subject            string                     the subject's pseudonym (BIDS label)
session_id         string                     the session's UUID, canonical form
phase              string                     'day', 'month' or 'year'
epoch              int32                      index of the epoch in its recording (0, 1, ...)
item               int64                      the item shown (day 1-31, month 1-12, year)
target             int8, nullable             1 if ``item`` is the subject's own day, month
                                              or year, 0 if not, null while the session has
                                              no label
weight             float32                    in [0, 1]; 0 = artifact-rejected epoch
onset              float64                    stimulus onset, s from the recording's start
<ch>_t<ms>ms       float32                    the epoch's sample of channel ``<ch>`` at
                                              ``<ms>`` milliseconds from the stimulus (rounded;
                                              ``CP3_t0125ms``, ``CP3_t-0094ms``), in volts
=================  =========================  =============================================

Feature columns come channel by channel, each in time order: reshaping a row's feature
values to ``(n_channels, n_times)`` gives the epoch as the transform service returned it.
Names round times to whole milliseconds; when two samples would share a name (sampling
above 1 kHz) they are named in microseconds instead (``CP3_t0000500us``).

The file's key-value metadata ``brain.features`` (JSON) holds what rebuilding the
:class:`~brain_transform_service.transform.EpochSet` exactly needs and what produced it:
``schema_version``, ``subject``, ``session_id``, ``phase``, ``sfreq`` (Hz), ``ch_names``,
``times`` (exact seconds), ``bad_channels``, ``shown_items`` (every item the paradigm
showed), ``report`` (the transform's report), ``transform_version``,
``transform_config`` and ``raw_content`` (the raw recording's content hash).

:func:`load_features` reads a store into one DataFrame (metadata per recording in
``DataFrame.attrs["brain"]``); :func:`epochsets_from_frame` turns it back into epoch sets,
:func:`feature_phases` into epoch sets with their shown items and probe (the own item).
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from brain_core.errors import InvalidInputError
from brain_transform_service.transform import EpochSet

SCHEMA_VERSION = 1
METADATA_KEY = b"brain.features"
#: Columns before the features, in file order.
ID_COLUMNS = ("subject", "session_id", "phase", "epoch", "item", "target", "weight", "onset")
_FEATURE_NAME = re.compile(r"^(?P<ch>.+)_t(?P<value>-?\d+)(?P<unit>ms|us)$")


def feature_columns(ch_names: Sequence[str], times: np.ndarray) -> list[str]:
    """Names of the feature columns: channel-major, ``<ch>_t<ms>ms``.

    Parameters
    ----------
    ch_names : sequence of str
        ``n_channels`` names.
    times : array, shape (n_times,)
        Seconds relative to the stimulus.
    """
    ms = [int(round(float(t) * 1e3)) for t in times]
    if len(set(ms)) == len(ms):
        stamps = [f"t{v:04d}ms" if v >= 0 else f"t-{-v:04d}ms" for v in ms]
    else:
        us = [int(round(float(t) * 1e6)) for t in times]
        stamps = [f"t{v:07d}us" if v >= 0 else f"t-{-v:07d}us" for v in us]
    return [f"{ch}_{stamp}" for ch in ch_names for stamp in stamps]


def own_item(birthdate: date, phase: str) -> int:
    """The day, month or year of ``birthdate`` that the ``phase`` shows."""
    return {"day": birthdate.day, "month": birthdate.month, "year": birthdate.year}[phase]


def targets(items: np.ndarray, phase: str, birthdate: date | None) -> np.ndarray | None:
    """1 where ``items`` is the subject's own item, else 0; None without a birthdate."""
    if birthdate is None:
        return None
    return (np.asarray(items) == own_item(birthdate, phase)).astype(np.int8)


def epochs_to_table(epochs: EpochSet, *, birthdate: date | None,
                    shown_items: Sequence[int], provenance: Mapping[str, Any]) -> pa.Table:
    """One recording's epochs as a feature table (see the module docstring).

    Parameters
    ----------
    epochs : EpochSet
        ``data`` (n_epochs, n_channels, n_times) float32 volts.
    birthdate : date | None
        The session's label, or None when it is not known yet (targets are null).
    shown_items : sequence of int
        Every item the recording's paradigm showed.
    provenance : mapping
        ``transform_version``, ``transform_config`` and ``raw_content`` for the metadata.
    """
    n = epochs.n_epochs
    flat = np.ascontiguousarray(epochs.data.reshape(n, -1), dtype=np.float32)
    target = targets(epochs.items, epochs.phase, birthdate)
    columns: dict[str, pa.Array] = {
        "subject": pa.array([epochs.subject] * n, pa.string()),
        "session_id": pa.array([str(epochs.session_id)] * n, pa.string()),
        "phase": pa.array([epochs.phase] * n, pa.string()),
        "epoch": pa.array(np.arange(n, dtype=np.int32)),
        "item": pa.array(np.asarray(epochs.items, dtype=np.int64)),
        "target": pa.array(target, pa.int8()) if target is not None
        else pa.nulls(n, pa.int8()),
        "weight": pa.array(np.asarray(epochs.weights, dtype=np.float32)),
        "onset": pa.array(np.asarray(epochs.onsets, dtype=np.float64)),
    }
    names = feature_columns(epochs.ch_names, epochs.times)
    for j, name in enumerate(names):
        columns[name] = pa.array(flat[:, j])
    meta = {
        "schema_version": SCHEMA_VERSION,
        "subject": epochs.subject,
        "session_id": str(epochs.session_id),
        "phase": epochs.phase,
        "sfreq": epochs.sfreq,
        "ch_names": list(epochs.ch_names),
        "times": [float(t) for t in epochs.times],
        "bad_channels": list(epochs.bad_channels),
        "shown_items": [int(v) for v in shown_items],
        "report": epochs.report,
        **dict(provenance),
    }
    table = pa.table(columns)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True)})


def table_bytes(table: pa.Table) -> bytes:
    """The Parquet file of ``table`` (zstd); the same table always gives the same bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def relabel(payload: bytes, birthdate: date | None) -> bytes:
    """A feature file with its ``target`` column recomputed for ``birthdate``."""
    table = pq.read_table(io.BytesIO(payload))
    meta = table_metadata(table)
    target = targets(table.column("item").to_numpy(), meta["phase"], birthdate)
    column = pa.array(target, pa.int8()) if target is not None \
        else pa.nulls(table.num_rows, pa.int8())
    index = table.schema.get_field_index("target")
    table = table.set_column(index, "target", column)
    return table_bytes(table)


def table_metadata(table: pa.Table) -> dict[str, Any]:
    """The ``brain.features`` metadata of a feature table."""
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise InvalidInputError("Not a BRAIN feature file: no 'brain.features' metadata.",
                                field="metadata")
    return json.loads(raw)


# --------------------------------------------------------------------------- reading


def read_feature_file(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One feature file as (rows, metadata)."""
    table = pq.read_table(path)
    frame = table.to_pandas(types_mapper={pa.int8(): pd.Int8Dtype()}.get)
    return frame, table_metadata(table)


def load_features(feature_repo: Path, *, rev: str = "HEAD", labelled_only: bool = False
                  ) -> pd.DataFrame:
    """Every epoch in the feature store at ``rev``, one row each.

    Reads the committed files from DVC's cache (or the working tree where the cache lacks
    them), so it is consistent while the pipeline writes, and takes no lock.

    Parameters
    ----------
    feature_repo : Path
        The feature store (a clone works after ``dvc pull``).
    rev : str
        Git revision of the store.
    labelled_only : bool
        Drop the epochs of sessions without a label (null ``target``).

    Returns
    -------
    pandas.DataFrame
        The columns of the module docstring; ``target`` is pandas' nullable ``Int8``.
        ``attrs["brain"]`` maps ``"<session_id>/<phase>"`` to each recording's metadata
        (ch_names, exact times, sfreq, report, ...).
    """
    from brain_data.features import FEATURES_DIR, feature_repository

    repo = feature_repository(feature_repo)
    repo.require()
    frames, metadata = [], {}
    for relpath, md5 in sorted(repo.manifest(FEATURES_DIR, rev).items()):
        if not relpath.endswith(".parquet"):
            continue
        frame, meta = read_feature_file(repo.read_committed(FEATURES_DIR, relpath, md5))
        if labelled_only and frame["target"].isna().all():
            continue
        frames.append(frame)
        metadata[f"{meta['session_id']}/{meta['phase']}"] = meta
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=t) for c, t in zip(
            ID_COLUMNS, ("object", "object", "object", "int32", "int64", "Int8", "float32",
                         "float64"), strict=True)})
        empty.attrs["brain"] = {}
        return empty
    frame = pd.concat(frames, ignore_index=True)
    if labelled_only:
        frame = frame[frame["target"].notna()].reset_index(drop=True)
    frame.attrs["brain"] = metadata
    return frame


def epochsets_from_frame(frame: pd.DataFrame) -> list[EpochSet]:
    """Rebuild one :class:`EpochSet` per recording from rows of :func:`load_features`.

    Uses ``frame.attrs["brain"]`` for exact times, sampling rate, bad channels and the
    report when present; otherwise derives channels and times from the column names
    (times then rounded to the millisecond, report empty).

    Returns
    -------
    list of EpochSet
        In the order the recordings first appear in ``frame``; epochs in ``epoch`` order.
    """
    metadata = frame.attrs.get("brain", {})
    out = []
    for (session_id, phase), rows in frame.groupby(["session_id", "phase"], sort=False):
        rows = rows.sort_values("epoch")
        meta = metadata.get(f"{session_id}/{phase}")
        if meta is not None:
            ch_names, times = list(meta["ch_names"]), np.asarray(meta["times"], dtype=float)
            columns = feature_columns(ch_names, times)
            sfreq, bad, report = float(meta["sfreq"]), meta["bad_channels"], meta["report"]
        else:
            ch_names, times, columns = _layout_from_columns(rows)
            sfreq = float(1 / np.median(np.diff(times))) if len(times) > 1 else 1.0
            bad, report = (), {}
        data = rows[columns].to_numpy(dtype=np.float32)
        out.append(EpochSet(
            data=data.reshape(len(rows), len(ch_names), len(times)),
            times=times,
            items=rows["item"].to_numpy(dtype=np.int64),
            onsets=rows["onset"].to_numpy(dtype=np.float64),
            weights=rows["weight"].to_numpy(dtype=np.float32),
            sfreq=sfreq,
            ch_names=tuple(ch_names),
            phase=str(phase),
            subject=str(rows["subject"].iloc[0]),
            session_id=uuid.UUID(str(session_id)),
            bad_channels=tuple(bad),
            report=dict(report),
        ))
    return out


@dataclass(frozen=True)
class FeaturePhase:
    """One recording of the feature store, ready for a model.

    Attributes
    ----------
    epochs : EpochSet
        ``data`` (n_epochs, n_channels, n_times) float32 volts.
    shown_items : tuple of int
        Every item the paradigm showed (from the file's metadata).
    probe : int | None
        The item whose epochs have target 1: the subject's own; None when the session is
        not labelled, or no epoch of the own item exists (not shown: an innocent year).
    labelled : bool
        Whether the session had a label (targets not null).
    """

    epochs: EpochSet
    shown_items: tuple[int, ...]
    probe: int | None
    labelled: bool


def feature_phases(frame: pd.DataFrame) -> list[FeaturePhase]:
    """:func:`epochsets_from_frame` with each recording's shown items and probe."""
    metadata = frame.attrs.get("brain", {})
    out = []
    groups = frame.groupby(["session_id", "phase"], sort=False)
    for epochs, ((session_id, phase), rows) in zip(epochsets_from_frame(frame), groups,
                                                   strict=True):
        meta = metadata.get(f"{session_id}/{phase}", {})
        target = rows["target"]
        labelled = bool(target.notna().all()) and len(rows) > 0
        own = sorted(set(rows.loc[target.fillna(0) == 1, "item"].astype(int)))
        shown = tuple(int(v) for v in meta.get("shown_items", sorted(set(epochs.items))))
        out.append(FeaturePhase(epochs=epochs, shown_items=shown,
                                probe=own[0] if labelled and own else None,
                                labelled=labelled))
    return out


def _layout_from_columns(rows: pd.DataFrame) -> tuple[list[str], np.ndarray, list[str]]:
    """Channels, times (s) and column order from feature column names with values."""
    ch_names: list[str] = []
    stamps: dict[str, float] = {}
    for name in rows.columns:
        match = _FEATURE_NAME.match(str(name))
        if match is None or rows[name].isna().all():
            continue
        if match["ch"] not in ch_names:
            ch_names.append(match["ch"])
        scale = 1e-3 if match["unit"] == "ms" else 1e-6
        stamps[name[len(match["ch"]) + 1:]] = int(match["value"]) * scale
    if not ch_names:
        raise InvalidInputError("The frame has no feature column (<ch>_t<ms>ms).",
                                field="frame")
    order = sorted(stamps, key=stamps.__getitem__)
    times = np.array([stamps[s] for s in order])
    return ch_names, times, [f"{ch}_{s}" for ch in ch_names for s in order]
