"""Synthetic epochs for fast model tests (no simulation, no transform).

Epochs look like the transform's output: ``(n_epochs, 8, 29)`` float32 volts at 32 Hz
from -0.1 s, with a Gaussian P300 (peak ``amplitude_v`` at 0.4 s, centro-parietal
weights) on probe epochs and white noise of ``noise_v`` on every sample.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date

import numpy as np
import pytest

from brain_core.paradigm import phase_items
from brain_model.dataset import LabelledDataset, _label_phase

CH_NAMES = ("CP3", "C3", "F5", "PO3", "PO4", "F6", "C4", "CP4")
SFREQ = 32.0
TIMES = np.round(np.arange(-0.1, 0.8 + 1e-9, 1 / SFREQ), 6)
TOPOGRAPHY = np.array([1.0, 0.7, 0.2, 0.9, 0.9, 0.2, 0.7, 1.0])


@dataclasses.dataclass(frozen=True)
class FakeEpochSet:
    """Same fields as brain_transform_service.transform.EpochSet."""

    data: np.ndarray
    times: np.ndarray
    items: np.ndarray
    onsets: np.ndarray
    weights: np.ndarray
    sfreq: float
    ch_names: tuple[str, ...]
    phase: str
    subject: str
    session_id: str
    bad_channels: tuple[str, ...] = ()
    report: dict = dataclasses.field(default_factory=dict)


def _epoch_set_class():
    try:
        from brain_transform_service.transform import EpochSet
    except ImportError:
        return FakeEpochSet
    return EpochSet


def make_epoch_set(phase: str, items, probe: int | None, *, amplitude_v: float,
                   noise_v: float, repetitions: int, rng: np.random.Generator,
                   subject: str = "S01", reject_fraction: float = 0.0):
    """One phase's epochs; ``probe`` None means no P300 at all."""
    items = np.asarray(items)
    order = np.concatenate([rng.permutation(items) for _ in range(repetitions)])
    n = len(order)
    data = rng.normal(0.0, noise_v, size=(n, len(CH_NAMES), TIMES.size))
    p300 = np.exp(-0.5 * ((TIMES - 0.4) / 0.08) ** 2)
    if probe is not None:
        hit = order == probe
        gain = rng.gamma(25.0, 1 / 25.0, size=int(hit.sum()))
        data[hit] += amplitude_v * gain[:, None, None] * TOPOGRAPHY[None, :, None] * p300
    weights = np.where(rng.random(n) < reject_fraction, 0.0, 1.0).astype(np.float32)
    fields = dict(data=data.astype(np.float32), times=TIMES.copy(), items=order,
                  onsets=1.0 + 0.5 * np.arange(n), weights=weights, sfreq=SFREQ,
                  ch_names=CH_NAMES, phase=phase, subject=subject,
                  session_id=str(uuid.UUID(int=int(rng.integers(2**62)))),
                  bad_channels=(), report={})
    cls = _epoch_set_class()
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in fields.items() if k in names})


def make_dataset(n_subjects: int = 6, *, amplitude_v: float = 4e-6, noise_v: float = 10e-6,
                 repetitions: int = 6, years=(2000, 2009), innocent=(),
                 seed: int = 0, reject_fraction: float = 0.0) -> LabelledDataset:
    """Labelled synthetic phases; subjects in ``innocent`` are born before ``years``."""
    rng = np.random.default_rng(seed)
    phases, birthdates = [], {}
    for k in range(n_subjects):
        subject = f"S{k + 1:02d}"
        year = years[0] - 5 if subject in innocent else int(rng.integers(years[0],
                                                                         years[1] + 1))
        born = date(year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
        birthdates[subject] = born
        for phase, value in (("day", born.day), ("month", born.month), ("year", born.year)):
            shown = phase_items(phase, years)
            probe = value if value in shown else None
            epochs = make_epoch_set(phase, shown, probe, amplitude_v=amplitude_v,
                                    noise_v=noise_v, repetitions=repetitions, rng=rng,
                                    subject=subject, reject_fraction=reject_fraction)
            phases.append(_label_phase(epochs, shown, born))
    return LabelledDataset(phases=tuple(phases), birthdates=birthdates, ch_names=CH_NAMES,
                           sfreq=SFREQ, times=TIMES.copy(), source="synthetic")


@pytest.fixture(scope="session")
def synthetic():
    """Factory: ``synthetic(n_subjects=6, amplitude_v=4e-6, ...) -> LabelledDataset``."""
    return make_dataset


@pytest.fixture(scope="session")
def synthetic_epochs():
    """Factory: ``synthetic_epochs(phase, items, probe, ...) -> EpochSet``."""
    return make_epoch_set
