"""The signal check's classification."""

from __future__ import annotations

import numpy as np
import pytest

from brain_collector.quality import check_signal, robust_sd
from brain_core.devices import CROWN_CH_NAMES
from brain_core.errors import InvalidInputError


def test_good_noisy_and_flat_channels_are_told_apart():
    sfreq = 256.0
    rng = np.random.default_rng(0)
    data = rng.normal(0, 10e-6, (8, 1024))
    data[1] = 3e-3 + 1e-9 * rng.normal(size=1024)  # an offset and nothing else: flat
    data[4] *= 20  # 200 µV of broadband noise
    t = np.arange(1024) / sfreq
    data[6] += 200e-6 * np.sin(2 * np.pi * 0.2 * t)  # slow drift: outside 1-40 Hz
    quality = check_signal(data, sfreq, CROWN_CH_NAMES)
    status = {q.name: q.status for q in quality}
    assert status == {"CP3": "good", "C3": "flat", "F5": "good", "PO3": "good",
                      "PO4": "noisy", "F6": "good", "C4": "good", "CP4": "good"}
    # White noise of 10 µV keeps about sqrt(39 / 128) of its SD within 1-40 Hz.
    assert quality[0].noise_uv == pytest.approx(10 * np.sqrt(39 / 128), rel=0.15)


def test_robust_sd_ignores_a_blink():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1.0, 5000)
    x[100:150] += 50.0
    assert robust_sd(x) == pytest.approx(1.0, rel=0.05)


def test_bad_input_is_named():
    with pytest.raises(InvalidInputError, match="at least 1 s"):
        check_signal(np.zeros((8, 100)), 256.0, CROWN_CH_NAMES)
    with pytest.raises(InvalidInputError, match="expected shape \\(n_channels=8"):
        check_signal(np.zeros((3, 1000)), 256.0, CROWN_CH_NAMES)
