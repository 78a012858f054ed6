"""The figures: the ERP shows the P300 of the top item; charts carry the right data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from brain_collector.figures import compute_erp, erp_figure, head_figure, probability_figure
from brain_collector.quality import ChannelQuality
from brain_core.devices import CROWN_CH_NAMES
from brain_core.models import PhasePrediction
from brain_sim.simulate import make_subject, simulate_recording


def test_erp_of_the_own_item_shows_a_p300_the_others_do_not():
    subject = dataclasses.replace(make_subject("S01", seed=5, years=(1990, 1993)),
                                  p300_amplitude_v=20e-6)
    recording = simulate_recording(subject, "month", preset="easy", repetitions=6, seed=5)
    own = subject.birthdate.month
    erp = compute_erp(recording, own)
    assert erp.n_target == 6 and erp.n_others == 66 and erp.n_rejected == 0
    window = (erp.times >= 0.3) & (erp.times <= 0.6)
    assert erp.target_uv[window].max() - erp.others_uv[window].max() > 8  # µV
    assert set(erp.ch_names) <= {"CP3", "CP4", "PO3", "PO4", "C3", "C4"}
    assert erp.times[0] == pytest.approx(-0.2, abs=1 / 256)


def test_erp_leaves_out_a_channel_far_noisier_than_the_rest(make_recording):
    recording = make_recording("day", repetitions=2, items=(1, 2, 3))
    data = recording.data.copy()
    data[CROWN_CH_NAMES.index("CP3")] *= 40
    erp = compute_erp(recording.model_copy(update={"data": data}), 1)
    assert "CP3" not in erp.ch_names and "CP4" in erp.ch_names
    assert np.isfinite(erp.target_uv).all()


def test_probability_chart_highlights_the_top_item():
    prediction = PhasePrediction(phase="month", items=(1, 2, 3), probabilities=(0.2, 0.7, 0.1),
                                 top_item=2, confidence=0.9, indeterminate=False,
                                 model_name="m", model_version="1")
    figure = probability_figure(prediction)
    bar = figure.data[0]
    assert list(bar.x) == ["January", "February", "March"]
    assert list(bar.y) == [0.2, 0.7, 0.1]
    assert bar.marker.color[1] != bar.marker.color[0]


def test_head_and_erp_figures_build():
    quality = [ChannelQuality(n, 5.0, "flat" if n == "C3" else "good") for n in CROWN_CH_NAMES]
    figure = head_figure(quality)
    names = {t.name: list(t.text) for t in figure.data if t.name in ("good", "flat")}
    assert names["flat"] == ["C3"] and len(names["good"]) == 7
    positions = {text: (x, y) for t in figure.data if t.name in ("good", "flat")
                 for text, x, y in zip(t.text, t.x, t.y, strict=True)}
    assert positions["F5"][1] > positions["C3"][1] > positions["PO3"][1]  # nose up
    assert positions["C4"][0] > 0 > positions["C3"][0]  # right is right
    from brain_collector.figures import Erp

    erp = Erp(np.linspace(-0.2, 0.8, 5), np.zeros(5), np.ones(5), 3, 9, 0, ("CP3",))
    assert "1994" in erp_figure(erp, "year", 1994).layout.title.text
