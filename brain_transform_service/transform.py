"""The transform: one recording in, weighted epochs out, for training and serving alike.

:func:`transform_recording` turns a :class:`~brain_core.models.Recording` (one phase,
continuous EEG in volts) into an :class:`EpochSet`, in this order:

1. pick and order the channels (``TransformConfig.ch_names``);
2. remove each channel's mean, then low-pass at ``h_freq`` and notch the line
   frequencies and their harmonics, zero-phase, at the recording's own rate;
3. resample to ``resample_sfreq`` (every board ends up on the same time grid) and
   high-pass at ``l_freq``, zero-phase;
4. find bad channels (flat, or far noisier than the others) on the band-passed data;
5. re-reference to the average of the good channels; bad channels become that average
   (zero), so the channel set never changes;
6. low-pass below the output Nyquist (anti-alias) and cut epochs ``tmin``-``tmax``
   around each stimulus, keeping every ``decim``-th sample (``output_sfreq``);
7. subtract the ``baseline`` mean, computed at ``resample_sfreq``;
8. weight each epoch: 0 when its peak-to-peak amplitude on a good channel exceeds
   ``reject_ptp`` (blinks, movement), else 1. An item whose epochs would all get 0
   keeps them at ``reject_ptp / ptp`` instead (between 0 and 1), so every item that was
   shown can still be scored; the report lists such items under ``fallback_items``.

Events whose window runs past either end of the data are skipped (counted in the
report as ``n_skipped``), never padded.

The features' upper band edge is therefore ``min(h_freq, ~0.875 * output_sfreq / 2)``:
with the defaults, 0.5 Hz to about 14 Hz (flat to 12 Hz), which holds the P300
(mostly below 8 Hz). Set ``output_sfreq`` to at least ``2.5 * h_freq`` to keep the
whole ``h_freq`` band in the epochs.

Everything is computed in float64 and returned as float32; the same input gives
byte-identical output.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from brain_core.errors import InvalidInputError, check_option
from brain_core.models import PHASES, Recording
from brain_transform_service import preprocessing

#: Bumped whenever a change makes the transform's output differ for the same input.
TRANSFORM_VERSION = "1"

#: Tolerance when snapping a time in seconds to a sample index.
_TIME_TOL = 1e-9


def _sample_range(start_s: float, stop_s: float, sfreq: float) -> np.ndarray:
    """Sample offsets k (int64) with ``start_s <= k / sfreq <= stop_s``."""
    first = math.ceil(start_s * sfreq - _TIME_TOL)
    last = math.floor(stop_s * sfreq + _TIME_TOL)
    return np.arange(first, last + 1, dtype=np.int64)


class TransformConfig(BaseModel):
    """Every parameter of the transform. Frequencies in Hz, times in s, amplitudes in V."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    l_freq: float = Field(
        default=0.5, gt=0, allow_inf_nan=False,
        description="High-pass edge, Hz (Butterworth order 2, zero-phase; -6 dB here).",
    )
    h_freq: float = Field(
        default=20.0, gt=0, allow_inf_nan=False,
        description="Low-pass edge, Hz (Butterworth order 4, zero-phase; -6 dB here).",
    )
    line_freqs: tuple[float, ...] = Field(
        default=(50.0, 60.0),
        description="Power-line frequencies, Hz; each harmonic below the recording's "
        "Nyquist frequency is notched (Q=10). Empty to disable.",
    )
    tmin: float = Field(
        default=-0.1, allow_inf_nan=False, description="Epoch start relative to stimulus onset, s."
    )
    tmax: float = Field(
        default=0.8, allow_inf_nan=False, description="Epoch end relative to stimulus onset, s."
    )
    baseline: tuple[float, float] | None = Field(
        default=(-0.1, 0.0),
        description="Interval (s, relative to onset, inclusive) whose mean is subtracted "
        "from each epoch and channel; None for no baseline correction.",
    )
    resample_sfreq: float = Field(
        default=128.0, gt=0, le=10_000, allow_inf_nan=False,
        description="Common rate every recording is resampled to before epoching, Hz.",
    )
    output_sfreq: float = Field(
        default=32.0, gt=0, le=10_000, allow_inf_nan=False,
        description="Rate of the epochs, Hz; must divide resample_sfreq. Onsets keep the "
        "resample_sfreq precision (1/128 s by default).",
    )
    reference: Literal["average"] | None = Field(
        default="average",
        description="'average': common average over the good channels; None: keep the "
        "recording's reference.",
    )
    flat_std: float = Field(
        default=0.1e-6, ge=0, allow_inf_nan=False,
        description="Robust standard deviation (1.4826 x MAD) of the band-passed "
        "signal below which a channel is flat, V (0.1 µV).",
    )
    noisy_ratio: float = Field(
        default=5.0, gt=1, allow_inf_nan=False,
        description="A channel whose robust standard deviation exceeds this many times "
        "the median of the non-flat channels is noisy (dimensionless).",
    )
    reject_ptp: float | None = Field(
        default=100e-6, gt=0, allow_inf_nan=False,
        description="Peak-to-peak amplitude on any good channel above which an epoch "
        "gets weight 0, V (100 µV); None to keep every epoch at weight 1.",
    )
    ch_names: tuple[str, ...] | None = Field(
        default=None,
        description="Expected channels, in order; the recording's channels are reordered "
        "to it and others dropped. None: keep the recording's channels.",
    )

    @field_validator("line_freqs")
    @classmethod
    def _positive_line_freqs(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        for f in value:
            if not math.isfinite(f) or f <= 0:
                raise ValueError(
                    f"Invalid value for the 'line_freqs' parameter: frequencies must be "
                    f"positive, got {f!r}."
                )
        return value

    @field_validator("ch_names")
    @classmethod
    def _unique_ch_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError(
                f"Invalid value for the 'ch_names' parameter: expected a non-empty list "
                f"of unique names, got {list(value)}."
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TransformConfig:
        if self.h_freq <= self.l_freq:
            raise ValueError(
                f"Invalid value for the 'h_freq' parameter: it must be above "
                f"l_freq={self.l_freq} Hz, got {self.h_freq} Hz."
            )
        if self.h_freq >= self.resample_sfreq / 2:
            raise ValueError(
                f"Invalid value for the 'resample_sfreq' parameter: it must be above "
                f"2 * h_freq = {2 * self.h_freq} Hz, got {self.resample_sfreq} Hz."
            )
        ratio = self.resample_sfreq / self.output_sfreq
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(
                f"Invalid value for the 'output_sfreq' parameter: it must divide "
                f"resample_sfreq={self.resample_sfreq} Hz by a whole number, got "
                f"{self.output_sfreq} Hz."
            )
        if _sample_range(self.tmin, self.tmax, self.output_sfreq).size < 2:
            raise ValueError(
                f"Invalid value for the 'tmax' parameter: the window tmin={self.tmin} s to "
                f"tmax={self.tmax} s holds fewer than 2 samples at {self.output_sfreq} Hz."
            )
        if self.baseline is not None:
            b0, b1 = self.baseline
            if not self.tmin <= b0 <= b1 <= self.tmax:
                raise ValueError(
                    f"Invalid value for the 'baseline' parameter: it must satisfy "
                    f"tmin <= start <= end <= tmax ({self.tmin} s, {self.tmax} s), got "
                    f"{self.baseline}."
                )
            if _sample_range(b0, b1, self.resample_sfreq).size == 0:
                raise ValueError(
                    f"Invalid value for the 'baseline' parameter: {self.baseline} holds no "
                    f"sample at resample_sfreq={self.resample_sfreq} Hz."
                )
        return self

    @property
    def decim(self) -> int:
        """Samples at ``resample_sfreq`` per output sample."""
        return int(round(self.resample_sfreq / self.output_sfreq))

    @property
    def times(self) -> np.ndarray:
        """Epoch sample times, shape (n_times,), seconds relative to stimulus onset."""
        return _sample_range(self.tmin, self.tmax, self.output_sfreq) / self.output_sfreq


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class EpochSet:
    """Weighted epochs of one recording, ready for a model.

    Attributes
    ----------
    data : array of float32, shape (n_epochs, n_channels, n_times)
        Volts: filtered, re-referenced, baselined, decimated.
    times : array of float64, shape (n_times,)
        Seconds relative to stimulus onset.
    items : array of int64, shape (n_epochs,)
        Item shown in each epoch (e.g. day 17).
    onsets : array of float64, shape (n_epochs,)
        Stimulus onset of each epoch, seconds from the recording's first sample.
    weights : array of float32, shape (n_epochs,)
        In [0, 1]; 0 means artifact-rejected.
    sfreq : float
        Sampling rate of ``data``, Hz.
    ch_names : tuple of str
        ``n_channels`` names, in the order of ``data``'s second axis.
    phase : str
        'day', 'month' or 'year'.
    subject : str
        The subject's pseudonym.
    session_id : uuid.UUID
        The recording's session.
    bad_channels : tuple of str
        Channels found bad and replaced (still present in ``data``).
    report : dict
        JSON-ready account of what the transform did (see :func:`transform_recording`).

    Arrays are read-only views; copy one to modify it.
    """

    data: np.ndarray
    times: np.ndarray
    items: np.ndarray
    onsets: np.ndarray
    weights: np.ndarray
    sfreq: float
    ch_names: tuple[str, ...]
    phase: str
    subject: str
    session_id: uuid.UUID
    bad_channels: tuple[str, ...]
    report: dict

    def __post_init__(self) -> None:
        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        data = np.ascontiguousarray(self.data, dtype=np.float32)
        if data.ndim != 3:
            raise InvalidInputError(
                f"Invalid value for the 'data' parameter: expected 3 dimensions "
                f"(n_epochs, n_channels, n_times), got shape {data.shape}.",
                field="data",
            )
        n_epochs, n_channels, n_times = data.shape
        arrays = {
            "times": (np.float64, n_times),
            "items": (np.int64, n_epochs),
            "onsets": (np.float64, n_epochs),
            "weights": (np.float32, n_epochs),
        }
        put("data", _readonly(data))
        for name, (dtype, size) in arrays.items():
            array = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if array.shape != (size,):
                raise InvalidInputError(
                    f"Invalid value for the {name!r} parameter: expected shape ({size},) "
                    f"to match data {data.shape}, got {array.shape}.",
                    field=name,
                )
            put(name, _readonly(array))
        if ((self.weights < 0) | (self.weights > 1) | ~np.isfinite(self.weights)).any():
            raise InvalidInputError(
                "Invalid value for the 'weights' parameter: weights must lie in [0, 1].",
                field="weights",
            )
        put("ch_names", tuple(str(c) for c in self.ch_names))
        if len(self.ch_names) != n_channels:
            raise InvalidInputError(
                f"Invalid value for the 'ch_names' parameter: {len(self.ch_names)} name(s) "
                f"for {n_channels} channel(s) in data.",
                field="ch_names",
            )
        put("bad_channels", tuple(str(c) for c in self.bad_channels))
        unknown = [c for c in self.bad_channels if c not in self.ch_names]
        if unknown:
            raise InvalidInputError(
                f"Invalid value for the 'bad_channels' parameter: {unknown} are not in "
                f"ch_names.",
                field="bad_channels",
            )
        put("phase", check_option("phase", str(self.phase), PHASES))
        put("sfreq", float(self.sfreq))
        if not self.sfreq > 0:
            raise InvalidInputError(
                f"Invalid value for the 'sfreq' parameter: expected > 0, got {self.sfreq}.",
                field="sfreq",
            )
        if not isinstance(self.session_id, uuid.UUID):
            put("session_id", uuid.UUID(str(self.session_id)))

    @property
    def n_epochs(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[2])

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Split into numpy arrays and JSON-ready metadata, for the wire or ``np.savez``.

        Returns
        -------
        arrays : dict of str to array
            ``data``, ``times``, ``items``, ``onsets``, ``weights``.
        metadata : dict
            ``sfreq``, ``ch_names``, ``phase``, ``subject``, ``session_id`` (str),
            ``bad_channels``, ``report``; ``json.dumps`` accepts it.
        """
        arrays = {
            "data": self.data,
            "times": self.times,
            "items": self.items,
            "onsets": self.onsets,
            "weights": self.weights,
        }
        metadata = {
            "sfreq": self.sfreq,
            "ch_names": list(self.ch_names),
            "phase": self.phase,
            "subject": self.subject,
            "session_id": str(self.session_id),
            "bad_channels": list(self.bad_channels),
            "report": self.report,
        }
        return arrays, metadata

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any]
    ) -> EpochSet:
        """Rebuild an :class:`EpochSet` from the output of :meth:`to_arrays`.

        Raises
        ------
        InvalidInputError
            If a key is missing or the shapes do not agree.
        """
        for source, keys in (
            (arrays, ("data", "times", "items", "onsets", "weights")),
            (metadata, ("sfreq", "ch_names", "phase", "subject", "session_id")),
        ):
            missing = [k for k in keys if k not in source]
            if missing:
                raise InvalidInputError(
                    f"Invalid epoch set: missing {', '.join(repr(k) for k in missing)}.",
                    field=missing[0],
                )
        try:
            session_id = uuid.UUID(str(metadata["session_id"]))
        except ValueError:
            raise InvalidInputError(
                f"Invalid value for the 'session_id' parameter: expected a UUID, got "
                f"{metadata['session_id']!r}.",
                field="session_id",
            ) from None
        return cls(
            data=np.asarray(arrays["data"]),
            times=np.asarray(arrays["times"]),
            items=np.asarray(arrays["items"]),
            onsets=np.asarray(arrays["onsets"]),
            weights=np.asarray(arrays["weights"]),
            sfreq=float(metadata["sfreq"]),
            ch_names=tuple(metadata["ch_names"]),
            phase=str(metadata["phase"]),
            subject=str(metadata["subject"]),
            session_id=session_id,
            bad_channels=tuple(metadata.get("bad_channels", ())),
            report=dict(metadata.get("report", {})),
        )


def _pick_channels(
    rec_ch_names: tuple[str, ...], expected: tuple[str, ...] | None
) -> tuple[tuple[str, ...], np.ndarray, list[str]]:
    """Names, row indices into the recording, and the recording's channels left out."""
    if expected is None:
        return rec_ch_names, np.arange(len(rec_ch_names)), []
    position = {name: i for i, name in enumerate(rec_ch_names)}
    missing = [name for name in expected if name not in position]
    if missing:
        raise InvalidInputError(
            f"Invalid value for the 'ch_names' parameter: the recording lacks the "
            f"expected channel(s) {', '.join(repr(m) for m in missing)}; it has "
            f"{', '.join(repr(c) for c in rec_ch_names)}.",
            field="ch_names",
        )
    dropped = [name for name in rec_ch_names if name not in set(expected)]
    return expected, np.array([position[name] for name in expected]), dropped


def _check_recording(recording: Recording, config: TransformConfig) -> None:
    sfreq = recording.sfreq
    if config.h_freq >= sfreq / 2:
        raise InvalidInputError(
            f"Invalid value for the 'sfreq' parameter: the recording's sampling rate "
            f"{sfreq:g} Hz is too low for h_freq={config.h_freq:g} Hz; it must be above "
            f"2 * h_freq = {2 * config.h_freq:g} Hz.",
            field="sfreq",
        )
    window_s = config.tmax - config.tmin
    if recording.n_times < math.ceil(window_s * sfreq) + 1:
        raise InvalidInputError(
            f"Invalid value for the 'data' parameter: the recording holds "
            f"{recording.n_times} sample(s) ({recording.duration_s:.3g} s at {sfreq:g} Hz), "
            f"fewer than one epoch from tmin={config.tmin} s to tmax={config.tmax} s.",
            field="data",
        )
    if not recording.events:
        raise InvalidInputError(
            "Invalid value for the 'events' parameter: the recording has no stimulus "
            "events, so there is nothing to epoch.",
            field="events",
        )


def _weights(
    ptp: np.ndarray, items: np.ndarray, reject_ptp: float | None
) -> tuple[np.ndarray, list[int]]:
    """Epoch weights from peak-to-peak amplitudes, and the items that needed a fallback.

    An epoch above ``reject_ptp`` gets weight 0. If that would leave an item with no
    weighted epoch at all, its epochs instead get ``reject_ptp / ptp`` (in (0, 1)): the
    item can still be scored, its least contaminated epochs counting most.
    """
    if reject_ptp is None:
        return np.ones(len(ptp)), []
    over = ptp > reject_ptp
    weights = np.where(over, 0.0, 1.0)
    fallback = []
    for item in np.unique(items[over]):
        mask = items == item
        if over[mask].all():
            weights[mask] = reject_ptp / ptp[mask]
            fallback.append(int(item))
    return weights, fallback


def transform_recording(
    recording: Recording, config: TransformConfig | None = None
) -> EpochSet:
    """Filter, clean, epoch and weight one recording.

    Parameters
    ----------
    recording : Recording
        One phase: ``data`` (n_channels, n_times) float32 volts at ``sfreq`` Hz, and its
        stimulus events (onsets in seconds from the first sample). Untimed (legacy)
        recordings are transformed the same way; their onsets are guesses.
    config : TransformConfig | None
        Defaults to ``TransformConfig()``.

    Returns
    -------
    EpochSet
        ``data`` shaped (n_epochs, n_channels, n_times) float32 volts at
        ``config.output_sfreq`` (29 samples from -0.094 s to 0.781 s by default), one
        epoch per event whose window lies inside the data. ``report`` holds:
        ``n_events``, ``n_epochs``, ``n_skipped`` (windows past the data ends),
        ``n_rejected`` (weight 0), ``n_downweighted`` (fallback weights),
        ``epochs_per_item``, ``rejected_per_item`` (item as str -> count),
        ``fallback_items``, ``bad_channels``, ``flat_channels``, ``noisy_channels``,
        ``dropped_channels``, ``channel_std`` (robust std per channel, V), ``max_ptp``
        (V), ``untimed``, ``sfreq_in``, ``sfreq``, ``transform_version`` and ``config``.

    Raises
    ------
    InvalidInputError
        Expected channels missing, ``sfreq`` too low for ``h_freq``, fewer samples than
        one epoch, no events, no event whose window fits in the data, or no good
        channel left.
    """
    config = config if config is not None else TransformConfig()
    ch_names, order, dropped = _pick_channels(recording.ch_names, config.ch_names)
    _check_recording(recording, config)

    x = recording.data[order].astype(np.float64)
    # Dry electrodes can sit hundreds of mV off zero; remove that before filtering.
    x -= x.mean(axis=-1, keepdims=True)
    sos = preprocessing.design_lowpass(recording.sfreq, config.h_freq, config.line_freqs)
    harmonics = preprocessing.line_harmonics(config.line_freqs, recording.sfreq)
    x = preprocessing.lowpass(x, sos, recording.sfreq, harmonics)
    x, sfreq = preprocessing.resample(x, recording.sfreq, config.resample_sfreq)
    sos = preprocessing.design_highpass(sfreq, config.l_freq)
    x = preprocessing.highpass(x, sos, sfreq, config.l_freq)

    std = preprocessing.robust_std(x)
    flat, noisy = preprocessing.find_bad_channels(std, config.flat_std, config.noisy_ratio)
    good = ~(flat | noisy)
    if not good.any():
        raise InvalidInputError(
            f"Invalid value for the 'data' parameter: no usable channel (flat: "
            f"{[c for c, f in zip(ch_names, flat, strict=True) if f]}, noisy: "
            f"{[c for c, n in zip(ch_names, noisy, strict=True) if n]}).",
            field="data",
        )
    x = preprocessing.rereference(x, good, config.reference)
    if config.decim > 1:
        taps = preprocessing.design_anti_alias(config.resample_sfreq, config.output_sfreq)
        x = preprocessing.anti_alias(x, taps)

    # Epoch by fancy indexing at resample_sfreq: onsets keep 1/resample_sfreq precision
    # even though only every decim-th sample is kept.
    out_samples = _sample_range(config.tmin, config.tmax, config.output_sfreq)
    offsets = out_samples * config.decim
    base = (
        _sample_range(*config.baseline, config.resample_sfreq)
        if config.baseline is not None
        else np.empty(0, dtype=np.int64)
    )
    low = min(offsets[0], base[0]) if base.size else offsets[0]
    high = max(offsets[-1], base[-1]) if base.size else offsets[-1]
    all_onsets = np.array([e.onset for e in recording.events], dtype=np.float64)
    all_items = np.array([e.value for e in recording.events], dtype=np.int64)
    starts = np.rint(all_onsets * sfreq).astype(np.int64)
    inside = (starts + low >= 0) & (starts + high < x.shape[-1])
    if not inside.any():
        raise InvalidInputError(
            f"Invalid value for the 'events' parameter: none of the {len(starts)} "
            f"event(s) has its window tmin={config.tmin} s to tmax={config.tmax} s inside "
            f"the data ({recording.duration_s:.3g} s).",
            field="events",
        )
    starts, onsets, items = starts[inside], all_onsets[inside], all_items[inside]
    epochs = x[:, starts[:, None] + offsets[None, :]].transpose(1, 0, 2)
    if base.size:
        epochs -= x[:, starts[:, None] + base[None, :]].mean(axis=-1).T[:, :, None]

    ptp = np.ptp(epochs[:, good, :], axis=-1).max(axis=1)
    weights, fallback = _weights(ptp, items, config.reject_ptp)

    bad_channels = tuple(c for c, g in zip(ch_names, good, strict=True) if not g)
    rejected = weights == 0
    report = {
        "transform_version": TRANSFORM_VERSION,
        "n_events": len(all_onsets),
        "n_epochs": len(onsets),
        "n_skipped": int((~inside).sum()),
        "n_rejected": int(rejected.sum()),
        "n_downweighted": int(((weights > 0) & (weights < 1)).sum()),
        "epochs_per_item": {
            str(v): int((items == v).sum()) for v in recording.paradigm.items
        },
        "rejected_per_item": {
            str(v): int((rejected & (items == v)).sum()) for v in recording.paradigm.items
        },
        "fallback_items": fallback,
        "bad_channels": list(bad_channels),
        "flat_channels": [c for c, f in zip(ch_names, flat, strict=True) if f],
        "noisy_channels": [c for c, n in zip(ch_names, noisy, strict=True) if n],
        "dropped_channels": dropped,
        "channel_std": {c: float(s) for c, s in zip(ch_names, std, strict=True)},
        "max_ptp": float(ptp.max()),
        "untimed": bool(recording.untimed),
        "sfreq_in": float(recording.sfreq),
        "sfreq": float(config.output_sfreq),
        "config": config.model_dump(mode="json"),
    }
    return EpochSet(
        data=epochs.astype(np.float32),
        times=out_samples / config.output_sfreq,
        items=items,
        onsets=onsets,
        weights=weights.astype(np.float32),
        sfreq=config.output_sfreq,
        ch_names=ch_names,
        phase=recording.phase.value,
        subject=recording.subject,
        session_id=recording.session_id,
        bad_channels=bad_channels,
        report=report,
    )


def transform_many(
    recordings: Iterable[Recording], config: TransformConfig | None = None
) -> list[EpochSet]:
    """:func:`transform_recording` for each recording, with the same ``config``.

    Filter designs are cached per sampling rate, so a batch from one board designs
    them once.
    """
    config = config if config is not None else TransformConfig()
    return [transform_recording(recording, config) for recording in recordings]
