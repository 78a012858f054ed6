"""Estimator registry, the epoch window, weighting and learning on synthetic epochs."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from brain_core.errors import InvalidInputError
from brain_model.estimators import (
    ESTIMATORS,
    EpochWindow,
    epoch_scores,
    estimator_spec,
    fit_estimator,
    make_estimator,
)
from brain_model.model import _stack


def _arrays(dataset):
    return _stack(dataset.phases, [p.epochs.data for p in dataset.phases])


def test_registry_names_the_three_estimators():
    assert {"lda", "xdawn_ts", "baseline"} <= set(ESTIMATORS)
    assert ESTIMATORS["lda"].uses_weights and ESTIMATORS["xdawn_ts"].uses_weights
    assert not ESTIMATORS["baseline"].uses_weights


def test_unknown_estimator_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="'estimator' parameter.*'lda'.*got 'svm'"):
        make_estimator("svm")
    with pytest.raises(InvalidInputError, match="Allowed values"):
        estimator_spec("LDA")


def test_unknown_parameter_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="Invalid parameters.*'lda'"):
        make_estimator("lda", n_neighbors=3)


def test_baseline_ignores_times():
    assert make_estimator("baseline", times=np.arange(3)).steps[0][0] == "vectorize"


def test_epoch_window_keeps_the_window_and_averages_bins():
    times = np.arange(10) / 10.0  # 0.0 .. 0.9 s
    X = np.arange(2 * 1 * 10, dtype=float).reshape(2, 1, 10)
    window = EpochWindow(times=times, tmin=0.2, tmax=0.7, decim=2).fit(X)
    out = window.transform(X)
    # samples 2..7 -> bins (2,3), (4,5), (6,7) -> means 2.5, 4.5, 6.5
    np.testing.assert_allclose(out[0], [2.5, 4.5, 6.5])
    assert out.shape == (2, 3)


def test_epoch_window_rejects_mismatched_times():
    with pytest.raises(InvalidInputError, match="'times'.*n_times=10"):
        EpochWindow(times=np.arange(5)).fit(np.zeros((2, 1, 10)))
    with pytest.raises(InvalidInputError, match="no complete bin"):
        EpochWindow(times=np.arange(10) / 10, tmin=0.0, tmax=0.0, decim=2).fit(
            np.zeros((2, 1, 10)))
    with pytest.raises(InvalidInputError, match="n_epochs, n_channels, n_times"):
        EpochWindow().fit(np.zeros((2, 10)))


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_each_estimator_separates_probes_on_held_out_subjects(name, synthetic):
    train = synthetic(5, amplitude_v=6e-6, noise_v=8e-6, repetitions=4, seed=1)
    test = synthetic(2, amplitude_v=6e-6, noise_v=8e-6, repetitions=4, seed=2)
    X, y, w, _ = _arrays(train)
    spec = estimator_spec(name)
    est = fit_estimator(make_estimator(name, times=train.times), X, y, w,
                        uses_weights=spec.uses_weights)
    Xt, yt, _, _ = _arrays(test)
    scores = epoch_scores(est, Xt)
    assert scores.shape == yt.shape
    assert roc_auc_score(yt, scores) > 0.8


def test_rejected_epochs_do_not_influence_a_weighted_fit(synthetic):
    data = synthetic(4, amplitude_v=6e-6, noise_v=8e-6, repetitions=4, seed=3)
    X, y, w, _ = _arrays(data)
    # Poison: 200 extra epochs, huge and labelled as probes, all rejected (weight 0).
    rng = np.random.default_rng(0)
    poison = rng.normal(0, 1e-4, size=(200, *X.shape[1:])).astype(np.float32)
    Xp = np.concatenate([X, poison])
    yp = np.concatenate([y, np.ones(200, dtype=int)])
    wp = np.concatenate([w, np.zeros(200)])
    clean = fit_estimator(make_estimator("lda", times=data.times), X, y, w)
    poisoned = fit_estimator(make_estimator("lda", times=data.times), Xp, yp, wp)
    np.testing.assert_allclose(epoch_scores(poisoned, X), epoch_scores(clean, X))
    # The unweighted baseline does see them (it is the comparison without weighting).
    unweighted = fit_estimator(make_estimator("lda", times=data.times), Xp, yp, wp,
                               uses_weights=False)
    assert not np.allclose(epoch_scores(unweighted, X), epoch_scores(clean, X))


def test_soft_weights_reach_steps_that_accept_them(synthetic):
    data = synthetic(3, amplitude_v=6e-6, noise_v=8e-6, repetitions=3, seed=4)
    X, y, _, _ = _arrays(data)
    half = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.5)
    ones = fit_estimator(make_estimator("baseline"), X, y, np.ones(len(y)))
    soft = fit_estimator(make_estimator("baseline"), X, y, half)
    assert not np.allclose(epoch_scores(ones, X), epoch_scores(soft, X))


def test_fit_needs_both_classes():
    X = np.zeros((10, 2, 8), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="probe and irrelevant"):
        fit_estimator(make_estimator("lda"), X, np.zeros(10, dtype=int))
    with pytest.raises(InvalidInputError, match="sample_weight has shape"):
        fit_estimator(make_estimator("lda"), X, np.r_[np.ones(5), np.zeros(5)], np.ones(3))


def test_fitted_estimator_pickles(synthetic):
    data = synthetic(3, amplitude_v=6e-6, noise_v=8e-6, repetitions=3, seed=5)
    X, y, w, _ = _arrays(data)
    est = fit_estimator(make_estimator("xdawn_ts", times=data.times), X, y, w)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(epoch_scores(again, X[:20]), epoch_scores(est, X[:20]))
