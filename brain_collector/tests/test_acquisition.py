"""Acquisition: the clock mapping, the simulated signal, and BrainFlow for real."""

from __future__ import annotations

import dataclasses
import socket
import time

import numpy as np
import pytest

from brain_collector.acquisition import (
    Acquisition,
    SimulatedSignal,
    board_seconds,
    open_acquisition,
    times_to_index,
)
from brain_core.devices import CROWN_CH_NAMES
from brain_sim.simulate import make_subject


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


def test_times_map_to_fractional_samples_across_a_gap():
    sfreq = 256.0
    timestamps = 100.0 + np.arange(512) / sfreq
    timestamps[256:] += 16 / sfreq  # a lost packet: 16 samples never arrived
    index = times_to_index(np.array([100.5, 100.0 + 300 / sfreq, 99.0, 110.0]), timestamps,
                           sfreq)
    assert index[0] == pytest.approx(128.0)
    assert index[1] == pytest.approx(284.0)  # after the gap, 16 samples fewer
    assert index[2] == pytest.approx(-256.0)  # before the stream: extrapolated at sfreq
    assert index[3] == pytest.approx(511 + (110.0 - timestamps[-1]) * sfreq)


def test_packet_stamped_timestamps_fall_back_to_a_line():
    sfreq = 256.0
    true = 50.0 + np.arange(64) / sfreq
    stamped = np.repeat(true[::16], 16)  # every sample carries its packet's first time
    index = times_to_index(np.array([50.0 + 32.5 / sfreq]), stamped, sfreq)
    assert index[0] == pytest.approx(32.5, abs=0.01)  # not stuck on a plateau


def test_millisecond_timestamps_are_recognised():
    np.testing.assert_allclose(board_seconds(np.array([1.7e12, 1.7e12 + 4])),
                               [1.7e9, 1.7e9 + 0.004])
    np.testing.assert_allclose(board_seconds(np.array([1.7e9])), [1.7e9])


def test_simulated_signal_adds_the_response_at_the_presented_time():
    subject = dataclasses.replace(make_subject("S01", seed=1), p300_amplitude_v=200e-6)
    signal = SimulatedSignal(subject, "easy", 250.0, seed=1)
    timestamps = 10.0 + np.arange(1000) / 250.0
    onset = 10.0 + 300 / 250.0
    signal.present("day", [subject.birthdate.day], [onset])
    chunks = [signal.fill(timestamps[i:i + 50]) for i in range(0, 1000, 50)]
    data = np.concatenate(chunks, axis=1)
    top = int(np.argmax(subject.p300_topography))
    peak = 300 + int(round(subject.p300_latency_s * 250))
    assert data[top, peak - 5:peak + 5].mean() - data[top, 250:300].mean() > 100e-6
    assert np.abs(data).max() < 1e-3  # volts, EEG-sized


@pytest.mark.integration
def test_crown_driver_fed_by_the_emulator_places_responses_where_the_clock_says():
    from brain_sim.emulator import CrownEmulator

    board_ids, _, params_class, _ = __import__(
        "brain_collector.acquisition", fromlist=["_brainflow"])._brainflow()
    subject = dataclasses.replace(make_subject("S02", seed=2), p300_amplitude_v=300e-6)
    port = free_udp_port()
    params = params_class()
    params.ip_port = port
    from brain_core.models import Device

    acquisition = Acquisition(int(board_ids.CROWN_BOARD), params, Device(name="t", board_id=23),
                              emulator=CrownEmulator(subject, port=port, seed=2))
    acquisition.start()
    try:
        marked = acquisition.mark(1.0)
        onset = time.time() + 0.5
        acquisition.present("month", [subject.birthdate.month], [onset])
        assert acquisition.wait_for(onset + 1.2, timeout_s=10)
        time.sleep(0.1)
        window = acquisition.window(onset - 0.5, onset + 1.0)
        position = acquisition.host_to_index(np.array([onset]))[0] - window.first_index
        lag = acquisition.marker_lag(1.0, marked)
        offset = acquisition.clock_offset_s
    finally:
        acquisition.stop()
    assert window.data.dtype == np.float32 and window.data.shape[0] == 8
    assert acquisition.ch_names == CROWN_CH_NAMES
    # µV became volts exactly once: EEG of a few µV, not millions.
    assert 1e-6 < np.std(window.data[:, :100]) < 1e-4
    assert position == pytest.approx(128, abs=2)  # 0.5 s at 256 Hz
    top = int(np.argmax(subject.p300_topography))
    peak = int(round(position + subject.p300_latency_s * 256))
    baseline = window.data[top, :int(position)].mean()
    assert window.data[top, peak - 3:peak + 4].mean() - baseline > 150e-6
    # The emulator stamps with the host clock: the offset is the delivery delay.
    assert 0 <= offset < 0.05
    # A marker lands on the first sample of the next packet: at most a packet (62.5 ms)
    # older than the call, plus the delivery delay.
    assert lag is not None and -0.01 < lag < 0.0625 + 0.05


@pytest.mark.integration
@pytest.mark.slow
def test_synthetic_board_carries_the_simulated_subject():
    acquisition = open_acquisition("synthetic", subject="S03", preset="easy",
                                   years=(1990, 1993))
    try:
        assert acquisition.ch_names == CROWN_CH_NAMES and acquisition.sfreq == 250.0
        marked = acquisition.mark(2.0)
        assert acquisition.wait_for(time.time() + 1.0, timeout_s=10)
        data = acquisition.latest(1.0)
        lag = acquisition.marker_lag(2.0, marked)
    finally:
        acquisition.stop()
    assert data.shape == (8, 250)
    assert 1e-6 < np.std(data) < 1e-4  # the simulated subject, not BrainFlow's sines (µV)
    assert lag is not None and -0.01 < lag < 0.05
    assert not acquisition.running
