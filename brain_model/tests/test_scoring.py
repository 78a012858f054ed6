"""Calibration, per-item aggregation, bootstrap confidence, thresholds and birthdates."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brain_core.errors import InvalidInputError
from brain_core.models import PhasePrediction
from brain_core.paradigm import phase_items
from brain_model.scoring import (
    EpochCalibration,
    bootstrap_confidence,
    choose_threshold,
    combine_birthdate,
    fit_temperature,
    item_evidence,
    item_probabilities,
    joint_date_log_probabilities,
    n_valid_dates,
    wilson_interval,
)


def _prediction(phase, items, probabilities, *, indeterminate=False):
    p = np.asarray(probabilities, dtype=float)
    p = p / p.sum()
    return PhasePrediction(phase=phase, items=tuple(items), probabilities=tuple(p.tolist()),
                           top_item=int(items[int(np.argmax(p))]), confidence=0.9,
                           indeterminate=indeterminate, model_name="test", model_version="0")


# --- calibration -----------------------------------------------------------------

@pytest.mark.parametrize("prior", [0.5, 1 / 31])
def test_calibration_recovers_the_gaussian_likelihood_ratio(prior):
    # Scores N(0, 1) for irrelevant and N(1, 1) for probes: LLR(s) = s - 0.5 exactly,
    # whatever the share of probes.
    rng = np.random.default_rng(0)
    n = 20_000
    y = (rng.random(n) < prior).astype(int)
    scores = rng.normal(y.astype(float), 1.0)
    cal = EpochCalibration.fit(scores, y)
    llr = cal.llr(np.array([0.0, 1.0]))
    assert cal.slope == pytest.approx(1.0, abs=0.08)
    np.testing.assert_allclose(llr, [-0.5, 0.5], atol=0.1)


def test_calibration_ignores_rejected_epochs_and_needs_both_classes():
    scores = np.array([0.0, 1.0, 2.0, 3.0])
    with pytest.raises(InvalidInputError, match="both probe"):
        EpochCalibration.fit(scores, np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0]))


# --- aggregation -----------------------------------------------------------------

def test_item_evidence_sums_weighted_llr_per_item():
    llr = np.array([1.0, 2.0, -1.0, 4.0])
    items = np.array([3, 5, 3, 5])
    weights = np.array([1.0, 0.5, 1.0, 0.0])
    evidence = item_evidence(llr, items, weights, [3, 5, 7])
    np.testing.assert_allclose(evidence, [0.0, 1.0, 0.0])


def test_item_evidence_rejects_items_not_shown():
    with pytest.raises(InvalidInputError, match="item 9 is not one of"):
        item_evidence(np.zeros(2), np.array([1, 9]), None, [1, 2])


def test_probabilities_sum_to_one_and_follow_the_evidence():
    evidence = np.array([1000.0, 999.0, -5.0])
    p = item_probabilities(evidence, temperature=2.0)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.argmax(p) == 0 and np.all(np.isfinite(p))
    np.testing.assert_allclose(item_probabilities(evidence + 7.0, 2.0), p)
    assert item_probabilities(evidence, 100.0).max() < p.max()
    with pytest.raises(InvalidInputError, match="'temperature'"):
        item_probabilities(evidence, 0.0)


def test_fit_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(1)
    evidences, truths = [], []
    for _ in range(600):
        e = rng.normal(0, 3.0, size=12)
        evidences.append(e)
        truths.append(int(rng.choice(12, p=item_probabilities(e, 2.0))))
    assert fit_temperature(evidences, truths) == pytest.approx(2.0, rel=0.25)
    assert fit_temperature([], []) == 1.0


# --- bootstrap confidence -------------------------------------------------------

def _phase_contributions(rng, shift, n_items=10, reps=8):
    items = np.repeat(np.arange(1, n_items + 1), reps)
    c = rng.normal(0, 1, size=items.size)
    c[items == 4] += shift
    return c, items, tuple(range(1, n_items + 1))


def test_bootstrap_confidence_is_high_for_a_clear_probe_and_deterministic():
    c, items, shown = _phase_contributions(np.random.default_rng(2), shift=3.0)
    conf, top = bootstrap_confidence(c, items, shown, rng=np.random.default_rng(0))
    again = bootstrap_confidence(c, items, shown, rng=np.random.default_rng(0))
    assert shown[top] == 4 and conf > 0.95
    assert (conf, top) == again


def test_bootstrap_confidence_is_low_for_noise():
    confs = [bootstrap_confidence(*_phase_contributions(np.random.default_rng(s), 0.0),
                                  rng=np.random.default_rng(s))[0] for s in range(30)]
    assert np.median(confs) < 0.6
    assert all(0.0 <= c <= 1.0 for c in confs)


def test_bootstrap_confidence_without_evidence_is_zero():
    conf, _ = bootstrap_confidence(np.zeros(0), np.zeros(0, dtype=int), (1, 2, 3),
                                   rng=np.random.default_rng(0))
    assert conf == 0.0


# --- thresholds ------------------------------------------------------------------

def test_threshold_separates_nulls_from_clear_calls():
    rng = np.random.default_rng(3)
    nulls = rng.uniform(0.2, 0.6, size=40)
    conf = np.r_[np.full(30, 1.0), rng.uniform(0.2, 0.6, size=5)]
    correct = np.r_[np.ones(30, bool), np.zeros(5, bool)]
    permuted = rng.uniform(0.2, 0.6, size=400)
    t = choose_threshold(nulls, conf, correct, permuted_null_confidences=permuted)
    assert t <= 1.0  # the clear calls are made
    assert np.mean(np.r_[nulls, permuted] >= t) <= 0.05


def test_threshold_is_never_confident_when_calls_look_like_nulls():
    rng = np.random.default_rng(4)
    nulls = rng.uniform(0.2, 0.9, size=30)
    conf = rng.uniform(0.2, 0.9, size=30)
    correct = rng.random(30) < 0.1
    assert choose_threshold(nulls, conf, correct, permuted_null_confidences=rng.uniform(
        0.2, 0.9, size=300)) == math.inf


def test_threshold_without_nulls_is_never_confident():
    assert choose_threshold([], [1.0, 1.0], [True, True]) == math.inf


def test_threshold_keeps_observed_wrong_calls_at_or_below_target():
    rng = np.random.default_rng(5)
    conf = rng.uniform(0, 1, size=200)
    correct = rng.random(200) < conf  # higher confidence, more often right
    t = choose_threshold(rng.uniform(0, 0.5, 100), conf, correct,
                         permuted_null_confidences=rng.uniform(0, 0.5, 1000))
    called = conf >= t
    assert called.any()
    assert np.mean(~correct[called]) <= 0.05


# --- birthdate -------------------------------------------------------------------

YEARS = (1996, 2005)


def _three(day_p, month_p, year_p, **kw):
    return (_prediction("day", phase_items("day"), day_p, **kw),
            _prediction("month", phase_items("month"), month_p),
            _prediction("year", phase_items("year", YEARS), year_p))


def test_impossible_dates_are_never_predicted():
    day = np.full(31, 0.01)
    day[30] = 10.0  # the 31st is by far the most likely day
    month = np.full(12, 0.01)
    month[1] = 10.0  # February
    year = np.full(10, 0.1)
    pred = combine_birthdate(*_three(day, month, year))
    assert (pred.date.month, pred.date.day) != (2, 31)
    assert "calendar overrode" in " ".join(pred.reasons) and pred.indeterminate


def test_february_29_only_in_leap_years():
    day = np.full(31, 0.001)
    day[28] = 10.0  # the 29th
    month = np.full(12, 0.001)
    month[1] = 10.0
    year = np.full(10, 0.1)
    year[list(range(10)).index(2001 - 1996)] = 10.0  # 2001 is not a leap year
    joint = joint_date_log_probabilities(*_three(day, month, year))
    assert np.isneginf(joint[5, 1, 28]) and np.isfinite(joint[4, 1, 28])  # 2000 is leap
    pred = combine_birthdate(*_three(day, month, year))
    assert pred.date != date(2001, 2, 28) or pred.date.day != 29
    assert not (pred.date.month == 2 and pred.date.day == 29 and pred.date.year % 4)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_birthdate_is_always_a_real_date_with_normalized_probability(seed):
    rng = np.random.default_rng(seed)
    d, m, y = (rng.dirichlet(np.full(n, 0.2)) for n in (31, 12, 10))
    preds = _three(d, m, y)
    joint = joint_date_log_probabilities(*preds)
    assert np.exp(joint[np.isfinite(joint)]).sum() == pytest.approx(1.0, abs=1e-9)
    pred = combine_birthdate(*preds)
    assert isinstance(pred.date, date)  # constructing it would have failed otherwise
    assert 0.0 < pred.probability <= 1.0
    assert YEARS[0] <= pred.date.year <= YEARS[1]


def test_birthdate_indeterminate_when_a_phase_is_and_its_repr_hides_the_date():
    day, month, year = np.eye(31)[9] + 0.01, np.eye(12)[4] + 0.01, np.eye(10)[3] + 0.01
    pred = combine_birthdate(*_three(day, month, year))
    assert pred.date == date(1999, 5, 10) and not pred.indeterminate
    assert "1999" not in repr(pred) and "1999" not in str(pred)
    unsure = combine_birthdate(*_three(day, month, year, indeterminate=True))
    assert unsure.indeterminate and "day phase indeterminate" in unsure.reasons
    low = combine_birthdate(*_three(day, month, year), min_probability=0.999)
    assert low.indeterminate


def test_birthdate_checks_phases():
    d, m, y = _three(np.ones(31), np.ones(12), np.ones(10))
    with pytest.raises(InvalidInputError, match="'day' parameter.*'month'"):
        combine_birthdate(m, d, y)


def test_number_of_valid_dates():
    assert n_valid_dates(range(1, 32), range(1, 13), [2000]) == 366
    assert n_valid_dates(range(1, 32), range(1, 13), [2001, 2002]) == 730


def test_wilson_interval():
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(0, 0) == (0.0, 1.0)
