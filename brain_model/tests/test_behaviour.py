"""Behavioural tests of the P300 model (in the manner of Made-With-ML's tests/model).

They state what the model must do whatever its internals: a stronger P300 never hurts
the probe, shuffled labels teach nothing, probabilities are probabilities, noise is
never called, innocents are not accused, dates are real.
"""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import pytest

from brain_core.errors import InvalidInputError
from brain_core.paradigm import phase_items
from brain_model.evaluate import evaluate_dataset
from brain_model.model import P300Model

YEARS = (2000, 2009)
FAST = {"n_bootstrap": 200, "n_permutations": 5}


@pytest.fixture(scope="module")
def strong(synthetic):
    """Training data with a clear P300; S03 is innocent (born before the years shown)."""
    return synthetic(6, amplitude_v=6e-6, noise_v=8e-6, repetitions=6, years=YEARS,
                     innocent=("S03",), seed=10)


@pytest.fixture(scope="module")
def model(strong):
    return P300Model("lda", **FAST).fit(strong)


def _probe_rank(prediction, probe):
    p = np.asarray(prediction.probabilities)
    return 1 + int(np.sum(p > p[prediction.items.index(probe)]))


@pytest.mark.parametrize("estimator", ["lda", pytest.param("xdawn_ts", marks=pytest.mark.slow),
                                       "baseline"])
def test_a_stronger_p300_never_lowers_the_probes_rank(estimator, strong, synthetic_epochs):
    model = P300Model(estimator, **FAST).fit(strong)
    for phase, probe in (("day", 17), ("month", 3), ("year", 2004)):
        items = phase_items(phase, YEARS)
        ranks = []
        for amplitude in (0.0, 0.5e-6, 1e-6, 2e-6, 4e-6, 8e-6):
            # Same seed: same schedule and noise, only the P300 on probe epochs grows.
            epochs = synthetic_epochs(phase, items, probe, amplitude_v=amplitude,
                                      noise_v=8e-6, repetitions=4,
                                      rng=np.random.default_rng(42))
            ranks.append(_probe_rank(model.predict_phase(epochs, items=items), probe))
        assert all(b <= a for a, b in zip(ranks, ranks[1:], strict=False)), (phase, ranks)
        assert ranks[-1] == 1


@pytest.mark.slow
def test_shuffled_labels_give_chance_auc(synthetic):
    # 10 subjects x 8 repetitions: the shuffled AUC's spread over datasets is ~0.025 here,
    # so a leak (e.g. test labels reaching the training) would stand far outside.
    data = synthetic(10, amplitude_v=3e-6, noise_v=8e-6, repetitions=8, years=YEARS,
                     seed=20)
    result = evaluate_dataset(data, "lda", progress=False,
                              model_params={"n_bootstrap": 50, "n_permutations": 1})
    assert result.auc > 0.75  # the real labels carry the signal...
    assert 0.45 <= result.shuffled_auc <= 0.55  # ...and shuffled ones do not


def test_probabilities_sum_to_one(model, synthetic):
    held_out = synthetic(2, amplitude_v=3e-6, noise_v=8e-6, repetitions=3, years=YEARS,
                         seed=12)
    for p in held_out.phases:
        pred = model.predict_phase(p.epochs, items=p.shown_items)
        probs = np.asarray(pred.probabilities)
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)
        assert np.all(probs >= 0) and len(probs) == len(p.shown_items)
        assert pred.top_item == p.shown_items[int(np.argmax(probs))]
        assert 0.0 <= pred.confidence <= 1.0


def test_pure_noise_is_indeterminate(model, synthetic_epochs):
    for seed in range(4):
        for phase in ("day", "month", "year"):
            items = phase_items(phase, YEARS)
            noise = synthetic_epochs(phase, items, None, amplitude_v=0.0, noise_v=8e-6,
                                     repetitions=6, rng=np.random.default_rng(100 + seed))
            assert model.predict_phase(noise, items=items).indeterminate, (seed, phase)


def test_a_model_trained_on_noise_never_calls(synthetic):
    noise = synthetic(5, amplitude_v=0.0, noise_v=8e-6, repetitions=4, years=YEARS, seed=13)
    model = P300Model("lda", **FAST).fit(noise)
    calls = [not model.predict_phase(p.epochs, items=p.shown_items).indeterminate
             for p in synthetic(2, amplitude_v=0.0, noise_v=8e-6, repetitions=4,
                                years=YEARS, seed=14).phases]
    assert not any(calls)


def test_clear_probes_are_called_and_innocents_are_not(model, synthetic):
    held_out = synthetic(3, amplitude_v=6e-6, noise_v=8e-6, repetitions=6, years=YEARS,
                         innocent=("S02",), seed=15)
    for p in held_out.phases:
        pred = model.predict_phase(p.epochs, items=p.shown_items)
        if p.innocent:
            assert pred.indeterminate, "an innocent's year phase was called"
        else:
            assert pred.top_item == p.probe
    called = [not model.predict_phase(p.epochs, items=p.shown_items).indeterminate
              for p in held_out.phases if not p.innocent]
    assert sum(called) >= len(called) // 2


def test_the_birthdate_is_always_a_real_date(model, synthetic_epochs):
    for seed in range(6):
        rng = np.random.default_rng(200 + seed)
        preds = {}
        for phase in ("day", "month", "year"):
            items = phase_items(phase, YEARS)
            epochs = synthetic_epochs(phase, items, None, amplitude_v=0.0, noise_v=8e-6,
                                      repetitions=3, rng=rng)
            preds[phase] = model.predict_phase(epochs, items=items)
        birthdate = model.predict_birthdate(preds)
        assert isinstance(birthdate.date, date)
        assert YEARS[0] <= birthdate.date.year <= YEARS[1]
        assert 0.0 < birthdate.probability <= 1.0
        assert birthdate.indeterminate  # noise: the phases are indeterminate
    with pytest.raises(InvalidInputError, match="missing"):
        model.predict_birthdate([preds["day"], preds["month"]])


def test_predictions_are_deterministic_and_survive_pickling(model, synthetic):
    p = synthetic(1, amplitude_v=3e-6, noise_v=8e-6, repetitions=3, years=YEARS,
                  seed=16).phases[0]
    first = model.predict_phase(p.epochs, items=p.shown_items)
    again = pickle.loads(pickle.dumps(model)).predict_phase(p.epochs, items=p.shown_items)
    assert first == again
    assert first.model_name == "p300-lda"


def test_the_model_checks_channels_and_reorders_them(model, synthetic):
    import dataclasses

    p = synthetic(1, amplitude_v=6e-6, noise_v=8e-6, repetitions=3, years=YEARS,
                  seed=17).phases[0]
    order = np.arange(len(p.epochs.ch_names))[::-1]
    flipped = dataclasses.replace(p.epochs, data=np.asarray(p.epochs.data)[:, order],
                                  ch_names=tuple(np.asarray(p.epochs.ch_names)[order]))
    assert (model.predict_phase(flipped, items=p.shown_items).probabilities
            == model.predict_phase(p.epochs, items=p.shown_items).probabilities)
    renamed = dataclasses.replace(p.epochs, ch_names=("Fz",) + p.epochs.ch_names[1:])
    with pytest.raises(InvalidInputError, match="'ch_names'.*expects"):
        model.predict_phase(renamed, items=p.shown_items)


def test_fit_needs_two_subjects(synthetic):
    one = synthetic(1, repetitions=2, years=YEARS)
    with pytest.raises(InvalidInputError, match="at least 2 subjects"):
        P300Model("lda").fit(one)
    with pytest.raises(InvalidInputError, match="not fitted"):
        P300Model("lda").predict_phase(one.phases[0].epochs)


@pytest.mark.slow
def test_the_real_pipeline_finds_the_birthdate_at_the_easy_preset():
    """Simulated recordings -> transform -> model, on a subject it never saw."""
    from brain_model.dataset import labelled_phases
    from brain_sim.simulate import simulate_dataset

    recordings, birthdates = [], {}
    for session, label in simulate_dataset(5, preset="easy", seed=5, repetitions=6,
                                           years=YEARS, innocent_fraction=0.0):
        recordings.extend(session)
        birthdates[label.subject] = label.birthdate
    data = labelled_phases(recordings, birthdates)
    train = data.subset(data.subjects[:4])
    model = P300Model("lda", **FAST).fit(train)
    test = [p for p in data.phases if p.subject == data.subjects[4]]
    preds = {p.phase: model.predict_phase(p.epochs, items=p.shown_items) for p in test}
    truth = birthdates[data.subjects[4]]
    assert model.predict_birthdate(preds).date == truth
