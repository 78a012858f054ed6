"""EEG acquisition through BrainFlow, in a background thread.

One :class:`Acquisition` streams one board for a whole session: a thread polls
``BoardShim.get_board_data()`` every ``poll_s`` seconds and appends the EEG rows
(converted from BrainFlow's µV to volts, once, here), the timestamp row and the marker
row to a growing buffer. The page then cuts one window per phase out of it.

Clocks. Stimulus onsets arrive on the collector's clock (``time.time()``, UNIX seconds;
the browser runs on the same machine). BrainFlow's timestamps are the board's clock: the
host's for the synthetic board, whatever the device sends for the Crown (UNIX seconds
from the emulator; milliseconds are recognised and converted). The offset between the
two is estimated from arrivals: a sample cannot reach us before it was taken, so
``host arrival - board timestamp`` over all polls has the offset (plus the smallest
transport delay) as its minimum. A host time then maps to a sample position by
interpolating the board's timestamps. Where the board supports ``insert_marker``, the
page drops a marker at each phase start; where it lands is an independent check of that
mapping (``marker_lag_s``: the stream's delivery delay, never negative if the mapping holds).

Boards:

- ``crown``: BrainFlow's ``CROWN_BOARD`` listening for the headset's OSC on ``ip_port``;
- ``emulator``: the same driver, fed by :class:`brain_sim.emulator.CrownEmulator` (a
  simulated subject streamed to 127.0.0.1:``ip_port``), so everything but the headset is
  the real path;
- ``synthetic``: BrainFlow's ``SYNTHETIC_BOARD`` for timing and markers, its EEG rows
  replaced by a simulated subject on the Crown montage (for demos).

The simulated subjects respond to each stimulus at its *planned* time (the browser
reports the actual frame time only once the phase is over); the difference is the
measured onset jitter, a frame or less.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from brain_core.devices import CROWN_CH_NAMES, _board_shim, device_profile
from brain_core.errors import DependencyError, check_option
from brain_core.models import Device

log = logging.getLogger(__name__)

#: BrainFlow returns EEG in µV; the contract is volts.
VOLTS_PER_MICROVOLT = 1e-6

#: Board timestamps above this are milliseconds since 1970, not seconds.
_MS_THRESHOLD = 1e11

#: Marker codes dropped at the start of each phase (BrainFlow markers are non-zero floats).
PHASE_MARKERS = {"day": 1.0, "month": 2.0, "year": 3.0}


def _brainflow():
    board_ids, board_shim = _board_shim()
    from brainflow.board_shim import BrainFlowError, BrainFlowInputParams

    return board_ids, board_shim, BrainFlowInputParams, BrainFlowError


@dataclass(frozen=True)
class Window:
    """A stretch of the stream: EEG in volts and where it sits in the stream.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_times), float32
        Volts.
    first_index : int
        Stream index of ``data[:, 0]``.
    sfreq : float
        Hz.
    first_host_time : float
        The host clock (UNIX s) at the first sample, through the estimated offset.
    """

    data: np.ndarray
    first_index: int
    sfreq: float
    first_host_time: float


class _Buffer:
    """Growing arrays of EEG (V), timestamps (board clock, s) and markers."""

    def __init__(self, n_channels: int, capacity: int = 1 << 15) -> None:
        self.data = np.zeros((n_channels, capacity))
        self.timestamps = np.zeros(capacity)
        self.markers = np.zeros(capacity)
        self.n = 0

    def append(self, data: np.ndarray, timestamps: np.ndarray, markers: np.ndarray) -> None:
        n = data.shape[1]
        if self.n + n > len(self.timestamps):
            capacity = max(2 * len(self.timestamps), self.n + n)
            grown = _Buffer(self.data.shape[0], capacity)
            grown.data[:, :self.n] = self.data[:, :self.n]
            grown.timestamps[:self.n] = self.timestamps[:self.n]
            grown.markers[:self.n] = self.markers[:self.n]
            self.data, self.timestamps, self.markers = grown.data, grown.timestamps, grown.markers
        self.data[:, self.n:self.n + n] = data
        self.timestamps[self.n:self.n + n] = timestamps
        self.markers[self.n:self.n + n] = markers
        self.n += n


def board_seconds(timestamps: np.ndarray) -> np.ndarray:
    """Board timestamps in seconds: values above 1e11 are taken as milliseconds."""
    timestamps = np.asarray(timestamps, dtype=float)
    if timestamps.size and np.nanmedian(timestamps) > _MS_THRESHOLD:
        return timestamps / 1000.0
    return timestamps


class SimulatedSignal:
    """A simulated subject's EEG replacing a board's EEG rows, chunk by chunk.

    Responses to the stimuli announced with :meth:`present` are added where the chunk's
    timestamps (the host clock, for BrainFlow's synthetic board) reach their onsets.
    """

    def __init__(self, subject, preset: str, sfreq: float, seed: int = 0) -> None:
        from brain_sim.simulate import SignalGenerator

        self.subject = subject
        self.generator = SignalGenerator(subject, preset, sfreq, CROWN_CH_NAMES, seed)
        self._queued: list[tuple[float, str, int]] = []
        self._active: list[tuple[int, np.ndarray]] = []
        self._n_done = 0
        self._lock = threading.Lock()

    def present(self, phase: str, values: Sequence[int], onsets: Sequence[float]) -> None:
        with self._lock:
            self._queued.extend((float(t), phase, int(v)) for t, v in zip(onsets, values,
                                                                          strict=True))
            self._queued.sort()

    def fill(self, timestamps: np.ndarray) -> np.ndarray:
        """EEG (V) for samples taken at ``timestamps`` (host clock, s)."""
        n = len(timestamps)
        start = self._n_done
        data = self.generator.background(n)
        with self._lock:
            while self._queued and self._queued[0][0] <= timestamps[-1]:
                onset, phase, value = self._queued.pop(0)
                index = start + int(np.searchsorted(timestamps, onset))
                self._active.append((index, self.generator.response(phase, value)))
            kept = []
            for index, wave in self._active:
                lo, hi = max(index, start), min(index + wave.shape[1], start + n)
                if hi > lo:
                    data[:, lo - start:hi - start] += wave[:, lo - index:hi - index]
                if index + wave.shape[1] > start + n:
                    kept.append((index, wave))
            self._active = kept
        self._n_done += n
        return data


class Acquisition:
    """Stream a BrainFlow board in a background thread for a whole session.

    Parameters
    ----------
    board_id : int
        BrainFlow board id.
    params : BrainFlowInputParams
        Connection parameters (``ip_port``, ``serial_number`` ...).
    device : Device
        What the recordings will say recorded them.
    simulated : SimulatedSignal | None
        Replaces the board's EEG rows (synthetic board).
    emulator : CrownEmulator | None
        Started before the board and stopped after it.
    poll_s : float
        Seconds between two reads of BrainFlow's buffer.
    clock : callable
        The host clock, UNIX seconds.
    """

    def __init__(self, board_id: int, params, device: Device, *,
                 simulated: SimulatedSignal | None = None, emulator=None,
                 poll_s: float = 0.02, clock: Callable[[], float] = time.time) -> None:
        profile = device_profile(board_id)
        self.board_id = board_id
        self.device = device
        self.sfreq = profile.sfreq
        self._rows = list(profile.eeg_rows)
        self._timestamp_row = profile.timestamp_row
        self._marker_row = profile.marker_row
        self.ch_names: tuple[str, ...] = CROWN_CH_NAMES if simulated else profile.ch_names
        self._params = params
        self._simulated = simulated
        self._emulator = emulator
        self._poll_s = poll_s
        self._clock = clock
        self._buffer = _Buffer(len(self.ch_names))
        self._lock = threading.Condition()
        self._offset = np.inf
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._board: Any = None
        self.error: BaseException | None = None
        self.markers_supported = True

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Acquisition:
        """Connect, start streaming and polling; raises DependencyError on failure."""
        _, board_shim, _, brainflow_error = _brainflow()
        board_shim.disable_board_logger()
        if self._emulator is not None:
            self._emulator.start()
        board = board_shim(self.board_id, self._params)
        try:
            board.prepare_session()
            board.start_stream(450_000)
        except brainflow_error as err:
            self._release(board)
            raise DependencyError(_connection_help(self.board_id, self._params, err)) from err
        self._board = board
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="brain-acquisition", daemon=True)
        self._thread.start()
        log.info("streaming %s (board %d) at %g Hz", self.device.name, self.board_id,
                 self.sfreq)
        return self

    def stop(self) -> None:
        """Stop polling and streaming and release the board (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        if self._board is not None:
            self._release(self._board)
            self._board = None

    def _release(self, board) -> None:
        _, _, _, brainflow_error = _brainflow()
        try:
            if board.is_prepared():
                with contextlib.suppress(brainflow_error):  # not streaming
                    board.stop_stream()
                board.release_session()
        except brainflow_error as err:
            log.warning("releasing the board failed: %s", err)
        if self._emulator is not None:
            self._emulator.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._poll()
                self._stop.wait(self._poll_s)
            self._poll()
        except BaseException as err:  # surfaced through .error and the page
            self.error = err
            log.exception("acquisition stopped")
            with self._lock:
                self._lock.notify_all()

    def _poll(self) -> None:
        raw = self._board.get_board_data()
        arrival = self._clock()
        if raw.shape[1] == 0:
            return
        timestamps = board_seconds(raw[self._timestamp_row])
        if self._simulated is not None:
            data = self._simulated.fill(timestamps)
        else:
            data = raw[self._rows] * VOLTS_PER_MICROVOLT
        with self._lock:
            self._buffer.append(data, timestamps, raw[self._marker_row])
            self._offset = min(self._offset, arrival - float(timestamps[-1]))
            self._lock.notify_all()

    # -- stimuli and markers -----------------------------------------------------------

    def present(self, phase: str, values: Sequence[int], onsets: Sequence[float]) -> None:
        """Tell a simulated subject which items will be shown when (host clock, s)."""
        if self._emulator is not None:
            for onset, value in zip(onsets, values, strict=True):
                self._emulator.add_stimulus(float(onset), phase, int(value))
        elif self._simulated is not None:
            self._simulated.present(phase, values, onsets)

    def mark(self, code: float) -> float | None:
        """Insert a BrainFlow marker; returns the host time, or None if unsupported."""
        _, _, _, brainflow_error = _brainflow()
        if self._board is None or not self.markers_supported:
            return None
        try:
            when = self._clock()
            self._board.insert_marker(float(code))
            return when
        except brainflow_error as err:
            log.info("board does not take markers: %s", err)
            self.markers_supported = False
            return None

    def marker_lag(self, code: float, host_time: float) -> float | None:
        """How much older than the ``insert_marker`` call the sample it landed on is, s.

        BrainFlow stamps a marker on the next sample it receives, so this is the stream's
        delivery delay at that moment: up to a packet (62.5 ms on the Crown) plus however
        late that packet came. Near 0 means the timestamps and the marker agree; a
        negative value would mean the clock mapping is off. None if the marker is not
        (yet) in the stream.
        """
        with self._lock:
            n = self._buffer.n
            hits = np.flatnonzero(self._buffer.markers[:n] == code)
        if not hits.size:
            return None
        expected = float(self.host_to_index(np.array([host_time]))[0])
        landed = hits[np.argmin(np.abs(hits - expected))]
        return float((expected - landed) / self.sfreq)

    # -- reading -----------------------------------------------------------------------

    @property
    def n_times(self) -> int:
        with self._lock:
            return self._buffer.n

    @property
    def clock_offset_s(self) -> float:
        """Host clock minus board clock (s), estimated from arrivals; NaN before data."""
        with self._lock:
            return float(self._offset) if np.isfinite(self._offset) else float("nan")

    def wait_for(self, host_time: float, timeout_s: float) -> bool:
        """Wait until the stream holds a sample taken at or after ``host_time``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while True:
                if self.error is not None:
                    raise DependencyError(f"the EEG stream stopped: {self.error}")
                n = self._buffer.n
                if n and self._buffer.timestamps[n - 1] + self._offset >= host_time:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.1))

    def host_to_index(self, host_times: np.ndarray) -> np.ndarray:
        """Fractional stream indices of host times (UNIX s), through the board's clock."""
        with self._lock:
            n = self._buffer.n
            timestamps = self._buffer.timestamps[:n].copy()
            offset = self._offset
        if n < 2:
            raise DependencyError("no EEG received yet: cannot place the stimuli")
        return times_to_index(np.asarray(host_times, dtype=float) - offset, timestamps,
                              self.sfreq)

    def window(self, start_host: float, stop_host: float) -> Window:
        """EEG from ``start_host`` to ``stop_host`` (host clock, s)."""
        first, last = self.host_to_index(np.array([start_host, stop_host]))
        with self._lock:
            n = self._buffer.n
            lo = int(np.clip(np.ceil(first), 0, n))
            hi = int(np.clip(np.floor(last) + 1, lo, n))
            data = self._buffer.data[:, lo:hi].astype(np.float32)
            first_time = (float(self._buffer.timestamps[lo]) if lo < n else np.nan) + self._offset
        if data.shape[1] < 2:
            raise DependencyError(
                f"the EEG stream holds no data between {start_host:.3f} and {stop_host:.3f} "
                f"(it has {n} samples): was the board disconnected?")
        return Window(data=data, first_index=lo, sfreq=self.sfreq, first_host_time=first_time)

    def latest(self, seconds: float) -> np.ndarray:
        """The last ``seconds`` of EEG, (n_channels, n_times) float32 volts."""
        want = int(round(seconds * self.sfreq))
        with self._lock:
            n = self._buffer.n
            return self._buffer.data[:, max(0, n - want):n].astype(np.float32)


def times_to_index(board_times: np.ndarray, timestamps: np.ndarray, sfreq: float) -> np.ndarray:
    """Fractional sample indices of ``board_times`` given each sample's timestamp.

    Interpolates between samples (so lost packets, which leave a gap in the timestamps,
    are handled) and extrapolates at ``sfreq`` beyond the ends. Timestamps that do not
    increase fall back to a straight line through the first sample of each run of equal
    stamps: a device that stamps a whole packet with one time (Neurosity documents the
    time of the packet's first sample) is then right at every sample.
    """
    index = np.arange(len(timestamps), dtype=float)
    if np.any(np.diff(timestamps) <= 0):
        firsts = np.r_[0, np.flatnonzero(np.diff(timestamps) > 0) + 1]
        if len(firsts) >= 2:
            slope, intercept = np.polyfit(firsts, timestamps[firsts], 1)
        else:
            slope, intercept = 1.0 / sfreq, float(timestamps[0])
        timestamps = intercept + slope * index
    result = np.interp(board_times, timestamps, index)
    before, after = board_times < timestamps[0], board_times > timestamps[-1]
    result[before] = (board_times[before] - timestamps[0]) * sfreq
    result[after] = index[-1] + (board_times[after] - timestamps[-1]) * sfreq
    return result


def _connection_help(board_id: int, params, err: Exception) -> str:
    if board_id == device_profile("crown").board_id:
        return (f"No data from the Crown on UDP port {params.ip_port} ({err}). Is it on, "
                "on the same network, with OSC raw mode enabled in the Neurosity console and "
                f"sending to this computer's port {params.ip_port}? (Set "
                "BRAIN_COLLECTOR_CROWN_IP_PORT to change it.)")
    return f"Could not start board {board_id}: {err}"


#: Acquisitions running in this process, by board: a new session's board replaces a
#: previous one (two sessions cannot both bind the Crown's UDP port).
_RUNNING: dict[str, Acquisition] = {}
_RUNNING_LOCK = threading.Lock()


def open_acquisition(board: str, *, subject: str, ip_port: int = 9000,
                     serial_number: str | None = None, preset: str = "easy",
                     sim_seed: int = 0, sim_birthdate: date | None = None,
                     years: tuple[int, int] = (1950, 2009)) -> Acquisition:
    """Start streaming ``board`` (``crown``, ``emulator`` or ``synthetic``).

    ``subject`` names the simulated subject (drawn from ``preset``, ``sim_seed``,
    ``years``, or born on ``sim_birthdate``) for the simulated boards.

    Raises
    ------
    DependencyError
        If the board does not stream (the message says what to check).
    """
    check_option("board", board, ("crown", "synthetic", "emulator"))
    board_ids, _, input_params, _ = _brainflow()
    params = input_params()
    key = f"{board}:{ip_port}" if board != "synthetic" else "synthetic"
    with _RUNNING_LOCK:
        previous = _RUNNING.pop(key, None)
    if previous is not None:
        log.info("stopping the previous session's %s stream", board)
        previous.stop()
    if board == "synthetic":
        from brain_sim.simulate import make_subject

        sfreq = device_profile("synthetic").sfreq
        person = make_subject(subject, preset=preset, seed=sim_seed, years=years,
                              birthdate=sim_birthdate, ch_names=CROWN_CH_NAMES)
        acquisition = Acquisition(
            int(board_ids.SYNTHETIC_BOARD), params,
            Device(name="BrainFlow synthetic board, simulated subject",
                   board_id=int(board_ids.SYNTHETIC_BOARD)),
            simulated=SimulatedSignal(person, preset, sfreq, seed=sim_seed))
    else:
        params.ip_port = int(ip_port)
        if serial_number:
            params.serial_number = serial_number
        emulator = None
        name = "Neurosity Crown"
        if board == "emulator":
            from brain_sim.emulator import CrownEmulator
            from brain_sim.simulate import make_subject

            person = make_subject(subject, preset=preset, seed=sim_seed, years=years,
                                  birthdate=sim_birthdate, ch_names=CROWN_CH_NAMES)
            emulator = CrownEmulator(person, port=int(ip_port), preset=preset, seed=sim_seed,
                                     device_id=serial_number or "brain-emulator")
            name = "Neurosity Crown (emulated)"
        acquisition = Acquisition(int(board_ids.CROWN_BOARD), params,
                                  Device(name=name, board_id=int(board_ids.CROWN_BOARD)),
                                  emulator=emulator)
    acquisition.start()
    with _RUNNING_LOCK:
        _RUNNING[key] = acquisition
    return acquisition

