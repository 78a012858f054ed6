"""Simulated subjects: levels as documented, P300 only to own items, determinism."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import InvalidInputError
from brain_core.models import Recording
from brain_sim.simulate import (
    PRESETS,
    SignalGenerator,
    channel_positions,
    make_subject,
    simulate_dataset,
    simulate_recording,
    simulate_session,
    write_simulated_dataset,
)

YEARS = (1960, 1999)


# ----------------------------------------------------------------------------- measures


def band(data: np.ndarray, sfreq: float) -> np.ndarray:
    """0.5-20 Hz, zero phase: the band in which the presets state their levels."""
    high = butter(4, 0.5, "highpass", fs=sfreq, output="sos")
    low = butter(8, 20.0, "lowpass", fs=sfreq, output="sos")
    return sosfiltfilt(low, sosfiltfilt(high, data.astype(float), axis=-1), axis=-1)


def background_rms(recording: Recording, x: np.ndarray, bad: tuple[str, ...]) -> float:
    """RMS of ``x`` (the recording in 0.5-20 Hz) over the good channels, leaving out 1-s
    windows with artifacts (a sample beyond 5 robust SDs), as one cleans real EEG before
    measuring it."""
    n = int(recording.sfreq)
    x = x[:, 2 * n:-2 * n]  # filter edges
    windows = x[:, : x.shape[1] // n * n].reshape(x.shape[0], -1, n)
    sd = 1.4826 * np.median(np.abs(x - np.median(x, axis=1, keepdims=True)), axis=1)
    clean = np.abs(windows).max(axis=-1) < 5 * sd[:, None]
    power = [(windows[i][clean[i]] ** 2).mean()
             for i, ch in enumerate(recording.ch_names) if ch not in bad]
    return float(np.sqrt(np.mean(power)))


def p300_peak(recording: Recording, x: np.ndarray, subject) -> tuple[float, float]:
    """The P300 of the probe-minus-irrelevant average of ``x`` (the recording in
    0.5-20 Hz) at the subject's strongest good channel, scaled to the montage's strongest
    channel.

    Returns the amplitude (V) around the subject's latency (±20 ms; the maximum of a noisy
    average would be biased upwards) and the latency (s) of the maximum in 250-700 ms.
    Epochs with artifacts (>15 background SDs peak to peak) are left out.
    """
    sfreq = recording.sfreq
    lags = np.arange(int(-0.1 * sfreq), int(0.8 * sfreq))
    onsets = np.array([round(e.onset * sfreq) for e in recording.events])
    topography = np.array(subject.p300_topography)
    good = [ch not in subject.bad_channels for ch in recording.ch_names]
    ch = int(np.argmax(topography * good))
    epochs = x[ch][onsets[:, None] + lags[None, :]]
    keep = np.ptp(epochs, axis=1) < 15 * subject.background_rms_v
    probe = np.array([subject.recognizes(recording.phase, e.value) for e in recording.events])
    difference = epochs[probe & keep].mean(axis=0) - epochs[~probe & keep].mean(axis=0)
    t = lags / sfreq
    near = np.abs(t - subject.p300_latency_s) <= 0.02
    window = (t >= 0.25) & (t <= 0.7)
    latency = t[window][np.argmax(difference[window])]
    return float(difference[near].mean() / topography[ch]), float(latency)


# ----------------------------------------------------------------------------- presets


def test_presets_are_frozen_and_ordered_from_easy_to_hard():
    assert list(PRESETS) == ["easy", "realistic", "hard"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["easy"].pop_rate = 1.0  # type: ignore[misc]
    p300 = [PRESETS[k].p300_amplitude_v for k in PRESETS]
    noise = [PRESETS[k].background_rms_v for k in PRESETS]
    assert p300[0][0] > p300[1][1] and p300[1][0] > p300[2][0]
    assert noise[0][1] < noise[1][0] and noise[1][1] < noise[2][1]
    for preset in PRESETS.values():
        for name, value in vars(preset).items():
            if isinstance(value, tuple):
                assert value[0] <= value[1], (preset.name, name)


@pytest.mark.parametrize(("preset", "n_subjects", "tolerance"), [
    ("easy", 2, 0.2),
    ("realistic", 4, 0.5),
    pytest.param("hard", 6, 1.0, marks=pytest.mark.slow),
])
def test_measured_levels_fall_in_the_preset_range(preset, n_subjects, tolerance):
    """Background RMS and P300 amplitude measured on simulated recordings, 0.5-20 Hz.

    The month phase (12 items) gives the most probe epochs per second of recording. A
    P300 measured from 40-200 epochs is only as exact as the background allows: each
    subject's within ``tolerance``, their mean within 20 %.
    """
    p = PRESETS[preset]
    repetitions = 40 if preset == "easy" else 200
    ratios = []
    for index in range(n_subjects):
        subject = make_subject(f"S{index + 1}", preset=preset, seed=11, years=YEARS)
        recording = simulate_recording(subject, "month", repetitions=repetitions, seed=11)

        x = band(recording.data, recording.sfreq)
        rms = background_rms(recording, x, subject.bad_channels)
        assert p.background_rms_v[0] <= subject.background_rms_v <= p.background_rms_v[1]
        assert rms == pytest.approx(subject.background_rms_v, rel=0.15)
        assert 0.85 * p.background_rms_v[0] <= rms <= 1.15 * p.background_rms_v[1]

        amplitude, latency = p300_peak(recording, x, subject)
        assert p.p300_amplitude_v[0] <= subject.p300_amplitude_v <= p.p300_amplitude_v[1]
        assert amplitude == pytest.approx(subject.p300_amplitude_v, rel=tolerance)
        ratios.append(amplitude / subject.p300_amplitude_v)
        if preset == "easy":
            assert 0.8 * p.p300_amplitude_v[0] <= amplitude <= 1.2 * p.p300_amplitude_v[1]
            assert latency == pytest.approx(subject.p300_latency_s, abs=0.05)
    assert np.mean(ratios) == pytest.approx(1.0, abs=0.2)


# ----------------------------------------------------------------------------- subjects


def test_make_subject_is_deterministic_and_depends_on_seed_and_label():
    a = make_subject("S01", preset="realistic", seed=3, years=YEARS)
    assert a == make_subject("S01", preset="realistic", seed=3, years=YEARS)
    assert a != make_subject("S01", preset="realistic", seed=4, years=YEARS)
    assert a.birthdate != make_subject("S02", preset="realistic", seed=3, years=YEARS).birthdate
    assert YEARS[0] <= a.birthdate.year <= YEARS[1]
    assert not a.innocent
    assert "birthdate=<hidden>" in repr(a) and str(a.birthdate.year) not in repr(a)


def test_birthdates_are_spread_over_the_whole_range():
    dates = [make_subject(f"S{i}", seed=0, years=YEARS).birthdate for i in range(200)]
    assert {d.month for d in dates} == set(range(1, 13))
    assert len({d.day for d in dates}) >= 28
    assert min(d.year for d in dates) < 1965 and max(d.year for d in dates) > 1994


def test_innocent_subject_recognizes_no_year_but_their_day_and_month():
    subject = make_subject("S07", seed=1, years=YEARS, innocent=True)
    assert subject.innocent
    assert not YEARS[0] <= subject.birthdate.year <= YEARS[1]
    assert not any(subject.recognizes("year", y) for y in range(YEARS[0], YEARS[1] + 1))
    assert subject.recognizes("day", subject.birthdate.day)
    assert subject.recognizes("month", subject.birthdate.month)

    recording = simulate_recording(subject, "year", repetitions=10, seed=1)
    generator = SignalGenerator(subject, seed=1)
    late = slice(int(0.3 * 256), int(0.6 * 256))
    top = int(np.argmax(subject.p300_topography))
    peaks = [generator.response("year", e.value)[top, late].max() for e in recording.events[:50]]
    assert max(peaks) < 0.2 * subject.p300_amplitude_v


def test_forced_birthdate_sets_innocence_from_the_year_range():
    guilty = make_subject("S01", birthdate=date(1980, 2, 29), years=YEARS)
    innocent = make_subject("S01", birthdate=date(2005, 1, 1), years=YEARS)
    assert guilty.birthdate == date(1980, 2, 29) and not guilty.innocent
    assert innocent.innocent


def test_innocent_needs_a_year_outside_the_range():
    with pytest.raises(InvalidInputError, match="'years' parameter.*no birth year outside"):
        make_subject("S01", years=(1900, 2099), innocent=True)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"subject": "sub-01"}, "'subject' parameter"),
    ({"preset": "medium"}, "'preset' parameter. Allowed values are 'easy'"),
    ({"seed": -1}, "'seed' parameter"),
    ({"years": (2000, 1990)}, "end_year"),
    ({"ch_names": ("C3", "C3")}, "'ch_names' parameter"),
])
def test_make_subject_rejects_bad_arguments(kwargs, match):
    kwargs = {"subject": "S01", **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        make_subject(kwargs.pop("subject"), **kwargs)


def test_p300_is_centro_parietal_on_the_crown():
    for i in range(20):
        subject = make_subject(f"S{i}", seed=5)
        topography = dict(zip(subject.ch_names, subject.p300_topography, strict=True))
        assert max(topography, key=topography.get) in {"CP3", "CP4", "PO3", "PO4"}
        assert topography["F5"] < 0.15 and topography["F6"] < 0.15
    # ...and subject-specific.
    assert make_subject("S1", seed=5).p300_topography != make_subject("S2", seed=5).p300_topography


def test_bad_channels_per_preset():
    easy = [make_subject(f"S{i}", preset="easy", seed=2).bad_channels for i in range(100)]
    realistic = [make_subject(f"S{i}", preset="realistic", seed=2).bad_channels
                 for i in range(200)]
    hard = [make_subject(f"S{i}", preset="hard", seed=2).bad_channels for i in range(50)]
    assert not any(easy)
    assert 0.2 <= np.mean([len(b) == 1 for b in realistic]) <= 0.4
    assert all(len(b) == 0 for b in realistic if len(b) != 1)
    assert all(2 <= len(b) <= 3 for b in hard)


# ----------------------------------------------------------------------------- signal


def test_response_has_a_p300_only_for_own_items():
    subject = make_subject("S03", seed=9, years=YEARS)
    generator = SignalGenerator(subject, seed=9)
    top = int(np.argmax(subject.p300_topography))
    t = np.arange(generator.response_n_times) / generator.sfreq
    late = (t > 0.25) & (t < 0.7)
    for phase in ("day", "month", "year"):
        own = subject.own_item(phase)
        other = own + 1 if phase != "year" or own < YEARS[1] else own - 1
        other = 1 if phase == "day" and own == 31 else other
        other = 1 if phase == "month" and own == 12 else other
        own_peak = np.mean([generator.response(phase, own)[top, late].max() for _ in range(30)])
        other_peak = np.max([generator.response(phase, other)[top, late].max()
                             for _ in range(30)])
        assert own_peak > 0.8 * subject.p300_amplitude_v
        assert other_peak < 0.2 * subject.p300_amplitude_v
    # The visual response is there for every stimulus, at the back of the head.
    vep = np.mean([generator.response("day", 2 if own != 2 else 3) for _ in range(10)], axis=0)
    early = (t > 0.05) & (t < 0.25)
    po = subject.ch_names.index("PO3")
    f5 = subject.ch_names.index("F5")
    assert np.ptp(vep[po, early]) > 1e-6 > np.ptp(vep[f5, early])


def test_background_continues_seamlessly_across_chunks():
    subject = make_subject("S04", preset="hard", seed=6)
    whole = SignalGenerator(subject, seed=6).background(5000)
    generator = SignalGenerator(subject, seed=6)
    sizes = [1, 15, 16, 1000, 7, 2961, 1000]
    pieces = np.concatenate([generator.background(n) for n in sizes], axis=1)
    assert generator.n_times_done == 5000
    np.testing.assert_allclose(pieces, whole, rtol=0, atol=1e-12)


def test_recording_follows_the_contract_and_is_deterministic():
    subject = make_subject("S05", preset="realistic", seed=7, years=YEARS)
    recording = simulate_recording(subject, "day", repetitions=3, seed=7)
    assert recording.data.dtype == np.float32
    assert recording.ch_names == CROWN_CH_NAMES and recording.sfreq == 256.0
    assert recording.phase == "day" and recording.paradigm.items == tuple(range(1, 32))
    assert len(recording.events) == 31 * 3
    assert recording.events[0].onset >= 1.0
    assert recording.duration_s >= recording.events[-1].onset + 0.5 + 1.4
    assert np.abs(recording.data).max() < 0.05  # volts: offsets are a few mV at most
    again = simulate_recording(subject, "day", repetitions=3, seed=7)
    assert again == recording
    other = simulate_recording(subject, "day", repetitions=3, seed=8)
    assert not np.array_equal(other.data, recording.data)


def test_blinks_are_frontal_and_large():
    subject = make_subject("S06", preset="realistic", seed=8)
    assert 0.2 <= subject.blink_rate <= 0.4
    data = band(SignalGenerator(subject, seed=8).background(60 * 256), 256.0)
    # The 99.5th percentile: the blinks' level, not a rare pop's.
    level = dict(zip(CROWN_CH_NAMES, np.percentile(np.abs(data), 99.5, axis=1), strict=True))
    assert subject.bad_channels == ()
    others = np.median([level[ch] for ch in CROWN_CH_NAMES if ch not in ("F5", "F6")])
    for ch in ("F5", "F6"):
        assert level[ch] > 50e-6 and level[ch] > 3 * others


def test_line_noise_alpha_and_spatial_correlation():
    subject = make_subject("S08", preset="realistic", seed=4)
    data = SignalGenerator(subject, seed=4).background(120 * 256)
    freqs, psd = welch(data, fs=256.0, nperseg=1024, axis=-1)
    line = np.argmin(np.abs(freqs - subject.line_freq))
    neighbours = (np.abs(freqs - subject.line_freq) > 3) & (np.abs(freqs - subject.line_freq) < 8)
    assert (psd[:, line] > 100 * psd[:, neighbours].mean(axis=1)).all()

    clean = SignalGenerator(subject, seed=4, artifacts=False).background(120 * 256)
    freqs, psd = welch(clean, fs=256.0, nperseg=1024, axis=-1)
    alpha = (freqs >= 7) & (freqs <= 13)
    po3, f5 = CROWN_CH_NAMES.index("PO3"), CROWN_CH_NAMES.index("F5")
    assert psd[po3, alpha].sum() > 2 * psd[f5, alpha].sum()
    peak = freqs[alpha][np.argmax(psd[po3, alpha])]
    assert abs(peak - subject.alpha_freq) < 1.0

    corr = np.corrcoef(band(clean, 256.0))
    name = {ch: i for i, ch in enumerate(CROWN_CH_NAMES)}
    assert corr[name["CP3"], name["C3"]] > corr[name["CP3"], name["CP4"]] + 0.1
    assert corr[name["F5"], name["C3"]] > corr[name["F5"], name["PO4"]]


def test_pops_and_bad_channels():
    preset = dataclasses.replace(PRESETS["easy"], pop_rate=0.5, pop_amplitude_v=(500e-6, 500e-6))
    subject = make_subject("S09", preset=preset, seed=1)
    data = SignalGenerator(subject, preset, seed=1).background(20 * 256)
    jumps = np.abs(np.diff(data, axis=1))
    assert (jumps > 400e-6).sum() >= 3  # steps of 500 µV, one sample wide

    hard = make_subject("S09", preset="hard", seed=1)
    data = band(SignalGenerator(hard, seed=1).background(30 * 256), 256.0)
    bad = np.array([ch in hard.bad_channels for ch in CROWN_CH_NAMES])
    rms = np.sqrt((data[:, 512:-512] ** 2).mean(axis=1))
    assert rms[bad].min() > 3 * np.median(rms[~bad])


def test_any_channel_set_and_sampling_rate():
    names = ("Fp1", "Fz", "Cz", "Pz", "Oz", "P3", "P4", "EEG1", "EEG2")
    positions = channel_positions(names)
    assert positions.shape == (9, 3) and len({tuple(p) for p in positions}) == 9
    subject = make_subject("S10", seed=2, ch_names=names)
    recording = simulate_recording(subject, "month", repetitions=2, sfreq=500.0, seed=2)
    assert recording.ch_names == names and recording.sfreq == 500.0
    topography = dict(zip(names, subject.p300_topography, strict=True))
    assert topography["Pz"] == max(topography.values()) or topography["Pz"] > 0.8
    # A subject drawn for the Crown can be recorded with another montage.
    crown = make_subject("S10", seed=2)
    other = simulate_recording(crown, "month", repetitions=2, ch_names=names, seed=2)
    assert other.ch_names == names
    with pytest.raises(InvalidInputError, match="'sfreq' parameter"):
        SignalGenerator(crown, sfreq=30.0)


def test_session_and_dataset():
    subject = make_subject("S11", seed=3, years=YEARS)
    recordings, label = simulate_session(subject, repetitions=2, seed=3)
    assert [r.phase for r in recordings] == ["day", "month", "year"]
    assert len({r.session_id for r in recordings}) == 1
    assert label.session_id == recordings[0].session_id and label.birthdate == subject.birthdate
    assert recordings[0].meas_date < recordings[1].meas_date < recordings[2].meas_date
    assert recordings[2].paradigm.items == tuple(range(YEARS[0], YEARS[1] + 1))

    sessions = list(simulate_dataset(10, seed=3, repetitions=1, years=YEARS,
                                     innocent_fraction=0.2, phases=("month",)))
    labels = [label for _, label in sessions]
    assert [label.subject for label in labels] == [f"S{i:02d}" for i in range(1, 11)]
    outside = [not YEARS[0] <= lab.birthdate.year <= YEARS[1] for lab in labels]
    assert sum(outside) == 2
    assert all(len(s) == 1 and s[0].phase == "month" for s, _ in sessions)
    assert len({label.session_id for label in labels}) == 10
    with pytest.raises(InvalidInputError, match="'innocent_fraction' parameter"):
        next(simulate_dataset(2, innocent_fraction=1.5))
    with pytest.raises(InvalidInputError, match="'phase' parameter"):
        simulate_recording(subject, "week")


def test_write_simulated_dataset_round_trips_through_bids(tmp_path):
    from brain_core import bids

    root = write_simulated_dataset(tmp_path / "sim", 2, seed=4, repetitions=1, years=YEARS,
                                   innocent_fraction=0.0, progress=False)
    labels = bids.read_labels(root)
    expected = {label.subject: label.birthdate for _, label in
                simulate_dataset(2, seed=4, repetitions=1, years=YEARS, innocent_fraction=0.0)}
    assert labels == expected
    paths = bids.find_recordings(root)
    assert len(paths) == 6
    first = next(iter(simulate_dataset(1, seed=4, repetitions=1, years=YEARS,
                                       innocent_fraction=0.0)))[0][0]
    stored = bids.recording_path(root, first.subject, first.session_id, first.phase)
    assert stored in paths
    assert bids.read_recording(stored) == first


def test_cli_simulate_writes_a_labelled_dataset(tmp_path):
    from typer.testing import CliRunner

    from brain_core import bids
    from brain_core.cli import build_app

    out = tmp_path / "cli"
    result = CliRunner().invoke(build_app(), [
        "simulate", "--subjects", "2", "--preset", "realistic", "--seed", "1", "--out",
        str(out), "--repetitions", "1", "--innocent-fraction", "0.5", "--start-year", "1970",
        "--end-year", "1979", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "1 innocent" in result.output and "6 (day, month and year" in result.output
    assert len(bids.read_labels(out)) == 2
    result = CliRunner().invoke(build_app(), ["simulate", "--out", str(out), "--preset", "x"])
    assert result.exit_code != 0 and "'x' is not one of" in result.output
