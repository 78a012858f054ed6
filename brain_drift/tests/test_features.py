"""Per-session features: known signals give known numbers."""

import math

import numpy as np
import pytest

from brain_core.errors import InvalidInputError
from brain_drift.features import (
    feature_columns,
    feature_names,
    recording_features,
    session_row,
    session_table,
    spectral_features,
)
from brain_drift.scenarios import simulate_sessions

SFREQ = 256.0
CH = ("C3", "C4")


def _sine(freq_hz: float, amplitude_v: float, seconds: float = 20.0) -> np.ndarray:
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    return amplitude_v * np.sin(2 * np.pi * freq_hz * t)


def test_band_and_line_powers_are_in_uv2():
    rng = np.random.default_rng(0)
    white = rng.normal(0, 10e-6, int(60 * SFREQ))  # 100 µV² spread over 0-128 Hz
    data = np.vstack([white, _sine(50.0, 20e-6, 60.0) + 0.1e-6 * white])
    f = spectral_features(data, SFREQ, CH)
    # White noise: power in proportion to the band width (alpha is 5 Hz of 128 Hz).
    assert 10 ** f["alpha_log_uv2:C3"] == pytest.approx(100 * 5 / 128, rel=0.1)
    assert 10 ** f["beta_log_uv2:C3"] == pytest.approx(100 * 17 / 128, rel=0.1)
    # A sine of amplitude A has power A^2 / 2: 200 µV².
    assert 10 ** f["line_log_uv2:C4"] == pytest.approx(200, rel=0.02)
    assert f["alpha_log_uv2:C4"] < -2
    assert f["line_log_uv2:median"] == pytest.approx(
        np.median([f["line_log_uv2:C3"], f["line_log_uv2:C4"]]))


def test_amplitude_distribution_of_a_sine():
    data = np.vstack([_sine(10.0, 20e-6), _sine(12.0, 5e-6)])
    f = spectral_features(data, SFREQ, CH)
    # The robust std of a sine is 1.4826 x MAD = 1.4826 x A / sqrt(2); kurtosis is -1.5.
    assert 10 ** f["rstd_log_uv:C3"] == pytest.approx(1.4826 * 20 / math.sqrt(2), rel=0.05)
    assert 10 ** f["rstd_log_uv:C4"] == pytest.approx(1.4826 * 5 / math.sqrt(2), rel=0.05)
    assert f["kurtosis:C3"] == pytest.approx(-1.5, abs=0.1)


def test_scaling_the_signal_moves_powers_not_shapes():
    data = np.random.default_rng(1).normal(0, 10e-6, (2, int(20 * SFREQ)))
    data[0, 1000:1100] += 150e-6  # a blink-like bump gives a heavy tail
    base, scaled = spectral_features(data, SFREQ, CH), spectral_features(10 * data, SFREQ, CH)
    for band in ("delta", "theta", "alpha", "beta", "line"):
        assert scaled[f"{band}_log_uv2:C3"] - base[f"{band}_log_uv2:C3"] == pytest.approx(2.0)
    assert scaled["rstd_log_uv:C4"] - base["rstd_log_uv:C4"] == pytest.approx(1.0)
    assert scaled["kurtosis:C3"] == pytest.approx(base["kurtosis:C3"], rel=1e-6)
    assert base["kurtosis:C3"] > 1 > abs(base["kurtosis:C4"])


def test_bands_above_nyquist_are_nan_and_flat_channels_stay_finite():
    data = np.zeros((2, 2000))
    data[1] = np.random.default_rng(2).normal(0, 5e-6, 2000)
    f = spectral_features(data, 100.0, CH)  # Nyquist 50 Hz: no 60 Hz line band
    assert math.isnan(f["line_log_uv2:C4"])
    assert math.isfinite(f["beta_log_uv2:C3"]) and math.isnan(f["kurtosis:C3"])


def test_shape_mismatch_names_the_parameter():
    with pytest.raises(InvalidInputError, match="'data' parameter"):
        spectral_features(np.zeros((3, 100)), SFREQ, CH)


def test_a_simulated_recording_has_every_feature():
    (recording,) = simulate_sessions(1, seed=4, repetitions=2)
    features = recording_features(recording)
    assert list(features) == feature_names(recording.ch_names)
    assert all(math.isfinite(v) for v in features.values())
    assert 0 <= features["rejected_share"] <= 1


def test_epoch_features_are_nan_without_events(make_recording):
    recording = make_recording("month").model_copy(update={"events": ()})
    features = recording_features(recording)
    assert math.isnan(features["erp_late_log_uv"]) and math.isnan(features["rejected_share"])
    assert math.isfinite(features["alpha_log_uv2:C3"])


def test_a_session_row_is_the_mean_of_its_phases():
    row = session_row("s1", "S01", [{"a": 1.0, "b": math.nan}, {"a": 3.0, "b": 2.0}])
    assert row == {"session_id": "s1", "subject": "S01", "n_recordings": 2, "a": 2.0, "b": 2.0}
    with pytest.raises(InvalidInputError, match="no recording"):
        session_row("s2", "S01", [])


def test_session_table_has_one_row_per_session():
    recordings = list(simulate_sessions(2, seed=5, phases=("day", "month"), repetitions=1))
    table = session_table(recordings)
    assert len(table) == 2 and list(table["n_recordings"]) == [2, 2]
    assert feature_columns(table) == feature_names(recordings[0].ch_names)
