"""The stimulus plan, the browser's report and the component's assets."""

from __future__ import annotations

import numpy as np
import pytest

from brain_collector.stimuli import (
    _assets,
    item_label,
    make_plan,
    parse_report,
)
from brain_core.errors import InvalidInputError
from brain_core.paradigm import make_paradigm, make_schedule


def _plan(**kwargs):
    paradigm = make_paradigm("month", repetitions=2, seed=3, items=(1, 2, 3))
    return make_plan("month", paradigm, now=1000.0, prepare_s=2.0, lead_s=1.0, **kwargs)


def test_plan_pins_the_paradigms_schedule_to_the_clock():
    plan = _plan()
    schedule = make_schedule(plan.paradigm, lead_s=1.0)
    assert plan.start_s == 1002.0
    np.testing.assert_allclose(plan.due_s, 1002.0 + schedule.onsets)
    assert plan.values == tuple(schedule.values)
    assert plan.end_s == pytest.approx(plan.due_s[-1] + 0.5)
    data = plan.component_data()
    assert data["labels"][0] == item_label("month", plan.values[0])
    assert set(data["labels"]) == {"January", "February", "March"}
    assert data["due_ms"][0] == pytest.approx(plan.due_s[0] * 1000)
    assert data["display_ms"] == 350.0
    assert _plan().run_id != plan.run_id


def test_display_longer_than_the_soa_is_refused():
    with pytest.raises(InvalidInputError, match="'display_s' parameter: 0.6 s is longer"):
        _plan(display_s=0.6)


def _report(plan, onsets_ms=None, **extra):
    raw = {"run_id": plan.run_id, "onsets_ms": onsets_ms if onsets_ms is not None else
           (plan.due_s * 1000 + 4.0).tolist(), "planned_ms": (plan.due_s * 1000).tolist(),
           "start_shift_ms": 0, "frame_interval_ms": 16.7, "n_frames": 500,
           "long_frames": 1, "hidden_frames": 0}
    raw.update(extra)
    return raw


def test_report_gives_the_jitter_and_timing_summary():
    plan = _plan()
    jitter_ms = np.tile([-8.0, 0.0, 8.0], 2)
    report = parse_report(_report(plan, (plan.due_s * 1000 + jitter_ms).tolist()), plan)
    np.testing.assert_allclose(report.jitter_s, jitter_ms / 1000, atol=1e-9)
    timing = report.timing()
    assert timing["jitter_mean_s"] == pytest.approx(0.0, abs=1e-9)
    assert timing["jitter_max_s"] == pytest.approx(0.008)
    assert timing["jitter_sd_s"] == pytest.approx(np.std(jitter_ms) / 1000)
    assert timing["frame_interval_s"] == pytest.approx(0.0167)
    assert all(isinstance(v, float) for v in timing.values())


def test_reports_that_do_not_fit_the_plan_are_refused():
    plan = _plan()
    with pytest.raises(InvalidInputError, match="is for run 'other'"):
        parse_report(_report(plan, run_id="other"), plan)
    with pytest.raises(InvalidInputError, match="holds 2 onset"):
        parse_report(_report(plan, [1.0, 2.0]), plan)
    backwards = (plan.due_s * 1000)[::-1].tolist()
    with pytest.raises(InvalidInputError, match="finite and increasing"):
        parse_report(_report(plan, backwards), plan)
    with pytest.raises(InvalidInputError, match="Malformed stimulus report"):
        parse_report({"run_id": plan.run_id}, plan)


def test_component_assets_time_each_item_to_an_animation_frame():
    assets = _assets()
    js = assets["js"]
    assert "requestAnimationFrame" in js and 'setStateValue("report"' in js
    assert "export default function" in js
    assert 'class="brain-stimulus"' in assets["html"] and ".item" in assets["css"]
