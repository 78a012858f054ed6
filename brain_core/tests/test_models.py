import uuid
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from brain_core.errors import InvalidInputError, check_option
from brain_core.models import (
    Event,
    Label,
    Paradigm,
    PhasePrediction,
    Recording,
    check_item,
    parse_trial_type,
    trial_type,
)


def _with(recording: Recording, **update) -> Recording:
    fields = {name: getattr(recording, name) for name in Recording.model_fields}
    fields.update(update)
    return Recording(**fields)


def test_valid_recording_properties(make_recording):
    rec = make_recording()
    assert rec.data.dtype == np.float32
    assert rec.n_channels == 8
    assert rec.duration_s == pytest.approx(rec.n_times / 256.0)
    assert len(rec.events) == 31 * 2
    assert rec.meas_date.tzinfo is not None


@pytest.mark.parametrize(
    ("update", "field", "message"),
    [
        ({"sfreq": 0}, "sfreq", "greater than 0"),
        ({"sfreq": -256}, "sfreq", "greater than 0"),
        ({"phase": "week"}, "phase", "'day', 'month' or 'year'"),
        ({"subject": "sub-01"}, "subject", "pattern"),
        ({"ch_names": ("C3",) * 8}, "ch_names", "unique"),
        ({"meas_date": datetime(2026, 1, 1)}, "meas_date", "timezone"),
    ],
)
def test_bad_scalar_fields_are_named(make_recording, update, field, message):
    rec = make_recording()
    with pytest.raises(ValidationError, match=message) as info:
        _with(rec, **update)
    assert field in str(info.value)


def test_nan_and_inf_are_refused_with_their_position(make_recording):
    rec = make_recording()
    data = rec.data.copy()
    data[3, 100] = np.nan
    with pytest.raises(ValidationError, match=r"data[\s\S]*non-finite[\s\S]*channel 3, sample 100"):
        _with(rec, data=data)
    data[3, 100] = np.inf
    with pytest.raises(ValidationError, match="non-finite"):
        _with(rec, data=data)


def test_shape_must_match_ch_names(make_recording):
    rec = make_recording()
    with pytest.raises(ValidationError, match=r"7 channel row\(s\) but ch_names lists 8"):
        _with(rec, data=rec.data[:7])
    with pytest.raises(ValidationError, match="2-D"):
        _with(rec, data=rec.data[0])


def test_microvolts_sent_as_volts_are_refused(make_recording):
    rec = make_recording()
    with pytest.raises(ValidationError, match="must be in volts"):
        _with(rec, data=rec.data * 1e6)


def test_onsets_must_increase_and_lie_inside_the_data(make_recording):
    rec = make_recording()
    events = list(rec.events)
    events[5], events[6] = events[6], events[5]
    with pytest.raises(ValidationError, match=r"events\[6\]\.onset .* does not increase"):
        _with(rec, events=tuple(events))
    late = (*rec.events[:-1], Event(onset=rec.duration_s + 1, phase="day", value=3))
    with pytest.raises(ValidationError, match=r"events\[61\]\.onset .* outside the data"):
        _with(rec, events=late)


def test_items_outside_the_phase_range_are_refused(make_recording):
    rec = make_recording()
    bad = (*rec.events[:-1], Event(onset=rec.events[-1].onset, phase="day", value=32))
    with pytest.raises(ValidationError, match=r"events\[61\]\.value 32 is not one of"):
        _with(rec, events=bad)
    with pytest.raises(ValidationError, match=r"item 13 is outside the 'month' phase's range 1-12"):
        _with(make_recording("month"),
              paradigm=Paradigm(items=tuple(range(1, 14)), seed=0))
    with pytest.raises(ValidationError, match=r"item 1850 is outside the 'year'"):
        _with(make_recording("year"), paradigm=Paradigm(items=(1850, 1990), seed=0))
    wrong_phase = (Event(onset=1.0, phase="month", value=3),)
    with pytest.raises(ValidationError, match=r"events\[0\]\.phase is 'month' in a 'day'"):
        _with(rec, events=wrong_phase)


def test_check_item_and_check_option_messages():
    assert check_item("year", 1994) == 1994
    with pytest.raises(InvalidInputError, match="outside the 'day' phase's range 1-31"):
        check_item("day", 0)
    with pytest.raises(InvalidInputError, match="expected an integer"):
        check_item("day", 1.5)
    with pytest.raises(InvalidInputError, match=(
            "Invalid value for the 'phase' parameter. Allowed values are 'day', 'month', "
            "'year', but got 'week' instead.")):
        check_option("phase", "week", ("day", "month", "year"))


def test_trial_type_round_trip():
    assert trial_type("year", 1994) == "stim/year/1994"
    assert parse_trial_type("stim/day/17") == ("day", 17)
    assert parse_trial_type("stim/week/3") is None
    assert parse_trial_type("response") is None
    assert parse_trial_type("stim/day/x") is None


def test_recording_equality_compares_samples(make_recording):
    a, b = make_recording(), make_recording()
    assert a == b
    data = a.data.copy()
    data[0, 0] += 1e-6
    assert _with(a, data=data) != a


def test_label_hides_the_birthdate_and_checks_it():
    label = Label(session_id=uuid.uuid4(), subject="S01", birthdate=date(1994, 3, 17))
    assert "1994" not in repr(label) and "1994" not in str(label)
    with pytest.raises(ValidationError, match="birthdate"):
        Label(session_id=uuid.uuid4(), subject="S01", birthdate="1994-02-30")
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    with pytest.raises(ValidationError, match="between 1900-01-01 and today"):
        Label(session_id=uuid.uuid4(), subject="S01", birthdate=tomorrow)


def _prediction(**update):
    fields = dict(phase="month", items=(1, 2, 3), probabilities=(0.2, 0.5, 0.3),
                  top_item=2, confidence=0.9, indeterminate=False, model_name="p300",
                  model_version="1")
    fields.update(update)
    return PhasePrediction(**fields)


def test_phase_prediction_checks():
    assert _prediction().probability_of(2) == 0.5
    with pytest.raises(ValidationError, match="sum to 1"):
        _prediction(probabilities=(0.2, 0.2, 0.2))
    with pytest.raises(ValidationError, match="3 item"):
        _prediction(probabilities=(0.5, 0.5))
    with pytest.raises(ValidationError, match="top_item 7"):
        _prediction(top_item=7)
    with pytest.raises(ValidationError, match="non-negative"):
        _prediction(probabilities=(1.2, -0.2, 0.0))


def test_json_metadata_excludes_samples(make_recording):
    meta = make_recording().metadata()
    assert "data" not in meta
    assert meta["schema_version"] == 1
    assert meta["events"][0]["phase"] == "day"
