"""Signal steps of the transform: filters, resampling, bad channels, re-referencing.

Every function here works on continuous EEG shaped ``(n_channels, n_times)`` in volts,
in float64 (forward-backward IIR filtering and medians of µV-sized values are computed
in double precision; :mod:`brain_transform_service.transform` casts the result to
float32). Nothing here knows about events or epochs. The per-sample arithmetic avoids
BLAS, whose threaded reductions could make the output depend on the thread count.

Why zero-phase IIR (Butterworth, ``scipy.signal.sosfiltfilt``) rather than FIR: the
transform always sees a whole recording, so running the filter forwards and backwards
costs nothing in latency and gives zero phase (P300 latencies are not shifted). An FIR
with the 0.5 Hz transition band a 0.5 Hz high-pass needs would be ~6.6 s long (MNE's
length rule of 3.3 / transition bandwidth), about 1,700 taps at 256 Hz, against a
single second-order section here. The high-pass is gentle (order 2, applied twice)
because steep high-pass filters distort slow ERP components such as the P300 (Tanner,
Morgan-Short & Luck 2015, Psychophysiology 52:997); the low-pass is steeper (order 4,
applied twice: -6 dB at ``h_freq``, below -70 dB at 50 Hz for ``h_freq`` = 20 Hz).

The filter runs in two passes because the two ends of the band want different edge
handling (see :func:`lowpass` and :func:`highpass`): the low-pass and notches run at
the recording's own rate, before resampling, so that line-noise harmonics up to the
recording's Nyquist frequency are removed before they could alias; the high-pass runs
after resampling, on half the samples.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from scipy import signal

#: Quality factor of each line-noise notch: -3 dB bandwidth f0 / Q (5 Hz at 50 Hz). Wide
#: enough for a grid off by a few tenths of a hertz and to settle fast (time constant
#: Q / (pi * f0) = 64 ms at 50 Hz); the band it takes lies far above ``h_freq``.
NOTCH_Q = 10.0
HIGHPASS_ORDER = 2
LOWPASS_ORDER = 4
#: Edge segment whose line-noise sinusoids are fitted and continued into the padding of
#: the low-pass and notch pass, s; also the padding's length (4 time constants of the
#: 50 Hz notch, many of the low-pass). Short, so that a grid 0.1 Hz off nominal drifts
#: little in phase across it.
EDGE_FIT_S = 0.25
#: Pass edge of the decimation anti-alias filter, as a fraction of the output Nyquist.
ANTI_ALIAS_PASS = 0.75
ANTI_ALIAS_ATTENUATION_DB = 60.0
#: Largest denominator of the up/down resampling ratio; 250 Hz -> 128 Hz is 64/125.
MAX_RESAMPLE_DENOMINATOR = 1000
#: Robust standard deviation = 1.4826 * median absolute deviation for Gaussian data.
MAD_TO_STD = 1.4826


def line_harmonics(line_freqs: tuple[float, ...], sfreq: float) -> tuple[float, ...]:
    """Every harmonic of ``line_freqs`` (Hz) strictly below the Nyquist frequency.

    Examples
    --------
    >>> line_harmonics((50.0, 60.0), 256.0)
    (50.0, 60.0, 100.0, 120.0)
    """
    nyquist = sfreq / 2.0
    found: set[float] = set()
    for f0 in line_freqs:
        k = 1
        while k * f0 < nyquist:
            found.add(round(k * f0, 6))  # 300 Hz is both 6 x 50 and 5 x 60: notch it once
            k += 1
    return tuple(sorted(found))


@lru_cache(maxsize=64)
def design_lowpass(sfreq: float, h_freq: float, line_freqs: tuple[float, ...]) -> np.ndarray:
    """Second-order sections of the low-pass and the line-noise notches.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the data to filter, Hz.
    h_freq : float
        Low-pass edge (-3 dB of one pass, -6 dB after ``sosfiltfilt``), Hz.
    line_freqs : tuple of float
        Line frequencies, Hz; every harmonic below ``sfreq / 2`` gets a notch.

    Returns
    -------
    sos : array, shape (n_sections, 6)
        For ``scipy.signal.sosfiltfilt``. Read-only (it is cached).
    """
    sections = [signal.butter(LOWPASS_ORDER, h_freq, "lowpass", fs=sfreq, output="sos")]
    for f0 in line_harmonics(line_freqs, sfreq):
        b, a = signal.iirnotch(f0, NOTCH_Q, fs=sfreq)
        sections.append(signal.tf2sos(b, a))
    sos = np.vstack(sections)
    sos.flags.writeable = False
    return sos


@lru_cache(maxsize=64)
def design_highpass(sfreq: float, l_freq: float) -> np.ndarray:
    """Second-order sections of the high-pass at ``l_freq`` Hz for data at ``sfreq`` Hz.

    Returns
    -------
    sos : array, shape (1, 6)
        Read-only (it is cached).
    """
    sos = signal.butter(HIGHPASS_ORDER, l_freq, "highpass", fs=sfreq, output="sos")
    sos.flags.writeable = False
    return sos


@lru_cache(maxsize=16)
def _sinusoid_fit(
    sfreq: float, freqs: tuple[float, ...], fit_len: int, padlen: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine/sine designs for fitting ``freqs`` (Hz) over ``fit_len`` samples.

    Returns
    -------
    pinv : array, shape (2 * n_freqs, fit_len)
        Least-squares solver: coefficients = ``pinv @ segment``.
    inside : array, shape (fit_len, 2 * n_freqs)
        The design over the segment.
    outside : array, shape (2, padlen, 2 * n_freqs)
        The design over the ``padlen`` samples before the segment and after it.
    """

    def design(k: np.ndarray) -> np.ndarray:
        arg = 2 * np.pi * np.outer(k / sfreq, freqs)
        return np.hstack([np.cos(arg), np.sin(arg)])

    inside = design(np.arange(fit_len))
    pinv = np.linalg.pinv(inside)
    outside = np.stack(
        [design(np.arange(-padlen, 0)), design(np.arange(fit_len, fit_len + padlen))]
    )
    for array in (pinv, inside, outside):
        array.flags.writeable = False
    return pinv, inside, outside


def extend_edges(data: np.ndarray, sfreq: float, notch_freqs: tuple[float, ...]) -> np.ndarray:
    """Pad ``data`` (n_channels, n_times) at both ends for the low-pass and notch pass.

    Each end is extended over ``EDGE_FIT_S`` seconds by the mirror image of the edge
    segment with its line-noise sinusoids (``notch_freqs``, Hz) removed, plus those
    sinusoids continued. A mirror keeps the EEG's local level (no step for the low-pass
    to smear), and the continued sinusoids keep a millivolt line noise in phase across
    the edge: a plain mirror or odd extension breaks its phase there, and the notch's
    settling transient leaves hundreds of µV in the last tens of milliseconds, which
    the high-pass then spreads over a second of data.

    Returns
    -------
    padded : array, shape (n_channels, n_times + 2 * padlen)
        ``padlen = min(round(EDGE_FIT_S * sfreq), n_times) - 1`` samples each side.
    """
    n_times = data.shape[-1]
    fit_len = min(int(round(EDGE_FIT_S * sfreq)), n_times)
    padlen = fit_len - 1
    edges = [data[:, :fit_len], data[:, n_times - fit_len :]]
    if notch_freqs:
        pinv, inside, outside = _sinusoid_fit(sfreq, notch_freqs, fit_len, padlen)
        pads = []
        for side, segment in enumerate(edges):
            # einsum, not BLAS: the result does not depend on the BLAS thread count.
            coef = np.einsum("ft,ct->cf", pinv, segment)
            residual = segment - np.einsum("tf,cf->ct", inside, coef)
            continued = np.einsum("tf,cf->ct", outside[side], coef)
            pads.append(_mirror(residual, side, padlen) + continued)
    else:
        pads = [_mirror(segment, side, padlen) for side, segment in enumerate(edges)]
    return np.concatenate([pads[0], data, pads[1]], axis=-1)


def _mirror(segment: np.ndarray, side: int, padlen: int) -> np.ndarray:
    """Mirror image (edge sample excluded) of ``padlen`` samples, before (0) or after (1)."""
    if side == 0:
        return segment[:, padlen:0:-1]
    return segment[:, -2 : -padlen - 2 : -1]


def lowpass(
    data: np.ndarray, sos: np.ndarray, sfreq: float, notch_freqs: tuple[float, ...]
) -> np.ndarray:
    """Zero-phase low-pass and notch ``data`` (n_channels, n_times), volts, with ``sos``.

    ``notch_freqs`` (Hz) are those ``sos`` notches (:func:`line_harmonics`); the ends
    are padded by :func:`extend_edges`.
    """
    padded = extend_edges(data, sfreq, notch_freqs)
    padlen = (padded.shape[-1] - data.shape[-1]) // 2
    # sosfilt's Cython kernel refuses read-only buffers, and the cached design is one.
    out = signal.sosfiltfilt(np.array(sos), padded, axis=-1, padtype=None)
    return out[:, padlen : padlen + data.shape[-1]]


def highpass(data: np.ndarray, sos: np.ndarray, sfreq: float, l_freq: float) -> np.ndarray:
    """Zero-phase high-pass ``data`` (n_channels, n_times), volts, with ``sos``.

    The ends are extended by their mirror image over ``2 / l_freq`` seconds (4 s at
    0.5 Hz, several time constants of the high-pass). A mirror keeps the local level;
    an odd extension sits ``2 * x[0]`` away from the data, which sets the slow high-pass
    ringing for over a second: on simulated EEG the error 0.75-1 s from an edge is
    about 2 % of the signal's standard deviation with the mirror against 7-8 % with
    the odd extension.
    """
    padlen = min(data.shape[-1] - 1, int(round(2.0 * sfreq / l_freq)))
    return signal.sosfiltfilt(np.array(sos), data, axis=-1, padtype="even", padlen=padlen)


def resample_ratio(sfreq: float, target_sfreq: float) -> tuple[int, int]:
    """``(up, down)`` with ``sfreq * up / down`` closest to ``target_sfreq``.

    Examples
    --------
    >>> resample_ratio(250.0, 128.0)
    (64, 125)
    >>> resample_ratio(256.0, 128.0)
    (1, 2)
    """
    ratio = Fraction(target_sfreq / sfreq).limit_denominator(MAX_RESAMPLE_DENOMINATOR)
    return ratio.numerator, ratio.denominator


def resample(data: np.ndarray, sfreq: float, target_sfreq: float) -> tuple[np.ndarray, float]:
    """Polyphase-resample ``data`` (n_channels, n_times), volts, to ``target_sfreq``.

    Returns
    -------
    data : array, shape (n_channels, n_times_new)
        Sample 0 is still at the time of the input's sample 0.
    sfreq : float
        The exact rate reached, ``sfreq * up / down`` (equal to ``target_sfreq`` for every
        rational pair of rates; otherwise within 1e-6 relative of it). Convert event
        onsets to samples with this value.
    """
    up, down = resample_ratio(sfreq, target_sfreq)
    if up == down:
        return data, sfreq
    # 'line' removes the straight line through the end points before padding, so an
    # offset or a drift left at the edges does not become a step.
    out = signal.resample_poly(data, up, down, axis=-1, padtype="line")
    return out, sfreq * up / down


@lru_cache(maxsize=16)
def design_anti_alias(sfreq: float, output_sfreq: float) -> np.ndarray:
    """Linear-phase low-pass FIR for keeping every ``sfreq / output_sfreq``-th sample.

    Pass band up to ``ANTI_ALIAS_PASS`` x the output Nyquist, at least
    ``ANTI_ALIAS_ATTENUATION_DB`` dB of attenuation from the output Nyquist on
    (Kaiser window). For 128 Hz -> 32 Hz: flat to 12 Hz, -60 dB from 16 Hz, 119 taps.

    Returns
    -------
    taps : array, shape (n_taps,)
        Odd length, symmetric (no delay when centred). Read-only (it is cached).
    """
    nyquist_out = output_sfreq / 2.0
    pass_edge = ANTI_ALIAS_PASS * nyquist_out
    width = (nyquist_out - pass_edge) / (sfreq / 2.0)
    n_taps, beta = signal.kaiserord(ANTI_ALIAS_ATTENUATION_DB, width)
    n_taps += 1 - n_taps % 2  # odd: a whole-sample delay that centring removes exactly
    taps = signal.firwin(
        n_taps, (pass_edge + nyquist_out) / 2.0, window=("kaiser", beta), fs=sfreq
    )
    taps.flags.writeable = False
    return taps


def anti_alias(data: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Zero-phase FIR filter ``data`` (n_channels, n_times), volts, with ``taps``.

    Ends are extended by odd (point) reflection, which continues both the value and
    the slope at the edge; its offset of ``2 * x[0]`` only troubles filters with a
    long memory at 0 Hz, which this short low-pass is not. The output is centred.
    """
    half = (len(taps) - 1) // 2
    padded = np.pad(data, ((0, 0), (half, half)), mode="reflect", reflect_type="odd")
    return signal.fftconvolve(padded, taps[np.newaxis, :], mode="valid", axes=-1)


def robust_std(data: np.ndarray) -> np.ndarray:
    """Per-channel standard deviation from the median absolute deviation.

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        Volts, band-passed.

    Returns
    -------
    std : array, shape (n_channels,)
        Volts. Blinks and short bursts, which last a small share of a recording, barely
        move it, unlike the plain standard deviation.
    """
    centre = np.median(data, axis=-1, keepdims=True)
    return MAD_TO_STD * np.median(np.abs(data - centre), axis=-1)


def find_bad_channels(
    std: np.ndarray, flat_std: float, noisy_ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Flat and noisy channels from their robust standard deviations.

    Parameters
    ----------
    std : array, shape (n_channels,)
        Robust standard deviation of each band-passed channel, volts.
    flat_std : float
        Volts; a channel below it carries no EEG (disconnected, saturated, constant).
    noisy_ratio : float
        A channel whose ``std`` exceeds ``noisy_ratio`` times the median ``std`` of the
        non-flat channels is noisy (bad contact, muscle, a loose electrode).

    Returns
    -------
    flat, noisy : array of bool, shape (n_channels,)
        Disjoint masks.
    """
    flat = std < flat_std
    if flat.all():
        return flat, np.zeros_like(flat)
    typical = float(np.median(std[~flat]))
    noisy = ~flat & (std > noisy_ratio * typical)
    return flat, noisy


def rereference(data: np.ndarray, good: np.ndarray, reference: str | None) -> np.ndarray:
    """Re-reference and replace bad channels, in place.

    Parameters
    ----------
    data : array, shape (n_channels, n_times)
        Volts; modified in place and returned.
    good : array of bool, shape (n_channels,)
        At least one True.
    reference : 'average' | None
        ``'average'``: subtract the mean of the good channels from every good channel
        (a common average reference that bad channels do not contaminate).

    Notes
    -----
    A bad channel is replaced by the mean of the good channels (after re-referencing),
    so the channel set stays fixed and the replacement adds no information and no
    noise. Under the common average reference that mean is exactly zero, so bad
    channels become zeros; the data then have rank ``n_good - 1``, as every
    average-referenced recording does (covariance estimators need shrinkage).
    """
    if reference == "average":
        data[good] -= data[good].mean(axis=0, keepdims=True)
        data[~good] = 0.0
    elif (~good).any():
        data[~good] = data[good].mean(axis=0, keepdims=True)
    return data
