"""A Neurosity Crown emulator: simulated EEG for BrainFlow's real Crown driver.

BrainFlow reads the Crown (``BoardIds.CROWN_BOARD``, 23) by listening for OSC messages
on UDP port ``ip_port`` (default 9000, bound on every interface). What its driver
(``src/board_controller/neurosity/notion_osc.cpp`` in brainflow-dev/brainflow) accepts,
and so what this emulator sends:

- messages whose address ends in ``raw``; the Crown uses
  ``/neurosity/notion/<device id>/raw`` (if BrainFlow was given a ``serial_number``, the
  address must contain it);
- **one sample per message**, with the arguments
  ``[f f f f f f f f]`` (an OSC array of 8 float32: the EEG channels CP3, C3, F5, PO3,
  PO4, F6, C4, CP4 in µV; BrainFlow stores them as they come and returns µV),
  ``s`` (the sample's timestamp as a decimal string; BrainFlow puts it in the
  timestamp row as is, so we send UNIX seconds like every other BrainFlow board),
  ``i`` (a running sample counter: BrainFlow's package-number row) and
  ``s`` (a marker, empty here: BrainFlow's own ``insert_marker`` fills the marker row);
- OSC bundles of such messages are unpacked, so each 62.5 ms packet of 16 samples (the
  Crown's rhythm, per Neurosity's OSC documentation) goes out as one bundle of 16
  messages.

The emulator streams at 256 Hz in real time from a background thread. Its clock is
``time.time()`` (UNIX seconds, the clock of BrainFlow's timestamps): sample ``k`` is the
signal at ``start_time + k / 256``. :meth:`CrownEmulator.add_stimulus` takes an onset on
that clock and adds the simulated subject's response (a P300 for their own items) at
that moment of the stream. Another process can do the same by sending an OSC message
``/brain/stimulus`` (phase ``s``, value ``i``, onset ``d``) to ``stimulus_port``
(see :func:`send_stimulus`).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from brain_core.devices import CROWN_CH_NAMES, CROWN_SFREQ
from brain_core.errors import InvalidInputError, check_option
from brain_core.models import PHASES, check_item
from brain_sim.simulate import Preset, SignalGenerator, SimulatedSubject, make_subject

log = logging.getLogger(__name__)

__all__ = ["CrownEmulator", "STIMULUS_ADDRESS", "send_stimulus"]

#: Samples per OSC bundle: the Crown's packets hold 16 samples (62.5 ms at 256 Hz).
SAMPLES_PER_PACKET = 16
#: OSC address of stimulus notifications sent to ``stimulus_port``.
STIMULUS_ADDRESS = "/brain/stimulus"


def _osc():
    # python-osc is pure Python; imported lazily so that importing this module is cheap.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
        from pythonosc.osc_message import OscMessage
        from pythonosc.osc_message_builder import OscMessageBuilder
    return IMMEDIATELY, OscBundleBuilder, OscMessage, OscMessageBuilder


def _check_port(port: int, name: str) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInputError(
            f"Invalid value for the {name!r} parameter: expected a UDP port 1-65535, got "
            f"{port!r}.",
            field=name,
        )
    return port


@dataclass
class _Pending:
    start: int  # sample index of the onset on the emulator's stream
    wave: np.ndarray  # (n_channels, n_times), V


class CrownEmulator:
    """Stream a simulated subject as a Neurosity Crown over OSC/UDP, in real time.

    Parameters
    ----------
    subject : str | SimulatedSubject
        A label (a subject is then drawn with :func:`~brain_sim.simulate.make_subject`
        from ``preset`` and ``seed``) or a ready subject.
    port : int
        UDP port BrainFlow listens on (its ``ip_port``; the Crown's default is 9000).
    host : str
        Where to send; BrainFlow binds every interface, so 127.0.0.1 reaches it locally.
    preset : str | Preset | None
        Noise preset (``"easy"``, ``"realistic"``, ``"hard"``); None means the
        subject's own, or ``"easy"`` for a subject drawn here.
    seed : int
        Seed of the subject (if drawn here) and of the noise.
    device_id : str
        The ``<device id>`` in ``/neurosity/notion/<device id>/raw`` (BrainFlow's
        ``serial_number`` filter matches it).
    samples_per_packet : int
        Samples per OSC bundle (16 like the Crown; 1 sends every sample on its own).
    stimulus_port : int | None
        If set, also listen on this UDP port for ``/brain/stimulus`` messages.
    clock : callable
        Seconds, the clock of onsets and timestamps; ``time.time`` by default.

    Examples
    --------
    >>> with CrownEmulator("S01", port=9000) as crown:  # doctest: +SKIP
    ...     crown.add_stimulus(time.time(), "day", crown.subject.birthdate.day)
    """

    sfreq = CROWN_SFREQ
    ch_names = CROWN_CH_NAMES

    def __init__(
        self,
        subject: str | SimulatedSubject = "S01",
        *,
        port: int = 9000,
        host: str = "127.0.0.1",
        preset: str | Preset | None = None,
        seed: int = 0,
        device_id: str = "brain-emulator",
        samples_per_packet: int = SAMPLES_PER_PACKET,
        stimulus_port: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.port = _check_port(port, "port")
        self.stimulus_port = (None if stimulus_port is None
                              else _check_port(stimulus_port, "stimulus_port"))
        if not 1 <= int(samples_per_packet) <= 64:
            raise InvalidInputError(
                f"Invalid value for the 'samples_per_packet' parameter: expected 1-64, got "
                f"{samples_per_packet!r}.",
                field="samples_per_packet",
            )
        if isinstance(subject, str):
            subject = make_subject(subject, preset=preset if preset is not None else "easy",
                                   seed=seed, ch_names=CROWN_CH_NAMES)
        self.subject: SimulatedSubject = subject
        self.host = host
        self.address = f"/neurosity/notion/{device_id}/raw"
        self.samples_per_packet = int(samples_per_packet)
        self._clock = clock
        self._generator = SignalGenerator(subject, preset, self.sfreq, self.ch_names, seed)
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None
        self._stim_sock: socket.socket | None = None
        self._start_time: float | None = None
        self._n_sent = 0
        self._error: BaseException | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> CrownEmulator:
        """Start streaming in a background thread; returns ``self``."""
        if self._threads:
            raise RuntimeError("the emulator is already running")
        self._stop.clear()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if self.stimulus_port is not None:
            self._stim_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._stim_sock.bind((self.host, self.stimulus_port))
            self._stim_sock.settimeout(0.1)
            self._threads.append(threading.Thread(
                target=self._listen, name="crown-emulator-stimuli", daemon=True))
        self._start_time = self._clock()
        self._threads.insert(0, threading.Thread(
            target=self._stream, name="crown-emulator", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("Crown emulator streaming %s to %s:%d", self.subject.subject, self.host,
                 self.port)
        return self

    def stop(self) -> None:
        """Stop streaming and close the sockets (waits for the threads to end)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads = []
        for sock in (self._sock, self._stim_sock):
            if sock is not None:
                sock.close()
        self._sock = self._stim_sock = None

    def __enter__(self) -> CrownEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return bool(self._threads) and self._threads[0].is_alive()

    @property
    def start_time(self) -> float:
        """Clock time of sample 0, in s (raises if the emulator was never started)."""
        if self._start_time is None:
            raise RuntimeError("the emulator has not been started")
        return self._start_time

    @property
    def n_samples_sent(self) -> int:
        return self._n_sent

    @property
    def error(self) -> BaseException | None:
        """The exception that ended the streaming thread, if any."""
        return self._error

    # -- stimuli -----------------------------------------------------------------------

    def add_stimulus(self, onset: float, phase: str, value: int) -> None:
        """Make the stream contain the subject's response to a stimulus shown at ``onset``.

        Parameters
        ----------
        onset : float
            When the stimulus appeared, on the emulator's clock (``time.time()`` seconds
            unless another ``clock`` was given).
        phase : str
            ``"day"``, ``"month"`` or ``"year"``.
        value : int
            The item shown.

        Samples already sent cannot change: a response whose onset lies before the last
        sent sample is added from there on (its first milliseconds are lost, which only
        matters for onsets more than a packet, 62.5 ms, in the past).
        """
        phase = check_option("phase", phase, PHASES)
        value = check_item(phase, value)
        start = int(round((float(onset) - self.start_time) * self.sfreq))
        with self._lock:
            wave = self._generator.response(phase, value)
            if start + wave.shape[1] <= self._n_sent:
                log.warning("stimulus %s/%s at %.3f s ended before the last sent sample; "
                            "ignored", phase, value, onset)
                return
            self._pending.append(_Pending(start, wave))

    def _listen(self) -> None:
        _, _, osc_message, _ = _osc()
        assert self._stim_sock is not None
        while not self._stop.is_set():
            try:
                datagram = self._stim_sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            try:
                message = osc_message(datagram)
                if message.address != STIMULUS_ADDRESS:
                    continue
                phase, value, onset = message.params[:3]
                self.add_stimulus(float(onset), str(phase), int(value))
            except Exception as err:  # a malformed datagram must not stop the listener
                log.warning("ignored a bad stimulus message: %s", err)

    # -- streaming ---------------------------------------------------------------------

    def _next_chunk(self, n: int) -> np.ndarray:
        start, end = self._n_sent, self._n_sent + n
        with self._lock:
            data = self._generator.background(n)
            kept = []
            for item in self._pending:
                lo, hi = max(item.start, start), min(item.start + item.wave.shape[1], end)
                if hi > lo:
                    data[:, lo - start:hi - start] += item.wave[:, lo - item.start:hi - item.start]
                if item.start + item.wave.shape[1] > end:
                    kept.append(item)
            self._pending = kept
        return data

    def _packet(self, data: np.ndarray) -> bytes:
        immediately, bundle_builder, _, message_builder = _osc()
        bundle = bundle_builder(immediately)
        microvolts = (data * 1e6).T.tolist()
        for k, sample in enumerate(microvolts):
            index = self._n_sent + k
            message = message_builder(self.address)
            message.add_arg(sample, [message_builder.ARG_TYPE_FLOAT] * len(sample))
            message.add_arg(f"{self.start_time + index / self.sfreq:.6f}")
            message.add_arg(index % 2**31)
            message.add_arg("")
            bundle.add_content(message.build())
        return bundle.build().dgram

    def _stream(self) -> None:
        n = self.samples_per_packet
        try:
            while not self._stop.is_set():
                due = int((self._clock() - self.start_time) * self.sfreq)
                while due - self._n_sent >= n and not self._stop.is_set():
                    packet = self._packet(self._next_chunk(n))
                    assert self._sock is not None
                    self._sock.sendto(packet, (self.host, self.port))
                    self._n_sent += n
                next_due = self.start_time + (self._n_sent + n) / self.sfreq
                self._stop.wait(max(0.0, next_due - self._clock()))
        except BaseException as err:  # surfaced through .error; the thread must not vanish
            self._error = err
            log.exception("Crown emulator stopped")


def send_stimulus(phase: str, value: int, onset: float | None = None, *,
                  host: str = "127.0.0.1", port: int) -> None:
    """Tell a running emulator (its ``stimulus_port``) that a stimulus was shown.

    ``onset`` is on the emulator's clock (``time.time()``); None means now.
    """
    phase = check_option("phase", phase, PHASES)
    value = check_item(phase, value)
    _, _, _, message_builder = _osc()
    message = message_builder(STIMULUS_ADDRESS)
    message.add_arg(phase)
    message.add_arg(value)
    message.add_arg(time.time() if onset is None else float(onset),
                    message_builder.ARG_TYPE_DOUBLE)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.build().dgram, (host, _check_port(port, "port")))
