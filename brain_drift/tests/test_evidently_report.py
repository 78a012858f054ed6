"""The Evidently wrapper: verdicts, per-feature p-values, thresholds, missing features."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from brain_core.errors import InvalidInputError
from brain_drift.evidently_report import DriftRule, check_drift

pytestmark = pytest.mark.slow  # Evidently takes ~10 s to import

COLUMNS = ["a", "b", "c", "d", "e"]


@pytest.fixture(scope="module")
def reference():
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(100, len(COLUMNS))), columns=COLUMNS)


def _current(seed: int, shift: dict | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(20, len(COLUMNS))), columns=COLUMNS)
    for column, value in (shift or {}).items():
        frame[column] += value
    return frame


def test_same_distribution_is_not_drift(reference):
    result = check_drift(reference, _current(1))
    assert not result.drift and result.n_drifted == 0 and result.n_features == 5
    assert [c.name for c in result.columns] == COLUMNS
    for column in result.columns:  # Evidently's p-values are the KS test's
        expected = stats.ks_2samp(reference[column.name], _current(1)[column.name])[1]
        assert column.p_value == pytest.approx(expected, rel=1e-6)
        assert column.threshold == pytest.approx(0.02 / 5)
    summary = result.to_dict()
    json.dumps(summary, allow_nan=False)
    assert summary["evidently"]["metrics"] and summary["rule"]["method"] == "ks"
    assert "<html" in result.html()[:2000].lower()
    assert result.message().startswith("no drift: 0 of 5 features")


def test_one_shifted_feature_is_drift(reference):
    current = _current(2, {"c": 3.0})
    result = check_drift(reference, current)
    assert result.drift and result.drifted_features == ["c"]
    assert "DRIFT: 1 of 5 features" in result.message() and "(c)" in result.message()
    quick = check_drift(reference, current, detailed=False)
    assert quick.drift and quick.n_drifted == 1 and quick.columns == []
    # Two drifted features needed: one is not enough.
    assert not check_drift(reference, current, DriftRule(min_drifted=2), detailed=False).drift


def test_a_missing_feature_counts_as_drifted(reference):
    current = _current(3).drop(columns=["e"])
    current["d"] = np.nan
    result = check_drift(reference, current)
    assert result.drift and sorted(result.missing) == ["d", "e"] and result.n_drifted == 2
    assert {c.name for c in result.columns if c.note} == {"d", "e"}
    # A feature the reference never had is not compared at all.
    ref = reference.assign(f=np.nan)
    assert "f" not in check_drift(ref, _current(3), detailed=False).features


def test_an_open_episode_is_judged_with_the_looser_threshold(reference):
    # A moderate shift: significant at 0.2 / 5 but not at 0.02 / 5.
    grid = pd.DataFrame({"a": np.linspace(0, 1, 100)})
    current = pd.DataFrame({"a": np.linspace(0.3, 1.0, 20)})
    p_value = stats.ks_2samp(grid["a"], current["a"])[1]
    rule = DriftRule(family_alpha=0.02, recovery_alpha=0.2)
    assert 0.02 < p_value <= 0.2  # the premise
    assert not check_drift(grid, current, rule, detailed=False).drift
    assert check_drift(grid, current, rule, detailed=False, in_episode=True).drift


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"family_alpha": 0.0}, "family_alpha"),
    ({"min_drifted": 0}, "min_drifted"),
    ({"family_alpha": 0.1, "recovery_alpha": 0.05}, "recovery_alpha"),
])
def test_rule_errors_name_the_parameter(kwargs, field):
    with pytest.raises(InvalidInputError, match=f"'{field}' parameter"):
        DriftRule(**kwargs)


def test_too_little_data_is_refused(reference):
    with pytest.raises(InvalidInputError, match="'reference' parameter"):
        check_drift(reference.iloc[:1], _current(4))
    with pytest.raises(InvalidInputError, match="'current' parameter"):
        check_drift(reference, _current(4).iloc[:0])
