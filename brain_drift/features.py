"""Per-session summary features: what drift is measured on.

Drift is judged on a handful of numbers per session, never on raw samples: EEG samples
are strongly autocorrelated, so a two-sample test on thousands of them "detects" a
difference between any two recordings (the original system alarmed on every session).
One row per session makes the rows of a window exchangeable with the rows of the
reference when nothing has changed, which is what the tests in
:mod:`brain_drift.evidently_report` assume.

Features of one recording (``data`` in V, ``(n_channels, n_times)``):

- ``<band>_log_uv2:<ch>``: log10 of the power in µV² of each channel in the delta
  (1-4 Hz), theta (4-8 Hz), alpha (8-13 Hz) and beta (13-30 Hz) bands, from a Welch
  spectrum (2 s segments, linear detrend, median average so one blink does not move it);
- ``line_log_uv2:<ch>``: log10 of the power in µV² within 2 Hz of 50 Hz and of 60 Hz
  (whichever the mains are; mean-averaged Welch spectrum), and ``line_log_uv2:median``
  across channels: each electrode
  picks up the mains with its own gain, the median keeps the part common to the session;
- ``rstd_log_uv:<ch>`` and ``kurtosis:<ch>``: log10 of the robust standard deviation
  (1.4826 x MAD, µV) and the excess kurtosis of the 1-30 Hz band-passed channel (the
  amplitude distribution: its width, and how heavy its tails are from blinks and pops);
- from the transform service's epochs (:func:`transform_recording`, the same transform
  the model sees): ``rejected_share`` (epochs rejected as artifacts), ``n_bad_channels``,
  ``erp_early_log_uv`` and ``erp_late_log_uv`` (log10 of the global field power, µV, of
  the average epoch at 80-200 ms, the visual response, and at 300-600 ms, the P300
  window) and ``ptp_median_log_uv`` (log10 of the median epoch peak-to-peak, µV).

A session's row is the mean of its recordings' features (its phases), so a session
counts once however many phases arrive.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal, stats

from brain_core.errors import InvalidInputError
from brain_core.models import Recording
from brain_transform_service.transform import TransformConfig, transform_recording

log = logging.getLogger(__name__)

#: Bumped whenever a feature's definition changes (a reference must then be rebuilt).
FEATURE_VERSION = "1"

#: Frequency bands, Hz, ``[low, high)``.
BANDS: dict[str, tuple[float, float]] = {
    "delta": (1.0, 4.0),
    "theta": (4.0, 8.0),
    "alpha": (8.0, 13.0),
    "beta": (13.0, 30.0),
}

#: Mains frequencies, Hz, and the half-width of the band integrated around each.
LINE_FREQS = (50.0, 60.0)
LINE_HALF_WIDTH_HZ = 2.0

#: Band of the amplitude-distribution features, Hz.
AMPLITUDE_BAND = (1.0, 30.0)

#: Windows of the ERP features, s after the stimulus onset.
ERP_EARLY_S = (0.08, 0.20)
ERP_LATE_S = (0.30, 0.60)

WELCH_SEGMENT_S = 2.0

#: Columns of a session table that are not features.
ID_COLUMNS = ("session_id", "subject", "n_recordings")

#: Floors that keep logarithms finite on flat channels (µV² and µV).
_POWER_FLOOR_UV2 = 1e-6
_AMPLITUDE_FLOOR_UV = 1e-3

_PER_CHANNEL = tuple(f"{band}_log_uv2" for band in BANDS) + (
    "line_log_uv2", "rstd_log_uv", "kurtosis")
_MONTAGE = ("line_log_uv2:median", "rejected_share", "n_bad_channels", "erp_early_log_uv",
            "erp_late_log_uv", "ptp_median_log_uv")


def feature_names(ch_names: Iterable[str]) -> list[str]:
    """The feature columns of a recording with channels ``ch_names``, in table order."""
    ch_names = list(ch_names)
    return [f"{feature}:{ch}" for feature in _PER_CHANNEL for ch in ch_names] + list(_MONTAGE)


def _band_power_uv2(freqs: np.ndarray, psd_uv2: np.ndarray, low: float, high: float
                    ) -> np.ndarray:
    """Power in ``[low, high)`` Hz per channel, µV², from a one-sided PSD in µV²/Hz."""
    mask = (freqs >= low) & (freqs < high)
    df = float(freqs[1] - freqs[0])
    return psd_uv2[:, mask].sum(axis=-1) * df


def _log10(values: np.ndarray, floor: float) -> np.ndarray:
    return np.log10(np.maximum(values, floor))


def spectral_features(data: np.ndarray, sfreq: float, ch_names: Iterable[str]
                      ) -> dict[str, float]:
    """Band powers, line-noise power and amplitude distribution of each channel.

    Parameters
    ----------
    data : ndarray, shape (n_channels, n_times)
        EEG in V.
    sfreq : float
        Sampling frequency in Hz.
    ch_names : iterable of str
        ``n_channels`` names.

    Returns
    -------
    dict of str to float
        ``<feature>:<ch>`` -> value; powers are log10 µV², amplitudes log10 µV. A band
        above the Nyquist frequency gives NaN.
    """
    ch_names = list(ch_names)
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(ch_names):
        raise InvalidInputError(
            f"Invalid value for the 'data' parameter: expected shape ({len(ch_names)}, "
            f"n_times), got {x.shape}.", field="data")
    nyquist = sfreq / 2
    nperseg = min(x.shape[1], int(round(WELCH_SEGMENT_S * sfreq)))
    # Median of the segments for the EEG bands (unbiased for noise-like rhythms, and one
    # blink does not move it); mean for the mains, a steady sinusoid, whose median would
    # be inflated by the median's bias correction.
    freqs, psd = signal.welch(x, fs=sfreq, nperseg=nperseg, detrend="linear",
                              average="median", axis=-1)
    psd_uv2 = psd * 1e12
    _, psd_mean = signal.welch(x, fs=sfreq, nperseg=nperseg, detrend="linear",
                               average="mean", axis=-1)
    psd_mean_uv2 = psd_mean * 1e12
    out: dict[str, float] = {}
    for band, (low, high) in BANDS.items():
        values = (_log10(_band_power_uv2(freqs, psd_uv2, low, high), _POWER_FLOOR_UV2)
                  if high <= nyquist else np.full(len(ch_names), np.nan))
        out.update({f"{band}_log_uv2:{ch}": float(v) for ch, v in zip(ch_names, values,
                                                                        strict=True)})
    if max(LINE_FREQS) + LINE_HALF_WIDTH_HZ <= nyquist:
        line = np.sum([_band_power_uv2(freqs, psd_mean_uv2, f - LINE_HALF_WIDTH_HZ,
                                       f + LINE_HALF_WIDTH_HZ + 1e-9) for f in LINE_FREQS],
                      axis=0)
        line_log = _log10(line, _POWER_FLOOR_UV2)
    else:
        line_log = np.full(len(ch_names), np.nan)
    out.update({f"line_log_uv2:{ch}": float(v) for ch, v in zip(ch_names, line_log,
                                                                  strict=True)})
    out["line_log_uv2:median"] = float(np.median(line_log))

    # Amplitude distribution of the EEG band: offsets and slow drifts removed, so the
    # width and the tails describe the signal and its artifacts, not the electrode's DC.
    high = min(AMPLITUDE_BAND[1], 0.45 * sfreq)
    sos = signal.butter(2, [AMPLITUDE_BAND[0], high], btype="bandpass", fs=sfreq,
                        output="sos")
    y = signal.sosfiltfilt(sos, x - x.mean(axis=-1, keepdims=True), axis=-1) * 1e6
    median = np.median(y, axis=-1, keepdims=True)
    rstd = 1.4826 * np.median(np.abs(y - median), axis=-1)
    with np.errstate(all="ignore"):  # a flat channel has no kurtosis: NaN is the answer
        kurtosis = stats.kurtosis(y, axis=-1, fisher=True)
    kurtosis = np.where(np.std(y, axis=-1) > 0, kurtosis, np.nan)
    for ch, s, k in zip(ch_names, _log10(rstd, _AMPLITUDE_FLOOR_UV), kurtosis, strict=True):
        out[f"rstd_log_uv:{ch}"] = float(s)
        out[f"kurtosis:{ch}"] = float(k)
    return out


def epoch_features(recording: Recording, config: TransformConfig | None = None
                   ) -> dict[str, float]:
    """Artifact rate, bad channels and evoked-response size from the transform's epochs.

    Every epoch counts in the ERP features, rejected or not, so they stay defined when
    an amplitude change rejects them all (``rejected_share`` says that part). Returns
    NaN for every feature when the recording cannot be epoched (no events, too short).
    """
    names = ("rejected_share", "n_bad_channels", "erp_early_log_uv", "erp_late_log_uv",
             "ptp_median_log_uv")
    try:
        epochs = transform_recording(recording, config)
    except InvalidInputError as err:
        log.warning("recording of session %s cannot be epoched (%s): epoch features are "
                    "NaN", recording.session_id, err)
        return dict.fromkeys(names, math.nan)
    good = np.array([ch not in epochs.bad_channels for ch in epochs.ch_names])
    data_uv = epochs.data[:, good, :].astype(np.float64) * 1e6
    evoked = data_uv.mean(axis=0)
    # Global field power: the spread across channels, independent of the reference.
    gfp = evoked.std(axis=0)
    times = epochs.times

    def window_mean(window: tuple[float, float]) -> float:
        mask = (times >= window[0]) & (times <= window[1])
        return float(gfp[mask].mean()) if mask.any() else math.nan

    ptp = np.ptp(data_uv, axis=-1).max(axis=1)
    return {
        "rejected_share": epochs.report["n_rejected"] / max(epochs.n_epochs, 1),
        "n_bad_channels": float(len(epochs.bad_channels)),
        "erp_early_log_uv": float(np.log10(max(window_mean(ERP_EARLY_S), _AMPLITUDE_FLOOR_UV))),
        "erp_late_log_uv": float(np.log10(max(window_mean(ERP_LATE_S), _AMPLITUDE_FLOOR_UV))),
        "ptp_median_log_uv": float(np.log10(max(float(np.median(ptp)), _AMPLITUDE_FLOOR_UV))),
    }


def recording_features(recording: Recording, config: TransformConfig | None = None
                       ) -> dict[str, float]:
    """Every feature of one recording (see the module docstring), keyed by column name."""
    features = spectral_features(recording.data, recording.sfreq, recording.ch_names)
    features.update(epoch_features(recording, config))
    return {name: features[name] for name in feature_names(recording.ch_names)}


def session_row(session_id: str, subject: str, per_recording: Iterable[Mapping[str, float]]
                ) -> dict[str, Any]:
    """One session's row: the mean of its recordings' features (NaNs ignored)."""
    frame = pd.DataFrame(list(per_recording), dtype=float)
    if frame.empty:
        raise InvalidInputError(
            f"Invalid value for the 'per_recording' parameter: session {session_id} has no "
            "recording.", field="per_recording")
    means = frame.mean(axis=0, skipna=True)
    row: dict[str, Any] = {"session_id": str(session_id), "subject": subject,
                           "n_recordings": len(frame)}
    row.update({name: float(value) for name, value in means.items()})
    return row


def session_table(recordings: Iterable[Recording], config: TransformConfig | None = None,
                  *, progress: bool = False, total: int | None = None) -> pd.DataFrame:
    """The features table of ``recordings``: one row per session, in order of appearance.

    Columns are :data:`ID_COLUMNS` followed by the features (see
    :func:`feature_names`). ``progress`` shows a bar on stderr (``total`` recordings).
    """
    from tqdm.auto import tqdm

    sessions: dict[str, tuple[str, list[dict[str, float]]]] = {}
    for recording in tqdm(recordings, desc="Features", unit="recording", total=total,
                          disable=not progress):
        key = str(recording.session_id)
        sessions.setdefault(key, (recording.subject, []))[1].append(
            recording_features(recording, config))
    rows = [session_row(key, subject, feats) for key, (subject, feats) in sessions.items()]
    return pd.DataFrame(rows)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of a session table (everything but :data:`ID_COLUMNS`)."""
    return [c for c in table.columns if c not in ID_COLUMNS]
