"""The Crown emulator: exact OSC stream, and BrainFlow's real Crown driver reading it."""

from __future__ import annotations

import dataclasses
import re
import socket
import threading
import time

import numpy as np
import pytest

from brain_core.devices import CROWN_CH_NAMES, _board_shim, device_profile
from brain_core.errors import InvalidInputError
from brain_sim.emulator import CrownEmulator, send_stimulus
from brain_sim.simulate import SignalGenerator, make_subject


def free_udp_port() -> int:
    # BrainFlow binds every interface, so look for a port free on all of them.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("", 0))
        return sock.getsockname()[1]


class Receiver:
    """Collects the emulator's OSC samples on a UDP port, decoded with python-osc."""

    def __init__(self) -> None:
        from pythonosc.osc_bundle import OscBundle

        self._bundle = OscBundle
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5.0)
        self.port = self.sock.getsockname()[1]
        self.addresses: set[str] = set()
        self.samples: list[list[float]] = []
        self.timestamps: list[float] = []
        self.counts: list[int] = []
        self.markers: list[str] = []

    def read(self, n_samples: int) -> np.ndarray:
        """Receive until ``n_samples`` samples came; returns them in µV, (8, n_samples)."""
        while len(self.samples) < n_samples:
            bundle = self._bundle(self.sock.recv(65536))
            for message in bundle:
                eeg, timestamp, count, marker = message.params
                self.addresses.add(message.address)
                self.samples.append(eeg)
                self.timestamps.append(float(timestamp))
                self.counts.append(count)
                self.markers.append(marker)
        return np.array(self.samples[:n_samples]).T

    def close(self) -> None:
        self.sock.close()


def test_arguments_are_checked():
    with pytest.raises(InvalidInputError, match="'port' parameter"):
        CrownEmulator("S01", port=70000)
    with pytest.raises(InvalidInputError, match="'samples_per_packet' parameter"):
        CrownEmulator("S01", samples_per_packet=0)
    emulator = CrownEmulator("S01")
    with pytest.raises(InvalidInputError, match="'phase' parameter"):
        emulator.add_stimulus(0.0, "week", 1)
    with pytest.raises(InvalidInputError, match="outside the 'month' phase's range"):
        emulator.add_stimulus(0.0, "month", 13)
    with pytest.raises(RuntimeError, match="not been started"):
        emulator.add_stimulus(0.0, "month", 3)


@pytest.mark.integration
def test_stream_is_the_simulated_signal_in_microvolts():
    subject = dataclasses.replace(make_subject("S01", seed=2), p300_amplitude_v=100e-6)
    receiver = Receiver()
    try:
        with CrownEmulator(subject, port=receiver.port, seed=2, device_id="abc") as crown:
            own, other = subject.birthdate.day, subject.birthdate.day % 31 + 1
            crown.add_stimulus(crown.start_time + 0.5, "day", own)
            crown.add_stimulus(crown.start_time + 1.0, "day", other)
            received = receiver.read(512)
            start = crown.start_time
    finally:
        receiver.close()

    # The same generator, fed the same calls, gives the same samples: the emulator adds
    # nothing and loses nothing, chunk after chunk.
    reference = SignalGenerator(subject, "easy", 256.0, CROWN_CH_NAMES, seed=2)
    expected = reference.background(512)
    for onset, value in ((128, own), (256, other)):
        wave = reference.response("day", value)
        expected[:, onset:onset + wave.shape[1]] += wave[:, :512 - onset]
    np.testing.assert_allclose(received, expected * 1e6, rtol=1e-6, atol=1e-3)

    assert receiver.addresses == {"/neurosity/notion/abc/raw"}
    assert receiver.counts[:512] == list(range(512))
    np.testing.assert_allclose(receiver.timestamps[:512], start + np.arange(512) / 256.0,
                               atol=2e-6, rtol=0)
    assert set(receiver.markers) == {""}
    top = int(np.argmax(subject.p300_topography))
    peak = 128 + int(subject.p300_latency_s * 256)
    assert received[top, peak - 10:peak + 10].max() - received[top, 100:128].mean() > 50


@pytest.mark.integration
def test_stimuli_can_come_over_udp():
    subject = dataclasses.replace(make_subject("S02", seed=3), p300_amplitude_v=300e-6)
    receiver = Receiver()
    stimulus_port = free_udp_port()
    try:
        with CrownEmulator(subject, port=receiver.port, seed=3,
                           stimulus_port=stimulus_port) as crown:
            onset = crown.start_time + 0.75
            send_stimulus("month", subject.birthdate.month, onset, port=stimulus_port)
            received = receiver.read(512)
    finally:
        receiver.close()
    top = int(np.argmax(subject.p300_topography))
    peak = 192 + int(subject.p300_latency_s * 256)
    assert received[top, peak - 10:peak + 10].max() - received[top, 150:192].mean() > 150


@pytest.mark.integration
def test_brainflow_crown_driver_reads_the_emulator():
    board_ids, board_shim = _board_shim()
    from brainflow.board_shim import BrainFlowInputParams

    board_shim.disable_board_logger()
    profile = device_profile("crown")
    port = free_udp_port()
    params = BrainFlowInputParams()
    params.ip_port = port
    with CrownEmulator("S03", port=port, seed=4) as crown:
        board = board_shim(board_ids.CROWN_BOARD, params)
        try:
            board.prepare_session()
            board.start_stream()
            started = time.time()
            marked = []
            for k in (1, 2, 3):
                time.sleep(0.6)
                board.insert_marker(k)
                marked.append(time.time())
            time.sleep(0.6)  # markers land on the next packet's first sample
            data = board.get_board_data()
            elapsed = time.time() - started
            board.stop_stream()
        finally:
            board.release_session()
            del board
        assert crown.error is None

    eeg = data[list(profile.eeg_rows)]
    assert eeg.shape[0] == 8
    # start_stream returns once the first packet (16 samples) has arrived.
    expected = 16 + elapsed * 256
    assert abs(data.shape[1] - expected) <= max(0.04 * expected, 32)
    rms = np.sqrt(((eeg - eeg.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))
    assert ((rms > 2) & (rms < 50)).all()  # µV, like the real headset

    markers = data[profile.marker_row]
    where = np.flatnonzero(markers)
    assert markers[where].tolist() == [1.0, 2.0, 3.0]
    # Each marker sits on the first sample of the packet that came after it: its
    # timestamp is at most one packet (62.5 ms) before the call, never after.
    timestamps = data[profile.timestamp_row][where]
    lag = np.array(marked) - timestamps
    assert ((lag > -0.01) & (lag < 0.0625 + 0.1)).all(), lag
    spacing = np.diff(where) / 256
    np.testing.assert_allclose(spacing, np.diff(marked), atol=0.0625 + 0.03)


@pytest.mark.integration
def test_cli_emulate_crown_streams_for_the_given_time():
    from typer.testing import CliRunner

    from brain_core.cli import build_app

    receiver = Receiver()
    got: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: got.append(receiver.read(64)), daemon=True)
    thread.start()
    try:
        result = CliRunner().invoke(build_app(), [
            "emulate-crown", "--port", str(receiver.port), "--subject", "S04", "--preset",
            "realistic", "--seconds", "0.5"])
        thread.join(timeout=5)
    finally:
        receiver.close()
    assert result.exit_code == 0, result.output
    assert "Streaming subject S04 (realistic)" in result.output and "born" not in result.output
    sent = int(re.search(r"Sent (\d+) samples", result.output).group(1))
    assert 96 <= sent <= 160  # 0.5 s at 256 Hz, in packets of 16
    assert got and got[0].shape == (8, 64)
