"""Feature files: the Parquet schema, targets, and rebuilding epoch sets."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from brain_data.tests.helpers import tiny_recording
from brain_transform_service.transform import TransformConfig, transform_recording
from brain_transformer_pipeline.features import (
    ID_COLUMNS,
    epochs_to_table,
    epochsets_from_frame,
    feature_columns,
    feature_phases,
    read_feature_file,
    relabel,
    table_bytes,
    table_metadata,
)

PROVENANCE = {"transform_version": "1", "transform_config": {}, "raw_content": "abc"}


@pytest.fixture(scope="module")
def epochs():
    return transform_recording(tiny_recording(1, phase="day", repetitions=3),
                               TransformConfig())


def _frame(payload: bytes) -> pd.DataFrame:
    frame, meta = read_feature_file(io.BytesIO(payload))
    frame.attrs["brain"] = {f"{meta['session_id']}/{meta['phase']}": meta}
    return frame


def test_one_row_per_epoch_with_ids_targets_and_named_features(epochs):
    table = epochs_to_table(epochs, birthdate=date(1990, 5, 17), shown_items=(3, 17, 28),
                            provenance=PROVENANCE)
    frame = _frame(table_bytes(table))
    n_features = epochs.n_channels * epochs.n_times
    assert frame.shape == (epochs.n_epochs, len(ID_COLUMNS) + n_features)
    assert tuple(frame.columns[:len(ID_COLUMNS)]) == ID_COLUMNS
    assert frame.columns[len(ID_COLUMNS)] == "CP3_t-0094ms"
    assert "CP3_t0125ms" in frame.columns and "CP4_t0781ms" in frame.columns
    assert str(frame["target"].dtype) == "Int8"
    # Day 17 is the subject's own day: target 1 on its epochs only.
    np.testing.assert_array_equal(frame["target"].to_numpy(int), epochs.items == 17)
    np.testing.assert_array_equal(frame["item"], epochs.items)
    assert (frame["subject"] == "S01").all() and (frame["phase"] == "day").all()
    assert frame["session_id"].iloc[0] == str(epochs.session_id)
    # The features are the epoch's samples, channel-major.
    row = frame.iloc[2][list(feature_columns(epochs.ch_names, epochs.times))]
    np.testing.assert_array_equal(row.to_numpy(np.float32), epochs.data[2].ravel())
    meta = table_metadata(pq.read_table(io.BytesIO(table_bytes(table))))
    assert meta["shown_items"] == [3, 17, 28] and meta["raw_content"] == "abc"


def test_targets_are_null_without_a_label_and_filled_by_relabel(epochs):
    payload = table_bytes(epochs_to_table(epochs, birthdate=None, shown_items=(3, 17, 28),
                                          provenance=PROVENANCE))
    assert _frame(payload)["target"].isna().all()
    labelled = _frame(relabel(payload, date(2001, 1, 28)))
    np.testing.assert_array_equal(labelled["target"].to_numpy(int), epochs.items == 28)
    unlabelled = _frame(relabel(relabel(payload, date(2001, 1, 28)), None))
    assert unlabelled["target"].isna().all()


def test_epoch_sets_rebuild_exactly(epochs):
    frame = _frame(table_bytes(epochs_to_table(epochs, birthdate=None, shown_items=(3,),
                                               provenance=PROVENANCE)))
    [rebuilt] = epochsets_from_frame(frame.sample(frac=1.0, random_state=0))
    for name in ("data", "times", "items", "onsets", "weights"):
        np.testing.assert_array_equal(getattr(rebuilt, name), getattr(epochs, name))
    assert (rebuilt.sfreq, rebuilt.ch_names, rebuilt.phase, rebuilt.subject,
            rebuilt.session_id, rebuilt.bad_channels, rebuilt.report) == (
        epochs.sfreq, epochs.ch_names, epochs.phase, epochs.subject, epochs.session_id,
        epochs.bad_channels, epochs.report)
    # Without the metadata, names still give channels and (rounded) times.
    frame.attrs = {}
    [approx] = epochsets_from_frame(frame)
    np.testing.assert_array_equal(approx.data, epochs.data)
    np.testing.assert_allclose(approx.times, epochs.times, atol=5e-4)


def test_the_same_epochs_give_the_same_bytes(epochs):
    tables = [epochs_to_table(epochs, birthdate=date(1990, 1, 3), shown_items=(3, 17, 28),
                              provenance=PROVENANCE) for _ in range(2)]
    assert table_bytes(tables[0]) == table_bytes(tables[1])


def test_names_switch_to_microseconds_when_milliseconds_collide():
    assert feature_columns(["Cz"], np.array([-0.1, 0.0, 0.125])) == [
        "Cz_t-0100ms", "Cz_t0000ms", "Cz_t0125ms"]
    fine = feature_columns(["Cz"], np.array([0.0, 0.0005, 0.001]))
    assert fine == ["Cz_t0000000us", "Cz_t0000500us", "Cz_t0001000us"]


def test_feature_phases_name_the_probe_only_when_labelled(epochs):
    labelled = _frame(table_bytes(epochs_to_table(
        epochs, birthdate=date(1990, 5, 17), shown_items=(3, 17, 28), provenance=PROVENANCE)))
    innocent = _frame(table_bytes(epochs_to_table(
        epochs, birthdate=date(1990, 5, 4), shown_items=(3, 17, 28), provenance=PROVENANCE)))
    unknown = _frame(table_bytes(epochs_to_table(
        epochs, birthdate=None, shown_items=(3, 17, 28), provenance=PROVENANCE)))
    [phase] = feature_phases(labelled)
    assert (phase.probe, phase.labelled, phase.shown_items) == (17, True, (3, 17, 28))
    assert phase.epochs.n_epochs == epochs.n_epochs
    assert [(p.probe, p.labelled) for p in feature_phases(innocent)] == [(None, True)]
    assert [(p.probe, p.labelled) for p in feature_phases(unknown)] == [(None, False)]
