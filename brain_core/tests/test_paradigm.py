from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brain_core.errors import InvalidInputError
from brain_core.paradigm import make_paradigm, make_schedule, phase_items


def test_phase_items():
    assert phase_items("day") == tuple(range(1, 32))
    assert phase_items("month") == tuple(range(1, 13))
    assert phase_items("year", (1990, 1994)) == (1990, 1991, 1992, 1993, 1994)
    with pytest.raises(InvalidInputError, match="end_year .1990. must be after start_year"):
        phase_items("year", (1994, 1990))
    with pytest.raises(InvalidInputError, match="'phase' parameter"):
        phase_items("week")


@given(
    phase=st.sampled_from(["day", "month", "year"]),
    repetitions=st.integers(1, 15),
    seed=st.integers(0, 2**32),
    soa_s=st.floats(0.2, 1.0),
    jitter_s=st.floats(0.0, 0.1),
)
@settings(max_examples=80, deadline=None)
def test_schedule_properties(phase, repetitions, seed, soa_s, jitter_s):
    paradigm = make_paradigm(phase, repetitions=repetitions, seed=seed, soa_s=soa_s,
                             jitter_s=jitter_s, years=(1980, 1999))
    schedule = make_schedule(paradigm, lead_s=1.0)
    counts = Counter(schedule.values.tolist())
    # Every item exactly `repetitions` times.
    assert set(counts) == set(paradigm.items)
    assert set(counts.values()) == {repetitions}
    # Never the same item twice in a row.
    assert (np.diff(schedule.values) != 0).all()
    # Onsets increase by one SOA plus jitter in [0, jitter_s].
    base = 1.0 + np.arange(len(schedule)) * soa_s
    assert ((schedule.onsets - base) >= 0).all()
    assert ((schedule.onsets - base) <= jitter_s + 1e-12).all()
    assert (np.diff(schedule.onsets) > 0).all()


def test_reproducible_from_seed_and_different_across_seeds():
    a = make_schedule(make_paradigm("day", seed=7))
    b = make_schedule(make_paradigm("day", seed=7))
    c = make_schedule(make_paradigm("day", seed=8))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.onsets, b.onsets)
    assert not np.array_equal(a.values, c.values)


def test_order_is_randomized_not_sorted():
    values = make_schedule(make_paradigm("day", seed=1, repetitions=1)).values
    assert values.tolist() != sorted(values.tolist())


def test_events_follow_the_schedule():
    paradigm = make_paradigm("month", repetitions=2, seed=3)
    schedule = make_schedule(paradigm)
    events = schedule.events("month", offset_s=0.5)
    assert [e.value for e in events] == schedule.values.tolist()
    assert events[0].onset == pytest.approx(schedule.onsets[0] + 0.5)
    assert events[0].trial_type.startswith("stim/month/")


def test_bad_paradigms_are_refused():
    with pytest.raises(InvalidInputError, match="at least 2 items"):
        make_schedule(make_paradigm("day", items=[5], repetitions=3))
    with pytest.raises(InvalidInputError, match="outside the 'month' phase's range"):
        make_paradigm("month", items=[0, 1])
    with pytest.raises(InvalidInputError, match="lead_s must be >= 0"):
        make_schedule(make_paradigm("day"), lead_s=-1)
