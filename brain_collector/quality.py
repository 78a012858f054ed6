"""The signal check: is each electrode picking up EEG, noise, or nothing?

Per channel, from a few seconds of data: the robust standard deviation (1.4826 x the
median absolute deviation, so blinks and pops do not dominate) of the signal band-passed
to 1-40 Hz, in µV. Resting EEG on a working dry electrode sits around 5-30 µV there. A
channel is ``flat`` below ``flat_uv`` (no contact, or a dead amplifier: nothing but
quantisation) and ``noisy`` above ``noisy_uv`` (poor contact, movement, mains pick-up
leaking below 40 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from brain_core.errors import InvalidInputError

#: Band of the noise estimate, Hz.
BAND = (1.0, 40.0)
#: MAD -> SD for Gaussian data.
_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class ChannelQuality:
    """How one channel looks: ``status`` is ``good``, ``noisy`` or ``flat``."""

    name: str
    noise_uv: float
    status: str


def robust_sd(data: np.ndarray, axis: int = -1) -> np.ndarray:
    """1.4826 x median absolute deviation along ``axis`` (same unit as ``data``)."""
    median = np.median(data, axis=axis, keepdims=True)
    return _MAD_TO_SD * np.median(np.abs(data - median), axis=axis)


def bandpass(data: np.ndarray, sfreq: float, band: tuple[float, float] = BAND) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass of ``data`` (..., n_times)."""
    from scipy.signal import butter, sosfiltfilt

    high = min(band[1], 0.45 * sfreq)
    sos = butter(4, (band[0], high), btype="bandpass", fs=sfreq, output="sos")
    return sosfiltfilt(sos, np.asarray(data, dtype=float), axis=-1)


def check_signal(data: np.ndarray, sfreq: float, ch_names: Sequence[str], *,
                 noisy_uv: float = 40.0, flat_uv: float = 0.5) -> list[ChannelQuality]:
    """Classify each channel of ``data`` as good, noisy or flat.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        Volts; at least one second.
    sfreq : float
        Hz.
    ch_names : sequence of str
        One per row.
    noisy_uv, flat_uv : float
        Thresholds on the robust SD in 1-40 Hz, µV.

    Returns
    -------
    list of ChannelQuality
        In the order of ``ch_names``.
    """
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] != len(ch_names):
        raise InvalidInputError(
            f"Invalid 'data': expected shape (n_channels={len(ch_names)}, n_times), got "
            f"{data.shape}.", field="data")
    if data.shape[1] < sfreq:
        raise InvalidInputError(
            f"Invalid 'data': the signal check needs at least 1 s ({int(sfreq)} samples), "
            f"got {data.shape[1]}.", field="data")
    noise_uv = robust_sd(bandpass(data, sfreq)) * 1e6
    result = []
    for name, level in zip(ch_names, noise_uv, strict=True):
        status = "flat" if level < flat_uv else "noisy" if level > noisy_uv else "good"
        result.append(ChannelQuality(name=name, noise_uv=float(level), status=status))
    return result
