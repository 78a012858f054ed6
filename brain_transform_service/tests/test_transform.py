"""Tests of the transform library: shapes and units, filters, bad channels, artifacts."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import InvalidInputError
from brain_core.models import Device, Event, Recording
from brain_core.paradigm import make_paradigm, make_schedule
from brain_transform_service import preprocessing
from brain_transform_service.transform import (
    EpochSet,
    TransformConfig,
    transform_many,
    transform_recording,
)

UV = 1e-6
ITEMS = (3, 17, 25)
POSTERIOR = ("CP3", "PO3", "PO4", "CP4")
FRONTAL = ("F5", "F6")

Signal = Callable[[np.ndarray, tuple[Event, ...]], np.ndarray]


def make_recording(
    sfreq: float = 256.0,
    *,
    signal: Signal | None = None,
    noise: float = 5 * UV,
    items: tuple[int, ...] = ITEMS,
    repetitions: int = 10,
    lead_s: float = 1.5,
    tail_s: float = 1.5,
    ch_names: tuple[str, ...] = CROWN_CH_NAMES,
    seed: int = 0,
    untimed: bool = False,
) -> Recording:
    """A day-phase recording: white noise (``noise`` V std) plus ``signal(t, events)``."""
    paradigm = make_paradigm("day", items=items, repetitions=repetitions, seed=seed)
    events = make_schedule(paradigm, lead_s=lead_s).events("day")
    n_times = int((events[-1].onset + tail_s) * sfreq)
    t = np.arange(n_times) / sfreq
    rng = np.random.default_rng(seed)
    data = noise * rng.standard_normal((len(ch_names), n_times))
    if signal is not None:
        data = data + signal(t, events)
    return Recording(
        session_id=uuid.UUID(int=seed + 1),
        subject="sub01",
        phase="day",
        sfreq=sfreq,
        ch_names=ch_names,
        data=data.astype(np.float32),
        meas_date=datetime(2026, 1, 2, tzinfo=UTC),
        events=events,
        device=Device(name="test", board_id=None),
        paradigm=paradigm,
        software_version="test",
        untimed=untimed,
    )


def rows(names: tuple[str, ...], ch_names: tuple[str, ...] = CROWN_CH_NAMES) -> list[int]:
    return [ch_names.index(n) for n in names]


def on_channels(names: tuple[str, ...], waveform: np.ndarray) -> np.ndarray:
    out = np.zeros((len(CROWN_CH_NAMES), len(waveform)))
    out[rows(names)] = waveform
    return out


def gaussian(t: np.ndarray, centre: float, width: float, amplitude: float) -> np.ndarray:
    return amplitude * np.exp(-0.5 * ((t - centre) / width) ** 2)


# -- shapes, dtypes, units -----------------------------------------------------------


def test_epochs_have_documented_shapes_dtypes_and_units():
    recording = make_recording()
    epochs = transform_recording(recording)
    n_events = len(recording.events)

    assert epochs.data.shape == (n_events, 8, 29)
    assert (epochs.n_epochs, epochs.n_channels, epochs.n_times) == (n_events, 8, 29)
    assert epochs.data.dtype == np.float32
    assert epochs.weights.dtype == np.float32
    assert epochs.items.dtype == np.int64
    assert epochs.onsets.dtype == np.float64
    np.testing.assert_array_equal(epochs.times, np.arange(-3, 26) / 32.0)
    assert epochs.times[0] >= -0.1 and epochs.times[-1] <= 0.8
    assert epochs.sfreq == 32.0
    assert epochs.ch_names == CROWN_CH_NAMES
    assert (epochs.phase, epochs.subject) == ("day", "sub01")
    assert epochs.session_id == recording.session_id
    np.testing.assert_array_equal(epochs.items, [e.value for e in recording.events])
    np.testing.assert_array_equal(epochs.onsets, [e.onset for e in recording.events])
    np.testing.assert_array_equal(epochs.weights, 1.0)
    # Volts: 5 µV white noise band-limited to ~14 Hz is about 1-2 µV, not 1-2 (µV units).
    assert 0.3 * UV < float(epochs.data.std()) < 5 * UV
    # Baselined: the mean over the baseline samples (-94 to 0 ms) is ~0.
    in_baseline = (epochs.times >= -0.1) & (epochs.times <= 0.0)
    assert abs(float(epochs.data[..., in_baseline].mean())) < 0.1 * UV
    report = epochs.report
    assert report["n_events"] == report["n_epochs"] == n_events
    assert report["n_skipped"] == report["n_rejected"] == 0
    assert report["epochs_per_item"] == {"3": 10, "17": 10, "25": 10}
    assert report["untimed"] is False
    assert report["sfreq_in"] == 256.0
    json.dumps(report)  # JSON-ready


def test_same_input_gives_byte_identical_output():
    recording = make_recording()
    first = transform_recording(recording)
    second = transform_recording(recording)
    batch = transform_many([recording, recording])
    for other in (second, *batch):
        for name in ("data", "times", "items", "onsets", "weights"):
            assert getattr(first, name).tobytes() == getattr(other, name).tobytes()
        assert json.dumps(first.report) == json.dumps(other.report)


# -- filters -------------------------------------------------------------------------


@pytest.mark.parametrize("sfreq", [256.0, 250.0])
def test_in_band_sinusoid_passes_unchanged(sfreq):
    amplitude, freq = 10 * UV, 6.0
    phases = np.linspace(0, np.pi, 8)[:, None]

    def sinusoid(t, events):
        return amplitude * np.sin(2 * np.pi * freq * t[None, :] + phases)

    recording = make_recording(sfreq, signal=sinusoid, noise=0.0)
    config = TransformConfig(reference=None, baseline=None)
    epochs = transform_recording(recording, config)
    # Epochs start on the 128 Hz grid nearest to each onset.
    starts = np.rint(epochs.onsets * 128.0) / 128.0
    t = starts[:, None, None] + epochs.times[None, None, :]
    expected = amplitude * np.sin(2 * np.pi * freq * t + phases[None])
    np.testing.assert_allclose(epochs.data, expected, atol=0.03 * amplitude)


def test_common_average_reference_subtracts_the_good_channels_mean():
    amplitudes = np.arange(1, 9)[:, None] * UV  # 1-8 µV: mean 4.5 µV

    def graded(t, events):
        return amplitudes * np.sin(2 * np.pi * 6.0 * t)[None, :]

    recording = make_recording(signal=graded, noise=0.0)
    referenced = transform_recording(recording, TransformConfig(baseline=None))
    raw = transform_recording(recording, TransformConfig(baseline=None, reference=None))
    expected = raw.data - raw.data.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(referenced.data, expected, atol=1e-3 * UV)
    peak = np.abs(referenced.data).max(axis=(0, 2))
    np.testing.assert_allclose(peak, np.abs(amplitudes[:, 0] - 4.5 * UV), rtol=0.03)
    np.testing.assert_allclose(referenced.data.sum(axis=1), 0.0, atol=1e-3 * UV)


@pytest.mark.parametrize("sfreq", [256.0, 250.0])
@pytest.mark.parametrize("output_sfreq", [32.0, 128.0])
@pytest.mark.parametrize(
    ("grid", "bound"),
    [((50.0, 60.0), 0.05 * UV), ((50.1, 59.9), 0.25 * UV)],  # nominal, and 0.1 Hz off
)
def test_millivolt_line_noise_is_removed(sfreq, output_sfreq, grid, bound):
    scale = np.linspace(0.5, 1.5, 8)[:, None]  # unequal, so the average reference can't
    f50, f60 = grid

    def mains(t, events):
        wave = sum(
            peak * np.sin(2 * np.pi * f * t + f)
            for f, peak in ((f50, 1e-3), (f60, 1e-3), (2 * f50, 0.3e-3), (2 * f60, 0.3e-3))
        )
        return scale * wave[None, :]

    config = TransformConfig(output_sfreq=output_sfreq)
    clean = transform_recording(make_recording(sfreq), config)
    noisy = transform_recording(make_recording(sfreq, signal=mains), config)
    assert noisy.bad_channels == ()
    # Every epoch counts, the first and last (1.4 s and 0.7 s from the data ends) too.
    leak = np.abs(noisy.data.astype(np.float64) - clean.data).max()
    assert leak < bound, f"{leak / UV:.3f} µV of line noise leaked"
    np.testing.assert_array_equal(noisy.weights, 1.0)


def test_anti_alias_filter_is_flat_in_the_p300_band_and_stops_above_output_nyquist():
    from scipy import signal

    taps = preprocessing.design_anti_alias(128.0, 32.0)
    _, response = signal.freqz(taps, worN=[1.0, 5.0, 10.0, 12.0, 16.0, 30.0], fs=128.0)
    gain_db = 20 * np.log10(np.abs(response))
    assert np.abs(gain_db[:4]).max() < 0.1
    assert gain_db[4:].max() < -60


def test_line_harmonics_stay_below_nyquist_once_each():
    assert preprocessing.line_harmonics((50.0, 60.0), 250.0) == (50.0, 60.0, 100.0, 120.0)
    assert preprocessing.line_harmonics((50.0, 60.0), 128.0) == (50.0, 60.0)
    assert preprocessing.line_harmonics((50.0, 60.0), 700.0).count(300.0) == 1
    assert preprocessing.line_harmonics((), 256.0) == ()


# -- bad channels and artifacts ------------------------------------------------------


def test_flat_and_very_noisy_channels_are_marked_bad_and_zeroed():
    noise = 5 * UV

    def faults(t, events):
        out = np.zeros((8, len(t)))
        out[rows(("C3",))] = 3e-3  # a railed channel: a constant offset, no EEG
        out[rows(("PO4",))] = 40 * noise * np.random.default_rng(7).standard_normal(len(t))
        return out

    clean = transform_recording(make_recording(noise=noise))
    recording = make_recording(noise=noise, signal=faults)
    data = recording.data.copy()
    data[rows(("C3",))] = 3e-3  # exactly constant: remove the white noise too
    recording = recording.model_copy(update={"data": data})
    epochs = transform_recording(recording)

    assert epochs.bad_channels == ("C3", "PO4")
    assert epochs.report["flat_channels"] == ["C3"]
    assert epochs.report["noisy_channels"] == ["PO4"]
    assert epochs.ch_names == CROWN_CH_NAMES  # never dropped
    np.testing.assert_array_equal(epochs.data[:, rows(("C3", "PO4"))], 0.0)
    # The noisy channel does not leak into the others through the average reference.
    good = rows(("CP3", "F5", "PO3", "F6", "C4", "CP4"))
    assert epochs.data[:, good].std() < 1.5 * clean.data[:, good].std()
    np.testing.assert_array_equal(epochs.weights, 1.0)


def test_no_usable_channel_is_an_error():
    recording = make_recording(noise=0.0)
    with pytest.raises(InvalidInputError, match="no usable channel"):
        transform_recording(recording)


def blink_after(event: Event, amplitude: float = 300 * UV) -> Signal:
    def blink(t, events):
        return on_channels(FRONTAL, gaussian(t, event.onset + 0.3, 0.08, amplitude))

    return blink


def test_frontal_blink_gets_weight_zero_and_is_counted():
    probe = make_recording()
    target_index = 12
    target = probe.events[target_index]
    epochs = transform_recording(make_recording(signal=blink_after(target)))

    assert epochs.weights[target_index] == 0.0
    rejected = epochs.weights == 0
    assert 1 <= rejected.sum() <= 3  # the blink's epoch and at most its neighbours
    report = epochs.report
    assert report["n_rejected"] == int(rejected.sum())
    assert report["rejected_per_item"][str(target.value)] >= 1
    assert sum(report["rejected_per_item"].values()) == report["n_rejected"]
    assert report["max_ptp"] > 100 * UV
    # Without a threshold every epoch keeps weight 1.
    kept = transform_recording(
        make_recording(signal=blink_after(target)), TransformConfig(reject_ptp=None)
    )
    np.testing.assert_array_equal(kept.weights, 1.0)


def test_an_item_whose_epochs_all_blink_is_downweighted_not_emptied():
    items = tuple(range(10, 22))
    probe = make_recording(items=items, repetitions=4)
    item = 17
    blinked = [e for e in probe.events if e.value == item]

    def blinks(t, events):
        return sum(blink_after(e)(t, events) for e in blinked)

    epochs = transform_recording(make_recording(items=items, repetitions=4, signal=blinks))
    assert epochs.bad_channels == ()
    of_item = epochs.items == item
    assert ((epochs.weights[of_item] > 0) & (epochs.weights[of_item] < 1)).all()
    assert epochs.report["fallback_items"] == [item]
    assert epochs.report["n_downweighted"] == int(of_item.sum()) == 4
    assert epochs.report["rejected_per_item"][str(item)] == 0
    assert (epochs.weights[~of_item] == 1).sum() >= len(epochs.weights) - 3 * 4


# -- channels --------------------------------------------------------------------------


def test_channels_are_reordered_to_the_expected_set():
    recording = make_recording()
    shuffled_names = ("PO4", "AUX", "C4", "F5", "CP3", "CP4", "F6", "C3", "PO3")
    order = [CROWN_CH_NAMES.index(n) if n != "AUX" else -1 for n in shuffled_names]
    extra = np.random.default_rng(3).standard_normal((1, recording.n_times)) * 1e-3
    data = np.vstack([recording.data, extra.astype(np.float32)])[order]
    shuffled = recording.model_copy(update={"data": data, "ch_names": shuffled_names})

    config = TransformConfig(ch_names=CROWN_CH_NAMES)
    reordered = transform_recording(shuffled, config)
    reference = transform_recording(recording, config)
    assert reordered.ch_names == CROWN_CH_NAMES
    assert reordered.report["dropped_channels"] == ["AUX"]
    np.testing.assert_allclose(reordered.data, reference.data, rtol=1e-5, atol=1e-12)


def test_missing_expected_channel_is_named():
    config = TransformConfig(ch_names=(*CROWN_CH_NAMES, "Pz", "Oz"))
    message = r"lacks the expected channel\(s\) 'Pz', 'Oz'"
    with pytest.raises(InvalidInputError, match=message) as err:
        transform_recording(make_recording(), config)
    assert err.value.field == "ch_names"


# -- boards and timing -----------------------------------------------------------------


def test_250_hz_and_256_hz_recordings_give_the_same_epochs():
    def slow_wave(t, events):
        return 10 * UV * np.sin(2 * np.pi * 3.0 * t)[None, :] * np.linspace(-1, 1, 8)[:, None]

    cyton = transform_recording(make_recording(250.0, signal=slow_wave, noise=0.0))
    crown = transform_recording(make_recording(256.0, signal=slow_wave, noise=0.0))
    assert cyton.data.shape == crown.data.shape
    np.testing.assert_array_equal(cyton.times, crown.times)
    assert cyton.sfreq == crown.sfreq == 32.0
    np.testing.assert_allclose(cyton.data, crown.data, atol=0.3 * UV)


@pytest.mark.parametrize("sfreq", [256.0, 250.0])
def test_evoked_bump_peaks_at_its_latency(sfreq):
    # A P300-like bump after every showing of the probe item only: the paradigm never
    # shows an item twice in a row, so no probe response falls in a probe's baseline.
    latency, probe = 0.4, 17

    def p300(t, events):
        wave = sum(
            gaussian(t, e.onset + latency, 0.06, 10 * UV) for e in events if e.value == probe
        )
        return on_channels(POSTERIOR, wave)

    epochs = transform_recording(make_recording(sfreq, signal=p300, noise=4 * UV))
    is_probe = epochs.items == probe
    evoked = np.average(epochs.data[is_probe], axis=0, weights=epochs.weights[is_probe])
    for channel in rows(POSTERIOR):
        peak_time = epochs.times[np.argmax(evoked[channel])]
        assert abs(peak_time - latency) <= 1 / epochs.sfreq
    # Average reference over 8 channels, 4 with the bump: +5 µV there, -5 µV elsewhere.
    assert evoked[rows(POSTERIOR)].max(axis=-1).min() > 3 * UV
    assert evoked[rows(FRONTAL)].min(axis=-1).max() < -3 * UV
    others = np.average(epochs.data[~is_probe], axis=0, weights=epochs.weights[~is_probe])
    at_latency = np.argmin(np.abs(epochs.times - latency))
    difference = evoked[rows(POSTERIOR), at_latency] - others[rows(POSTERIOR), at_latency]
    assert (difference > 3 * UV).all()


def test_untimed_recording_still_transforms_and_says_so():
    epochs = transform_recording(make_recording(untimed=True))
    assert epochs.report["untimed"] is True
    assert epochs.n_epochs == 30


def test_epochs_past_the_data_ends_are_skipped_and_counted():
    recording = make_recording(lead_s=0.02, tail_s=0.5)
    epochs = transform_recording(recording)
    # The first onset is 0.02-0.07 s in (tmin = -0.1 s needs 0.094 s), and the last
    # window ends 0.3 s past the data.
    assert epochs.report["n_skipped"] == 2
    assert epochs.n_epochs == len(recording.events) - 2
    np.testing.assert_array_equal(epochs.onsets, [e.onset for e in recording.events][1:-1])


# -- errors ------------------------------------------------------------------------------


def test_sfreq_too_low_for_h_freq_is_an_error():
    with pytest.raises(InvalidInputError, match=r"Invalid value for the 'sfreq' parameter.*30 Hz"):
        transform_recording(make_recording(30.0))


def test_missing_events_are_an_error():
    recording = make_recording().model_copy(update={"events": ()})
    with pytest.raises(InvalidInputError, match="Invalid value for the 'events' parameter"):
        transform_recording(recording)


def test_too_short_recording_is_an_error():
    recording = make_recording()
    short = recording.model_copy(
        update={"data": recording.data[:, :100], "events": recording.events[:0]}
    )
    with pytest.raises(InvalidInputError, match="'data' parameter.*100 sample"):
        transform_recording(short)


def test_no_event_inside_the_data_is_an_error():
    recording = make_recording()
    early = recording.model_copy(update={"events": (Event(onset=0.02, phase="day", value=3),)})
    with pytest.raises(InvalidInputError, match="none of the 1 event"):
        transform_recording(early)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"h_freq": 0.4}, "'h_freq' parameter"),
        ({"h_freq": 70.0}, "'resample_sfreq' parameter"),
        ({"output_sfreq": 48.0}, "'output_sfreq' parameter"),
        ({"baseline": (-0.2, 0.0)}, "'baseline' parameter"),
        ({"line_freqs": (-50.0,)}, "'line_freqs' parameter"),
        ({"ch_names": ("C3", "C3")}, "'ch_names' parameter"),
        ({"reference": "mastoids"}, "reference"),
        ({"reject_ptp": 0.0}, "reject_ptp"),
    ],
)
def test_config_rejects_inconsistent_values(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        TransformConfig(**kwargs)


def test_config_is_frozen_and_documented():
    config = TransformConfig()
    with pytest.raises(ValidationError):
        config.h_freq = 30.0  # type: ignore[misc]
    assert config.decim == 4
    for name, field in TransformConfig.model_fields.items():
        assert field.description, f"{name} has no description"


# -- EpochSet ----------------------------------------------------------------------------


def test_epoch_set_round_trips_through_arrays_and_json():
    epochs = transform_recording(make_recording())
    arrays, metadata = epochs.to_arrays()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    with np.load(buffer) as loaded:
        restored = EpochSet.from_arrays(dict(loaded), json.loads(json.dumps(metadata)))
    for name in arrays:
        assert getattr(restored, name).tobytes() == arrays[name].tobytes()
        assert getattr(restored, name).dtype == arrays[name].dtype
    assert restored.session_id == epochs.session_id
    assert restored.ch_names == epochs.ch_names
    assert restored.report == epochs.report


def test_epoch_set_is_read_only_and_checks_shapes():
    epochs = transform_recording(make_recording())
    with pytest.raises(ValueError, match="read-only"):
        epochs.data[0, 0, 0] = 1.0
    arrays, metadata = epochs.to_arrays()
    arrays["weights"] = arrays["weights"][:-1]
    with pytest.raises(InvalidInputError, match="'weights' parameter.*shape"):
        EpochSet.from_arrays(arrays, metadata)
    del metadata["phase"]
    with pytest.raises(InvalidInputError, match="missing 'phase'"):
        EpochSet.from_arrays(epochs.to_arrays()[0], metadata)
