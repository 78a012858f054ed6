"""Simulated subjects: EEG that looks like EEG, with a P300 to the subject's own birthdate.

Every service is tested against these recordings, and the :mod:`brain_sim.emulator`
streams the same signal to BrainFlow's real Crown driver. The physics lives in one
place, :class:`SignalGenerator`: ongoing EEG chunk by chunk (``background``) and the
response to one stimulus (``response``); :func:`simulate_recording` adds the responses
at their onsets, exactly as the emulator does in real time.

What is in the signal (arrays in volts, ``(n_channels, n_times)``):

- ongoing EEG: 1/f ("pink") noise correlated across channels (independent sources mixed
  by a spatial correlation that falls off with the distance between electrodes, taken
  from MNE's 10-05 template montage), a subject-specific alpha rhythm (8-12 Hz, posterior,
  waxing and waning) and white sensor noise;
- artifacts: line noise at 50 or 60 Hz (and its harmonics below Nyquist), DC offsets
  that drift, eye blinks (largest on the channels nearest the eyes, F5/F6 on the Crown),
  rare electrode pops (a step that decays exponentially on one channel), and badly
  connected channels (much larger noise and line noise);
- responses: a small visual evoked response (P1/N1, posterior) to every stimulus, and a
  P300 (positive, 300-600 ms, centro-parietal; strongest at CP3/CP4/PO3/PO4 on the Crown)
  only to the subject's own day, month and year, with trial-to-trial amplitude and latency
  jitter. Responses to consecutive stimuli overlap (SOA 0.5 s) and simply add up.

Presets (levels in the 0.5-20 Hz band; P300 = peak of the average response at the
strongest channel; each subject draws its own values within the ranges):

| preset | background | P300 | blinks | line noise | offset, drift | pops | bad channels |
|---|---|---|---|---|---|---|---|
| easy | 4-6 µV | 8-12 µV | none | 0.5-2 µV | none, 2 µV | none | none |
| realistic | 8-12 µV | 3-6 µV | 80-150 µV, 0.2-0.4/s | 5-30 µV | ±5 mV, 20 µV | 0.5/min | 1 (30%) |
| hard | 12-20 µV | 2-4 µV | 100-250 µV, 0.25-0.5/s | 0.2-2 mV | ±20 mV, 0.1 mV | 2/min | 2-3 |

- ``easy``: a lab recording with gel electrodes and a cooperative subject; any working
  pipeline must find the birthdate here.
- ``realistic``: a consumer dry-electrode headset (Crown, Muse) used with care; the level
  the design brief expects (a P300 of a few µV against ≈10 µV of background).
- ``hard``: raw Crown data at home, unfiltered, with poor contact; close to chance.

Bad channels carry 4-15 times the background as extra broadband noise and 0.1-10 mV of
line noise; pops land five times more often on them.

Innocent subjects (``innocent=True``) are born outside the shown year range: no year is
their own, so they recognize no item in the year phase; their day and month are shown
like anyone's, so they do respond to those. Their label still carries the true birthdate,
so a confident year call for them is a confident wrong call.

Everything is deterministic given ``seed`` (numpy Generators seeded from
``SeedSequence``; no global random state).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
from scipy.signal import freqz, lfilter

from brain_core import __version__
from brain_core.devices import CROWN_CH_NAMES, CROWN_SFREQ
from brain_core.errors import InvalidInputError, check_option
from brain_core.models import (
    MIN_YEAR,
    PHASES,
    SUBJECT_PATTERN,
    Device,
    Label,
    Paradigm,
    Phase,
    Recording,
)
from brain_core.paradigm import DEFAULT_YEARS, make_paradigm, make_schedule

__all__ = [
    "PRESETS",
    "Preset",
    "SignalGenerator",
    "SimulatedSubject",
    "channel_positions",
    "make_subject",
    "simulate_dataset",
    "simulate_recording",
    "simulate_session",
    "subject_label",
    "write_simulated_dataset",
]

#: The band in which every level of a preset is stated, in Hz.
LEVEL_BAND = (0.5, 20.0)

#: Seconds of signal before the first stimulus and after the last one's onset + SOA.
LEAD_S = 1.0
TAIL_S = 1.5

#: Length of the waveform :meth:`SignalGenerator.response` returns, in seconds.
RESPONSE_S = 1.0

#: Device recorded in simulated recordings.
SIMULATED_DEVICE = Device(name="simulated", board_id=None)

Range = tuple[float, float]


@dataclass(frozen=True)
class Preset:
    """How hard a simulated recording is. Ranges are ``(low, high)``; each subject draws
    its own value uniformly within them. Levels are measured in the 0.5-20 Hz band.

    Attributes
    ----------
    name : str
        Key in :data:`PRESETS`.
    description : str
        What the preset models, in one sentence.
    background_rms_v : tuple of float
        RMS of the ongoing EEG (1/f noise + alpha + sensor noise), in V, 0.5-20 Hz,
        averaged (in power) over the well-connected channels; artifacts excluded.
    alpha_fraction : tuple of float
        Share of that background power carried by the alpha rhythm (0-1).
    alpha_freq : tuple of float
        Peak frequency of the subject's alpha rhythm, in Hz.
    sensor_noise_fraction : float
        Share of the background power that is white, channel-independent sensor noise.
    p300_amplitude_v : tuple of float
        Peak of the subject's average P300, in V, at its strongest channel of the montage
        (single trials vary around it; see ``p300_amplitude_cv``).
    p300_latency_s : tuple of float
        Latency of the P300 peak after the stimulus onset, in s.
    p300_width_s : tuple of float
        Standard deviation of the Gaussian P300 waveform, in s.
    p300_latency_jitter_s : float
        Trial-to-trial standard deviation of the P300 latency, in s.
    p300_amplitude_cv : float
        Trial-to-trial coefficient of variation of the P300 amplitude (gamma distributed).
    vep_amplitude_v : tuple of float
        Peak of the visual P1 shown to every stimulus, in V (the N1 is 1.3 times larger).
    line_v : tuple of float
        Amplitude of the line-noise sinusoid on a well-connected channel, in V.
    blink_rate : tuple of float
        Eye blinks per second (0 for none).
    blink_amplitude_v : tuple of float
        Peak of a blink at the channel nearest the eyes, in V.
    pop_rate : float
        Electrode pops per second over the whole montage (0 for none).
    pop_amplitude_v : tuple of float
        Size of the step of a pop, in V (either sign).
    offset_v : float
        Largest absolute DC offset of a channel, in V.
    drift_v : float
        Standard deviation of the slow drift around that offset, in V.
    drift_tau_s : float
        Time constant of the drift, in s.
    bad_channel_probability : float
        Probability that a subject has badly connected channels.
    n_bad_channels : tuple of int
        How many channels are bad when there are bad channels (inclusive range).
    bad_noise_factor : tuple of float
        Extra broadband noise on a bad channel, as a multiple of ``background_rms_v``.
    bad_line_v : tuple of float
        Amplitude of the line noise on a bad channel, in V.
    """

    name: str
    description: str
    background_rms_v: Range
    alpha_fraction: Range
    alpha_freq: Range
    sensor_noise_fraction: float
    p300_amplitude_v: Range
    p300_latency_s: Range
    p300_width_s: Range
    p300_latency_jitter_s: float
    p300_amplitude_cv: float
    vep_amplitude_v: Range
    line_v: Range
    blink_rate: Range
    blink_amplitude_v: Range
    pop_rate: float
    pop_amplitude_v: Range
    offset_v: float
    drift_v: float
    drift_tau_s: float
    bad_channel_probability: float
    n_bad_channels: tuple[int, int]
    bad_noise_factor: Range
    bad_line_v: Range


PRESETS: dict[str, Preset] = {
    "easy": Preset(
        name="easy",
        description="lab recording with gel electrodes and a cooperative subject",
        background_rms_v=(4e-6, 6e-6),
        alpha_fraction=(0.15, 0.3),
        alpha_freq=(8.5, 11.5),
        sensor_noise_fraction=0.1,
        p300_amplitude_v=(8e-6, 12e-6),
        p300_latency_s=(0.33, 0.43),
        p300_width_s=(0.07, 0.09),
        p300_latency_jitter_s=0.02,
        p300_amplitude_cv=0.2,
        vep_amplitude_v=(1e-6, 2e-6),
        line_v=(0.5e-6, 2e-6),
        blink_rate=(0.0, 0.0),
        blink_amplitude_v=(0.0, 0.0),
        pop_rate=0.0,
        pop_amplitude_v=(0.0, 0.0),
        offset_v=0.0,
        drift_v=2e-6,
        drift_tau_s=10.0,
        bad_channel_probability=0.0,
        n_bad_channels=(0, 0),
        bad_noise_factor=(1.0, 1.0),
        bad_line_v=(0.0, 0.0),
    ),
    "realistic": Preset(
        name="realistic",
        description="consumer dry-electrode headset (Crown, Muse) used with care",
        background_rms_v=(8e-6, 12e-6),
        alpha_fraction=(0.2, 0.4),
        alpha_freq=(8.5, 11.5),
        sensor_noise_fraction=0.1,
        p300_amplitude_v=(3e-6, 6e-6),
        p300_latency_s=(0.33, 0.5),
        p300_width_s=(0.07, 0.1),
        p300_latency_jitter_s=0.04,
        p300_amplitude_cv=0.4,
        vep_amplitude_v=(1e-6, 3e-6),
        line_v=(5e-6, 30e-6),
        blink_rate=(0.2, 0.4),
        blink_amplitude_v=(80e-6, 150e-6),
        pop_rate=1 / 120,
        pop_amplitude_v=(50e-6, 300e-6),
        offset_v=5e-3,
        drift_v=20e-6,
        drift_tau_s=10.0,
        bad_channel_probability=0.3,
        n_bad_channels=(1, 1),
        bad_noise_factor=(4.0, 8.0),
        bad_line_v=(100e-6, 500e-6),
    ),
    "hard": Preset(
        name="hard",
        description="raw Crown data at home: no filtering, poor contact",
        background_rms_v=(12e-6, 20e-6),
        alpha_fraction=(0.2, 0.4),
        alpha_freq=(8.0, 12.0),
        sensor_noise_fraction=0.15,
        p300_amplitude_v=(2e-6, 4e-6),
        p300_latency_s=(0.33, 0.55),
        p300_width_s=(0.07, 0.11),
        p300_latency_jitter_s=0.06,
        p300_amplitude_cv=0.6,
        vep_amplitude_v=(1e-6, 3e-6),
        line_v=(0.2e-3, 2e-3),
        blink_rate=(0.25, 0.5),
        blink_amplitude_v=(100e-6, 250e-6),
        pop_rate=1 / 30,
        pop_amplitude_v=(100e-6, 1e-3),
        offset_v=20e-3,
        drift_v=100e-6,
        drift_tau_s=10.0,
        bad_channel_probability=1.0,
        n_bad_channels=(2, 3),
        bad_noise_factor=(5.0, 15.0),
        bad_line_v=(2e-3, 10e-3),
    ),
}


def _preset(preset: str | Preset) -> Preset:
    if isinstance(preset, Preset):
        return preset
    return PRESETS[check_option("preset", preset, tuple(PRESETS))]


# ----------------------------------------------------------------------------- geometry

#: Radius of the sphere unknown channels are placed on, in m (a typical head).
_HEAD_RADIUS_M = 0.09


@cache
def _template_positions() -> dict[str, np.ndarray]:
    import mne

    # MNE 1.13 renamed its 10-05 template "colin27_1005" (same positions as the former
    # "standard_1005", which now warns); older versions only know the old name.
    builtin = mne.channels.get_builtin_montages()
    name = "colin27_1005" if "colin27_1005" in builtin else "standard_1005"
    positions = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return {ch.lower(): np.asarray(pos, dtype=float) for ch, pos in positions.items()}


def channel_positions(ch_names: Sequence[str]) -> np.ndarray:
    """Head positions of channels from the 10-05 template, in m, shape ``(n_channels, 3)``.

    Names are matched case-insensitively. Channels the template does not know (``EEG1``)
    are spread evenly over the upper half of a 9 cm sphere, in order, so any montage works.
    """
    template = _template_positions()
    positions = np.empty((len(ch_names), 3))
    unknown = [i for i, ch in enumerate(ch_names) if ch.lower() not in template]
    for i, ch in enumerate(ch_names):
        if ch.lower() in template:
            positions[i] = template[ch.lower()]
    # A Fibonacci spiral over the upper hemisphere: deterministic and evenly spaced.
    for k, i in enumerate(unknown):
        z = 1.0 - (k + 0.5) / len(unknown)
        phi = k * np.pi * (3.0 - np.sqrt(5.0))
        r = np.sqrt(1.0 - z * z)
        positions[i] = _HEAD_RADIUS_M * np.array([r * np.cos(phi), r * np.sin(phi), z])
    return positions


def _site(name: str) -> np.ndarray:
    return _template_positions()[name.lower()]


def _gaussian_topography(positions: np.ndarray, center: np.ndarray, spread_m: float) -> np.ndarray:
    """Weights exp(-d²/2s²) of each channel around ``center``, scaled so the largest is 1."""
    d2 = ((positions - center) ** 2).sum(axis=1)
    w = np.exp(-d2 / (2.0 * spread_m**2))
    return w / w.max()


def _eye_topography(positions: np.ndarray) -> np.ndarray:
    """Blink weights: falling off with the distance to the nearer eye, largest = 1."""
    # The eyes sit below and slightly in front of Fp1/Fp2.
    eyes = [_site("Fp1") + np.array([0.0, 0.0, -0.03]), _site("Fp2") + np.array([0.0, 0.0, -0.03])]
    d = np.min([np.linalg.norm(positions - eye, axis=1) for eye in eyes], axis=0)
    w = np.exp(-d / 0.025)
    return w / w.max()


def _alpha_topography(positions: np.ndarray) -> np.ndarray:
    return _gaussian_topography(positions, _site("Oz") + np.array([0.0, 0.02, 0.03]), 0.05)


def _vep_topography(positions: np.ndarray) -> np.ndarray:
    return _gaussian_topography(positions, _site("Oz") + np.array([0.0, 0.01, 0.02]), 0.045)


# ----------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class SimulatedSubject:
    """A simulated person: a birthdate and how their EEG looks.

    Amplitudes are in V, times in s, frequencies in Hz, positions in m (MNE head frame);
    levels are those of :class:`Preset` (0.5-20 Hz), drawn for this subject.

    Attributes
    ----------
    subject : str
        BIDS label (``S01``).
    birthdate : date
        The ground truth; its day, month and year are the items that evoke a P300.
    innocent : bool
        The birth year lies outside ``years``: no year item is the subject's own.
    preset : str
        The preset the subject was drawn from.
    ch_names : tuple of str
        The montage ``p300_topography`` and ``bad_channels`` refer to.
    p300_amplitude_v, p300_latency_s, p300_width_s : float
        Peak of the average P300 at the strongest channel (V), its latency (s) and the SD
        of its Gaussian waveform (s).
    p300_center_m, p300_spread_m
        Centre (x, y, z) and spread of the P300's Gaussian topography (m); any montage
        gets its weights from these.
    p300_topography : tuple of float
        Weight per channel of ``ch_names``, largest 1.
    vep_amplitude_v : float
        Peak of the visual P1 to every stimulus (V).
    background_rms_v, alpha_freq, alpha_fraction
        Ongoing EEG RMS (V), alpha peak frequency (Hz) and alpha's share of the power.
    line_freq, line_v : float
        Mains frequency (50 or 60 Hz) and its amplitude on a good channel (V).
    blink_rate, blink_amplitude_v : float
        Blinks per second and their peak nearest the eyes (V).
    bad_channels : tuple of str
        Badly connected channels; ``bad_noise_factor`` and ``bad_line_v`` say how bad.
    seed : int
        The seed the subject was drawn with.
    years : tuple of int
        The year range the subject was drawn for; recordings show it by default.
    """

    subject: str
    birthdate: date
    innocent: bool
    preset: str
    ch_names: tuple[str, ...]
    p300_amplitude_v: float
    p300_latency_s: float
    p300_width_s: float
    p300_center_m: tuple[float, float, float]
    p300_spread_m: float
    p300_topography: tuple[float, ...]
    vep_amplitude_v: float
    background_rms_v: float
    alpha_freq: float
    alpha_fraction: float
    line_freq: float
    line_v: float
    blink_rate: float
    blink_amplitude_v: float
    bad_channels: tuple[str, ...]
    bad_noise_factor: float
    bad_line_v: float
    seed: int = 0
    years: tuple[int, int] = field(default=DEFAULT_YEARS)

    def own_item(self, phase: str) -> int:
        """The subject's own item of ``phase``: birth day, month or year."""
        phase = check_option("phase", phase, PHASES)
        return {"day": self.birthdate.day, "month": self.birthdate.month,
                "year": self.birthdate.year}[phase]

    def recognizes(self, phase: str, value: int) -> bool:
        """True if ``value`` is the subject's own item of ``phase`` (it evokes a P300)."""
        return int(value) == self.own_item(phase)

    def label(self, session_id: UUID) -> Label:
        """The ground-truth :class:`~brain_core.models.Label` of a session."""
        return Label(session_id=session_id, subject=self.subject, birthdate=self.birthdate)

    def __repr__(self) -> str:  # keeps birthdates out of logs, as models.Label does
        return (f"SimulatedSubject(subject={self.subject!r}, preset={self.preset!r}, "
                f"innocent={self.innocent}, birthdate=<hidden>)")


def subject_label(index: int) -> str:
    """BIDS label of the ``index``-th simulated subject (1-based): ``S01``, ``S02``, …"""
    return f"S{index:02d}"


def _seed_sequence(seed: int, *keys: str | int) -> np.random.SeedSequence:
    """A SeedSequence for ``seed`` and the given keys (strings hashed with CRC-32, which,
    unlike ``hash()``, is the same in every process)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InvalidInputError(
            f"Invalid value for the 'seed' parameter: expected an integer >= 0, got {seed!r}.",
            field="seed",
        )
    entropy = [int(seed)]
    for key in keys:
        entropy.append(zlib.crc32(key.encode()) if isinstance(key, str) else int(key))
    return np.random.SeedSequence(entropy)


def _uniform(rng: np.random.Generator, bounds: Range) -> float:
    low, high = bounds
    return float(low) if high <= low else float(rng.uniform(low, high))


def _birthdate(rng: np.random.Generator, years: tuple[int, int], innocent: bool) -> date:
    start, end = years
    if not innocent:
        year = int(rng.integers(start, end + 1))
    else:
        # Born up to 20 years before or after the range, but never in the future.
        last_year = datetime.now(UTC).year - 1
        before = list(range(max(MIN_YEAR, start - 20), start))
        after = list(range(end + 1, min(end + 20, last_year) + 1))
        choices = before + after
        if not choices:
            raise InvalidInputError(
                f"Invalid value for the 'years' parameter: the range {start}-{end} leaves no "
                f"birth year outside it between {MIN_YEAR} and {last_year} for an innocent "
                "subject.",
                field="years",
            )
        year = int(rng.choice(choices))
    month = int(rng.integers(1, 13))
    days_in_month = ((date(year + month // 12, month % 12 + 1, 1)) - date(year, month, 1)).days
    day = int(rng.integers(1, days_in_month + 1))
    return date(year, month, day)


def make_subject(
    subject: str,
    *,
    preset: str | Preset = "easy",
    seed: int = 0,
    years: tuple[int, int] = DEFAULT_YEARS,
    innocent: bool = False,
    ch_names: Sequence[str] = CROWN_CH_NAMES,
    birthdate: date | None = None,
) -> SimulatedSubject:
    """Draw a simulated subject: a birthdate and the parameters of their EEG.

    Parameters
    ----------
    subject : str
        BIDS label, alphanumeric (``S01``).
    preset : str | Preset
        ``"easy"``, ``"realistic"`` or ``"hard"`` (see :data:`PRESETS`).
    seed : int
        Same seed and label, same subject.
    years : tuple of int
        Inclusive range of the years the paradigm shows.
    innocent : bool
        If True the birth year lies outside ``years`` (no year item is the subject's own).
    ch_names : sequence of str
        Montage the per-channel values (topography, bad channels) refer to.
    birthdate : date | None
        Force a birthdate instead of drawing one (``innocent`` is then ignored and set
        from whether its year lies outside ``years``).

    Returns
    -------
    SimulatedSubject
    """
    import re

    if not isinstance(subject, str) or not re.fullmatch(SUBJECT_PATTERN, subject):
        raise InvalidInputError(
            f"Invalid value for the 'subject' parameter: expected a BIDS label of 1-64 "
            f"letters and digits, got {subject!r}.",
            field="subject",
        )
    p = _preset(preset)
    ch_names = tuple(ch_names)
    if not ch_names or len(set(ch_names)) != len(ch_names):
        raise InvalidInputError(
            f"Invalid value for the 'ch_names' parameter: expected unique names, got "
            f"{list(ch_names)}.",
            field="ch_names",
        )
    make_paradigm("year", years=years)  # validates the range with a clear message
    rng = np.random.default_rng(_seed_sequence(seed, "subject", subject))

    if birthdate is None:
        birthdate = _birthdate(rng, years, innocent)
    else:
        innocent = not years[0] <= birthdate.year <= years[1]
    positions = channel_positions(ch_names)
    # The P300 centre wanders a little around a point between Pz and CPz from one person
    # to the next, which is what makes topographies subject-specific.
    center = (_site("Pz") + _site("CPz")) / 2 + rng.normal(0.0, [0.012, 0.012, 0.006])
    spread = _uniform(rng, (0.042, 0.055))
    topography = _gaussian_topography(positions, center, spread)

    n_channels = len(ch_names)
    bad: tuple[str, ...] = ()
    if n_channels > 1 and rng.random() < p.bad_channel_probability:
        low, high = p.n_bad_channels
        n_bad = min(int(rng.integers(low, high + 1)), n_channels - 1)
        picked = rng.choice(n_channels, size=n_bad, replace=False)
        bad = tuple(ch_names[i] for i in sorted(picked))

    return SimulatedSubject(
        subject=subject,
        birthdate=birthdate,
        innocent=bool(innocent),
        preset=p.name,
        ch_names=ch_names,
        p300_amplitude_v=_uniform(rng, p.p300_amplitude_v),
        p300_latency_s=_uniform(rng, p.p300_latency_s),
        p300_width_s=_uniform(rng, p.p300_width_s),
        p300_center_m=(float(center[0]), float(center[1]), float(center[2])),
        p300_spread_m=spread,
        p300_topography=tuple(float(w) for w in topography),
        vep_amplitude_v=_uniform(rng, p.vep_amplitude_v),
        background_rms_v=_uniform(rng, p.background_rms_v),
        alpha_freq=_uniform(rng, p.alpha_freq),
        alpha_fraction=_uniform(rng, p.alpha_fraction),
        line_freq=float(rng.choice([50.0, 60.0])),
        line_v=_uniform(rng, p.line_v),
        blink_rate=_uniform(rng, p.blink_rate),
        blink_amplitude_v=_uniform(rng, p.blink_amplitude_v),
        bad_channels=bad,
        bad_noise_factor=_uniform(rng, p.bad_noise_factor),
        bad_line_v=_uniform(rng, p.bad_line_v),
        seed=int(seed),
        years=(int(years[0]), int(years[1])),
    )


# ----------------------------------------------------------------------------- physics

# Pink-noise filter: a classic 3-pole/3-zero approximation of a 1/f power spectrum over
# about four decades of normalized frequency (J. O. Smith, "Spectral Audio Signal
# Processing", CCRMA, section on pink noise).
_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])

#: Distance over which the correlation of background sources falls by 1/e, in m.
_CORRELATION_LENGTH_M = 0.08
#: Bandwidth of the alpha resonator (its envelope then waxes and wanes over ~0.3 s) and
#: time constant and depth of a slower log-normal modulation on top.
_ALPHA_BANDWIDTH = 1.0
_ALPHA_MOD_TAU_S = 2.0
_ALPHA_MOD_DEPTH = 0.5


def _band_power(b: np.ndarray, a: np.ndarray, sfreq: float) -> float:
    """Power in :data:`LEVEL_BAND` of unit-variance white noise filtered by ``b/a``."""
    low, high = LEVEL_BAND[0], min(LEVEL_BAND[1], 0.999 * sfreq / 2)
    freqs = np.linspace(low, high, 4000)
    _, h = freqz(b, a, worN=freqs, fs=sfreq)
    return float(np.trapezoid(np.abs(h) ** 2, freqs) * 2.0 / sfreq)


def _band_peak_gaussian(width_s: float, sfreq: float) -> float:
    """Peak of a unit Gaussian pulse (SD ``width_s``) after an ideal 0.5-20 Hz band-pass.

    A 0.5 Hz high-pass removes a fifth or more of a P300's peak (it is broad); presets
    state levels in that band, so amplitudes are scaled by the inverse of this.
    """
    n = int(2 ** np.ceil(np.log2(32 * sfreq)))
    t = (np.arange(n) - n // 2) / sfreq
    spectrum = np.fft.rfft(np.exp(-0.5 * (t / width_s) ** 2))
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    spectrum[(freqs < LEVEL_BAND[0]) | (freqs > LEVEL_BAND[1])] = 0
    return float(np.fft.irfft(spectrum, n).max())


def _ou_coefficients(tau_s: float, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """First-order low-pass whose output has unit variance for unit-variance input."""
    a1 = float(np.exp(-1.0 / (tau_s * sfreq)))
    return np.array([np.sqrt(1.0 - a1 * a1)]), np.array([1.0, -a1])


def _drift_coefficients(tau_s: float, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """Two cascaded one-pole low-passes, unit output variance for unit-variance input.

    A single pole would leave a 1/f² tail that puts a few per cent of the drift's power
    above 0.5 Hz, i.e. into the EEG band; two poles make it negligible.
    """
    a1 = float(np.exp(-1.0 / (tau_s * sfreq)))
    gain = np.sqrt((1.0 - a1 * a1) ** 3 / (1.0 + a1 * a1))
    return np.array([gain]), np.array([1.0, -2.0 * a1, a1 * a1])


@dataclass
class _Transient:
    """An artifact that may spill over chunk borders: ``wave`` starts at sample ``start``
    (absolute); ``channels`` are the rows it goes to with per-row weights."""

    start: int
    wave: np.ndarray  # (n_times,)
    weights: np.ndarray  # (n_channels,)


class SignalGenerator:
    """One subject's EEG, produced chunk by chunk, plus their response to a stimulus.

    ``background(n_times)`` continues seamlessly where the previous call stopped: the
    concatenation of chunks equals one long call with the same seed, whatever the chunk
    sizes. ``response(phase, value)`` returns a waveform to add at a stimulus onset; it
    draws the trial's jitter, so calls differ.

    Parameters
    ----------
    subject : SimulatedSubject
        Who is recorded.
    preset : str | Preset | None
        Preset for what is not drawn per subject (jitter, pops, offsets, drift); None
        uses ``subject.preset``.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str | None
        Montage; None uses ``subject.ch_names``.
    seed : int
        Seed of the noise (the subject's own parameters come from the subject).
    artifacts : bool
        False leaves out blinks, pops, line noise, offsets, drift and bad channels:
        only ongoing EEG (for calibration checks).
    """

    def __init__(
        self,
        subject: SimulatedSubject,
        preset: str | Preset | None = None,
        sfreq: float = CROWN_SFREQ,
        ch_names: Sequence[str] | None = None,
        seed: int = 0,
        *,
        artifacts: bool = True,
    ) -> None:
        if not np.isfinite(sfreq) or sfreq < 2 * LEVEL_BAND[1] * 1.05:
            raise InvalidInputError(
                f"Invalid value for the 'sfreq' parameter: expected a sampling frequency of "
                f"at least {2.1 * LEVEL_BAND[1]:g} Hz, got {sfreq!r}.",
                field="sfreq",
            )
        self.subject = subject
        self.preset = _preset(preset if preset is not None else subject.preset)
        self.sfreq = float(sfreq)
        self.ch_names = tuple(ch_names) if ch_names is not None else subject.ch_names
        self.artifacts = artifacts
        self.n_channels = len(self.ch_names)
        self._n_done = 0  # samples produced so far
        self._transients: list[_Transient] = []

        streams = _seed_sequence(seed, "signal", subject.subject).spawn(8)
        (self._rng_pink, self._rng_white, self._rng_alpha, self._rng_drift, self._rng_blink,
         self._rng_pop, self._rng_bad, self._rng_response) = (
            np.random.default_rng(s) for s in streams)
        setup = np.random.default_rng(_seed_sequence(seed, "setup", subject.subject))

        pos = channel_positions(self.ch_names)
        self.positions = pos
        dist = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
        corr = np.exp(-dist / _CORRELATION_LENGTH_M)
        self._mixing = np.linalg.cholesky(corr + 1e-9 * np.eye(self.n_channels))
        self.bad = np.array([ch in subject.bad_channels for ch in self.ch_names])
        if not artifacts:
            self.bad[:] = False
        good = ~self.bad

        # Scale each part so the mean band power over good channels is background_rms_v².
        r2 = subject.background_rms_v**2
        f_alpha, f_white = subject.alpha_fraction, self.preset.sensor_noise_fraction
        self._pink_gain = np.sqrt(max(0.0, 1.0 - f_alpha - f_white) * r2
                                  / _band_power(_PINK_B, _PINK_A, sfreq))
        band_width = min(LEVEL_BAND[1], sfreq / 2) - LEVEL_BAND[0]
        self._white_gain = np.sqrt(f_white * r2 / (band_width * 2.0 / sfreq))
        r = np.exp(-np.pi * _ALPHA_BANDWIDTH / sfreq)
        theta = 2 * np.pi * subject.alpha_freq / sfreq
        self._alpha_b = np.array([1.0 - r])
        self._alpha_a = np.array([1.0, -2.0 * r * np.cos(theta), r * r])
        w_alpha = _alpha_topography(pos)
        mean_w2 = float(np.mean(w_alpha[good] ** 2)) if good.any() else 1.0
        self._alpha_gain = w_alpha * np.sqrt(
            f_alpha * r2 / mean_w2 / _band_power(self._alpha_b, self._alpha_a, sfreq))
        self._alpha_mod_b, self._alpha_mod_a = _ou_coefficients(_ALPHA_MOD_TAU_S, sfreq)

        self._p300_topography = _gaussian_topography(
            pos, np.asarray(subject.p300_center_m), subject.p300_spread_m)
        self._vep_topography = _vep_topography(pos)
        # Latency jitter smears the average into a wider, lower Gaussian, and the 0.5 Hz
        # high-pass of the level band lowers its peak further: scale single trials so that
        # the band-passed *average* peaks at p300_amplitude_v.
        width, jitter = subject.p300_width_s, self.preset.p300_latency_jitter_s
        smeared = np.sqrt(width**2 + jitter**2)
        self._p300_single_trial_v = (subject.p300_amplitude_v * smeared / width
                                     / _band_peak_gaussian(smeared, self.sfreq))
        self._eye_topography = _eye_topography(pos)

        # Line noise: every channel picks it up with a slightly different gain and phase.
        self._line_amp = subject.line_v * setup.uniform(0.5, 1.5, self.n_channels)
        self._line_amp[self.bad] = subject.bad_line_v * setup.uniform(0.8, 1.2, self.bad.sum())
        self._line_phase = setup.uniform(0, 2 * np.pi) + setup.normal(0, 0.2, self.n_channels)
        self._line_harmonics = [(k, g) for k, g in ((1, 1.0), (2, 0.1), (3, 0.05))
                                if k * subject.line_freq < 0.95 * sfreq / 2]
        self._offsets = setup.uniform(-1, 1, self.n_channels) * self.preset.offset_v
        self._drift_sd = np.full(self.n_channels, self.preset.drift_v)
        self._drift_sd[self.bad] *= 3.0
        self._drift_b, self._drift_a = _drift_coefficients(self.preset.drift_tau_s, sfreq)
        self._bad_gain = np.sqrt(
            max(subject.bad_noise_factor**2, 0.0) * r2 / _band_power(_PINK_B, _PINK_A, sfreq))

        # Filter states: start in the stationary regime, not from silence.
        n_bad = int(self.bad.sum())
        self._zi_pink = self._settled_state(_PINK_B, _PINK_A, (self.n_channels,), setup)
        self._zi_bad = self._settled_state(_PINK_B, _PINK_A, (n_bad,), setup)
        self._zi_alpha = self._settled_state(self._alpha_b, self._alpha_a, (1,), setup)
        self._zi_mod = setup.standard_normal((1, 1)) * self._alpha_mod_a[1] * -1
        self._zi_drift = self._settled_state(self._drift_b, self._drift_a, (self.n_channels,),
                                             setup, 6 * self.preset.drift_tau_s)
        self._next_blink = self._interval(self._rng_blink, subject.blink_rate)
        self._next_pop = self._interval(self._rng_pop, self.preset.pop_rate)

    def _settled_state(self, b: np.ndarray, a: np.ndarray, shape: tuple[int, ...],
                       rng: np.random.Generator, warm_s: float = 20.0) -> np.ndarray:
        """Filter state after ``warm_s`` seconds of input: the stationary regime."""
        n_warm = int(max(warm_s, 20.0) * self.sfreq)
        _, zi = lfilter(b, a, rng.standard_normal((*shape, n_warm)), axis=-1,
                        zi=np.zeros((*shape, len(a) - 1)))
        return zi

    def _interval(self, rng: np.random.Generator, rate: float) -> float:
        """Samples until the next event of a Poisson process (inf if ``rate`` is 0)."""
        if rate <= 0 or not self.artifacts:
            return np.inf
        return float(rng.exponential(1.0 / rate) * self.sfreq)

    @property
    def n_times_done(self) -> int:
        """Samples produced by :meth:`background` so far."""
        return self._n_done

    @property
    def response_n_times(self) -> int:
        """Length of the waveforms :meth:`response` returns, in samples."""
        return int(round(RESPONSE_S * self.sfreq))

    def background(self, n_times: int) -> np.ndarray:
        """The next ``n_times`` samples of ongoing EEG with artifacts, in V.

        Returns
        -------
        ndarray, shape (n_channels, n_times), float64
        """
        n = int(n_times)
        if n < 0:
            raise InvalidInputError(f"n_times must be >= 0, got {n_times}", field="n_times")
        start = self._n_done
        # Draws are made as (n_times, k) and transposed so that consecutive chunks read the
        # random streams in the same order as one long chunk would (seamless chunking).
        sources = self._rng_pink.standard_normal((n, self.n_channels)).T
        pink, self._zi_pink = lfilter(_PINK_B, _PINK_A, sources, axis=1, zi=self._zi_pink)
        data = self._pink_gain * (self._mixing @ pink)
        data += self._white_gain * self._rng_white.standard_normal((n, self.n_channels)).T

        alpha_noise = self._rng_alpha.standard_normal((n, 2)).T
        alpha, self._zi_alpha = lfilter(self._alpha_b, self._alpha_a, alpha_noise[:1], axis=1,
                                        zi=self._zi_alpha)
        mod, self._zi_mod = lfilter(self._alpha_mod_b, self._alpha_mod_a, alpha_noise[1:],
                                    axis=1, zi=self._zi_mod)
        # Log-normal envelope with unit mean square: exp(d·u - d²) for unit-variance u.
        envelope = np.exp(_ALPHA_MOD_DEPTH * mod[0] - _ALPHA_MOD_DEPTH**2)
        data += self._alpha_gain[:, None] * (alpha[0] * envelope)[None, :]

        if self.artifacts:
            self._add_artifacts(data, start, n)
        self._n_done += n
        return data

    def _add_artifacts(self, data: np.ndarray, start: int, n: int) -> None:
        t = (start + np.arange(n)) / self.sfreq
        for k, gain in self._line_harmonics:
            data += (gain * self._line_amp)[:, None] * np.sin(
                2 * np.pi * k * self.subject.line_freq * t[None, :] + k * self._line_phase[:, None])
        drift, self._zi_drift = lfilter(
            self._drift_b, self._drift_a, self._rng_drift.standard_normal((n, self.n_channels)).T,
            axis=1, zi=self._zi_drift)
        data += self._offsets[:, None] + self._drift_sd[:, None] * drift
        if self.bad.any():
            extra, self._zi_bad = lfilter(
                _PINK_B, _PINK_A, self._rng_bad.standard_normal((n, int(self.bad.sum()))).T,
                axis=1, zi=self._zi_bad)
            data[self.bad] += self._bad_gain * extra

        end = start + n
        while self._next_blink < end:
            self._transients.append(self._blink(int(self._next_blink)))
            self._next_blink += self._interval(self._rng_blink, self.subject.blink_rate)
        while self._next_pop < end:
            self._transients.append(self._pop(int(self._next_pop)))
            self._next_pop += self._interval(self._rng_pop, self.preset.pop_rate)
        kept = []
        for tr in self._transients:
            lo, hi = max(tr.start, start), min(tr.start + len(tr.wave), end)
            if hi > lo:
                data[:, lo - start:hi - start] += tr.weights[:, None] * tr.wave[None, lo - tr.start:
                                                                                hi - tr.start]
            if tr.start + len(tr.wave) > end:
                kept.append(tr)
        self._transients = kept

    def _blink(self, start: int) -> _Transient:
        rng = self._rng_blink
        duration = rng.uniform(0.25, 0.45)
        amplitude = self.subject.blink_amplitude_v * rng.uniform(0.7, 1.3)
        n = max(3, int(duration * self.sfreq))
        # A blink rises faster than it falls: a skewed raised-cosine bump.
        x = np.linspace(0.0, 1.0, n) ** 0.7
        wave = amplitude * 0.5 * (1 - np.cos(2 * np.pi * x))
        return _Transient(start, wave, self._eye_topography)

    def _pop(self, start: int) -> _Transient:
        rng = self._rng_pop
        # Loose electrodes pop more: a bad channel is five times as likely as a good one.
        p = np.where(self.bad, 5.0, 1.0)
        channel = rng.choice(self.n_channels, p=p / p.sum())
        size = _uniform(rng, self.preset.pop_amplitude_v) * rng.choice([-1.0, 1.0])
        tau = rng.uniform(0.1, 0.5)
        n = int(6 * tau * self.sfreq)
        wave = size * np.exp(-np.arange(n) / (tau * self.sfreq))
        weights = np.zeros(self.n_channels)
        weights[channel] = 1.0
        return _Transient(start, wave, weights)

    def response(self, phase: str, value: int) -> np.ndarray:
        """The subject's response to one stimulus, to be added at its onset, in V.

        A visual P1/N1 to every stimulus, plus a P300 if ``value`` is the subject's own
        item of ``phase``; trial-to-trial amplitude and latency jitter are drawn here.

        Returns
        -------
        ndarray, shape (n_channels, response_n_times), float64
            Sample 0 is the stimulus onset.
        """
        phase = check_option("phase", phase, PHASES)
        rng = self._rng_response
        subject, preset = self.subject, self.preset
        t = np.arange(self.response_n_times) / self.sfreq
        vep_gain = subject.vep_amplitude_v * rng.uniform(0.8, 1.2)
        vep = vep_gain * (np.exp(-0.5 * ((t - 0.10) / 0.02) ** 2)
                          - 1.3 * np.exp(-0.5 * ((t - 0.17) / 0.03) ** 2))
        out = self._vep_topography[:, None] * vep[None, :]
        if subject.recognizes(phase, value):
            width, jitter = subject.p300_width_s, preset.p300_latency_jitter_s
            shift = rng.normal(0.0, jitter) if jitter > 0 else 0.0
            latency = subject.p300_latency_s + float(np.clip(shift, -3 * jitter, 3 * jitter))
            cv = preset.p300_amplitude_cv
            gain = rng.gamma(1 / cv**2, cv**2) if cv > 0 else 1.0
            p300 = gain * self._p300_single_trial_v * np.exp(-0.5 * ((t - latency) / width) ** 2)
            out += self._p300_topography[:, None] * p300[None, :]
        return out


# ----------------------------------------------------------------------------- recordings


def _recording_seed(seed: int, subject: str, phase: str, *extra: str) -> np.random.SeedSequence:
    return _seed_sequence(seed, "recording", subject, phase, *extra)


def _default_meas_date(seed: int, subject: str) -> datetime:
    # Deterministic: a day in 2024 and an hour of the working day, from seed and label.
    rng = np.random.default_rng(_seed_sequence(seed, "date", subject))
    start = datetime(2024, 1, 1, 9, tzinfo=UTC)
    return start + timedelta(days=int(rng.integers(0, 365)), minutes=int(rng.integers(0, 480)))


def _uuid(seed_sequence: np.random.SeedSequence) -> UUID:
    raw = bytearray(np.random.default_rng(seed_sequence).bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4 (random)
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return UUID(bytes=bytes(raw))


def simulate_recording(
    subject: SimulatedSubject,
    phase: str,
    *,
    preset: str | Preset | None = None,
    paradigm: Paradigm | None = None,
    repetitions: int = 10,
    soa_s: float = 0.5,
    years: tuple[int, int] | None = None,
    sfreq: float = CROWN_SFREQ,
    ch_names: Sequence[str] | None = None,
    session_id: UUID | None = None,
    meas_date: datetime | None = None,
    seed: int = 0,
) -> Recording:
    """Simulate one phase of a session: the schedule of stimuli and the EEG it evokes.

    Parameters
    ----------
    subject : SimulatedSubject
        Who is recorded (see :func:`make_subject`).
    phase : str
        ``"day"``, ``"month"`` or ``"year"``.
    preset : str | Preset | None
        Noise preset; None uses the subject's.
    paradigm : Paradigm | None
        Items, repetitions, SOA, jitter and schedule seed. None builds the standard one
        with :func:`brain_core.paradigm.make_paradigm` from ``repetitions``, ``soa_s`` and
        ``years`` (which are ignored when a paradigm is given).
    repetitions : int
        Showings of each item.
    soa_s : float
        Stimulus onset asynchrony in s.
    years : tuple of int | None
        Year range shown in the year phase; None uses the subject's.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : sequence of str | None
        Montage; None uses the subject's (by default the Crown's 8 channels).
    session_id : UUID | None
        Session the recording belongs to; None derives one from the seed.
    meas_date : datetime | None
        Start of the recording (UTC); None derives one from the seed.
    seed : int
        Same arguments and seed, same recording.

    Returns
    -------
    Recording
        Data float32 in V, ``(n_channels, n_times)``; one event per stimulus. The first
        stimulus comes 1 s after the start, the recording ends 1.5 s after the last SOA.
    """
    phase = check_option("phase", phase, PHASES)
    shown: tuple[int, int] = (
        (int(years[0]), int(years[1])) if years is not None else subject.years)
    ss = _recording_seed(seed, subject.subject, phase)
    if paradigm is None:
        paradigm_seed = int(ss.generate_state(1, dtype=np.uint32)[0])
        paradigm = make_paradigm(phase, years=shown, soa_s=soa_s, repetitions=repetitions,
                                 seed=paradigm_seed)
    schedule = make_schedule(paradigm, lead_s=LEAD_S)
    events = schedule.events(phase)
    n_times = int(np.ceil((schedule.onsets[-1] + paradigm.soa_s + TAIL_S) * sfreq))

    generator = SignalGenerator(subject, preset, sfreq, ch_names,
                                seed=int(ss.generate_state(2, dtype=np.uint32)[1]))
    data = generator.background(n_times)
    n_resp = generator.response_n_times
    for onset, value in zip(schedule.onsets, schedule.values, strict=True):
        i = int(round(onset * sfreq))
        stop = min(i + n_resp, n_times)
        data[:, i:stop] += generator.response(phase, int(value))[:, :stop - i]

    return Recording(
        session_id=session_id if session_id is not None else _uuid(
            _seed_sequence(seed, "session", subject.subject)),
        subject=subject.subject,
        phase=Phase(phase),
        sfreq=sfreq,
        ch_names=generator.ch_names,
        data=data.astype(np.float32),
        meas_date=meas_date if meas_date is not None else _default_meas_date(seed,
                                                                              subject.subject),
        events=events,
        device=SIMULATED_DEVICE,
        paradigm=paradigm,
        software_version=__version__,
        untimed=False,
    )


def simulate_session(
    subject: SimulatedSubject,
    *,
    preset: str | Preset | None = None,
    repetitions: int = 10,
    years: tuple[int, int] | None = None,
    seed: int = 0,
    soa_s: float = 0.5,
    sfreq: float = CROWN_SFREQ,
    ch_names: Sequence[str] | None = None,
    phases: Sequence[str] = PHASES,
    session_id: UUID | None = None,
    meas_date: datetime | None = None,
    pause_s: float = 30.0,
) -> tuple[list[Recording], Label]:
    """Simulate a whole session: one recording per phase, sharing one ``session_id``.

    Phases follow each other with ``pause_s`` seconds between them (their ``meas_date``
    advances accordingly). Other parameters as in :func:`simulate_recording`.

    Returns
    -------
    recordings : list of Recording
        One per phase of ``phases``, in that order.
    label : Label
        The subject's birthdate for this session.
    """
    if session_id is None:
        session_id = _uuid(_seed_sequence(seed, "session", subject.subject))
    start = meas_date if meas_date is not None else _default_meas_date(seed, subject.subject)
    recordings = []
    for phase in phases:
        recording = simulate_recording(
            subject, phase, preset=preset, repetitions=repetitions, soa_s=soa_s, years=years,
            sfreq=sfreq, ch_names=ch_names, session_id=session_id, meas_date=start, seed=seed)
        recordings.append(recording)
        start = start + timedelta(seconds=recording.duration_s + pause_s)
    return recordings, subject.label(session_id)


def _innocent_flags(n_subjects: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInputError(
            f"Invalid value for the 'innocent_fraction' parameter: expected a share between "
            f"0 and 1, got {fraction!r}.",
            field="innocent_fraction",
        )
    flags = np.zeros(n_subjects, dtype=bool)
    flags[rng.permutation(n_subjects)[: int(round(fraction * n_subjects))]] = True
    return flags


def simulate_dataset(
    n_subjects: int,
    *,
    preset: str | Preset = "easy",
    seed: int = 0,
    repetitions: int = 10,
    years: tuple[int, int] = DEFAULT_YEARS,
    innocent_fraction: float = 0.1,
    phases: Sequence[str] = PHASES,
    **session_kwargs: Any,
) -> Iterator[tuple[tuple[Recording, ...], Label]]:
    """Simulate one session for each of ``n_subjects`` subjects, lazily.

    Subjects are labelled ``S01``, ``S02``, …; ``round(innocent_fraction * n_subjects)`` of
    them, picked at random, are innocent (born outside ``years``).

    Parameters
    ----------
    n_subjects : int
        Number of subjects (one session each).
    preset, seed, repetitions, years, phases
        As in :func:`make_subject` and :func:`simulate_session`.
    innocent_fraction : float
        Share of innocent subjects, 0-1.
    **session_kwargs
        Passed on to :func:`simulate_session` (``soa_s``, ``sfreq``, ``ch_names``, …).

    Yields
    ------
    recordings : tuple of Recording
        The session's recordings, one per phase.
    label : Label
        The session's birthdate.
    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or n_subjects < 1:
        raise InvalidInputError(
            f"Invalid value for the 'n_subjects' parameter: expected an integer >= 1, got "
            f"{n_subjects!r}.",
            field="n_subjects",
        )
    for phase in phases:
        check_option("phases", phase, PHASES)
    innocent = _innocent_flags(n_subjects, innocent_fraction,
                               np.random.default_rng(_seed_sequence(seed, "innocent")))
    ch_names = session_kwargs.get("ch_names") or CROWN_CH_NAMES
    for i in range(n_subjects):
        subject = make_subject(subject_label(i + 1), preset=preset, seed=seed, years=years,
                               innocent=bool(innocent[i]), ch_names=ch_names)
        recordings, label = simulate_session(subject, preset=preset, repetitions=repetitions,
                                             years=years, seed=seed, phases=phases,
                                             **session_kwargs)
        yield tuple(recordings), label


def write_simulated_dataset(
    out: Path | str,
    n_subjects: int,
    *,
    preset: str | Preset = "easy",
    seed: int = 0,
    repetitions: int = 10,
    years: tuple[int, int] = DEFAULT_YEARS,
    innocent_fraction: float = 0.1,
    phases: Sequence[str] = PHASES,
    progress: bool = True,
    **session_kwargs: Any,
) -> Path:
    """Simulate a dataset and write it as labelled BIDS-EEG under ``out``.

    Sessions are simulated and written one at a time (memory stays flat) through
    :func:`brain_core.bids.write_dataset`; the birthdates end up in participants.tsv
    (column ``birthdate``). Arguments as in :func:`simulate_dataset`; ``progress`` shows a
    progress bar over the recordings on stderr.

    Returns
    -------
    Path
        The BIDS root (``out``).
    """
    from tqdm.auto import tqdm

    from brain_core import bids

    out = Path(out)
    sessions = simulate_dataset(n_subjects, preset=preset, seed=seed, repetitions=repetitions,
                                years=years, innocent_fraction=innocent_fraction, phases=phases,
                                **session_kwargs)
    labels: list[Label] = []

    def recordings() -> Iterator[Recording]:
        # write_dataset reads the labels only after the last recording: filled by then.
        for session, label in sessions:
            labels.append(label)
            yield from session

    bar = tqdm(recordings(), total=n_subjects * len(phases), desc="Simulating",
               unit="recording", disable=not progress)
    bids.write_dataset(out, bar, labels, progress=False)
    bar.close()
    return out
