"""The page under AppTest: set-up validation, phase progression, result rendering.

A fake board, browser, clock and receiver stand in for the hardware and the network
(see conftest.py); the page logic is the real one.
"""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from brain_collector.session import Stage
from brain_collector.tests.conftest import TRUTH, make_settings
from brain_core.models import PhasePrediction

SESSION_KEY = "brain_collector_session"


def _page(services):
    from brain_collector.app import main

    main(services)


def _app(services) -> AppTest:
    return AppTest.from_function(_page, kwargs={"services": services}, default_timeout=30).run()


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "markdown", "caption", "error", "warning",
                                  "info", "success") for e in getattr(at, kind)]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(str(p) for p in parts)


def _setup(at: AppTest, subject: str = "S01", consent: bool = True) -> AppTest:
    at.text_input(key="subject").input(subject)
    if consent:
        at.checkbox(key="consent").check()
    return at.button(key="setup_submit").click().run()


def test_a_subject_id_that_is_not_a_bids_label_is_refused(fakes):
    at = _setup(_app(fakes.services), subject="Jane Doe")
    assert not at.exception
    assert "is not valid: use 1-64 letters and digits only" in _texts(at)
    assert at.session_state[SESSION_KEY].stage == Stage.setup
    assert fakes.boards == []  # nothing recorded for an invalid set-up


def test_consent_is_required(fakes):
    at = _setup(_app(fakes.services), consent=False)
    assert "must read and accept the consent text" in _texts(at)
    assert at.session_state[SESSION_KEY].stage == Stage.setup
    at = _setup(at, consent=True)
    assert at.session_state[SESSION_KEY].stage == Stage.signal_check


def test_without_a_password_the_page_says_how_to_set_it_and_uploads_nothing(fakes):
    fakes.services.settings = make_settings(fakes.tmp_path, api_password=None)
    at = _app(fakes.services)
    text = _texts(at)
    assert "Uploads are off: set API_USERNAME and API_PASSWORD" in text
    assert "password (not set)" in text
    at = _setup(at)
    at.button(key="start_phases").click().run()
    assert not at.exception
    # The phase is recorded and kept, but nothing went to the receiver.
    assert fakes.receiver.phases == []
    assert len(list((fakes.tmp_path / "outbox" / "pending").iterdir())) == 1
    assert "Uploads are off" in _texts(at)


def test_signal_check_shows_flat_channels(fakes):
    from brain_collector.tests.conftest import FakeBoard

    fakes.services.open_board = lambda settings, subject: FakeBoard(fakes.clock,
                                                                    flat=("C3", "PO4"))
    at = _setup(_app(fakes.services))
    assert "Flat: C3, PO4 (no contact?)." in _texts(at)
    assert at.get("plotly_chart")  # the head picture
    table = at.dataframe[0].value
    assert dict(zip(table["channel"], table["status"], strict=True))["C3"] == "flat"
    assert dict(zip(table["channel"], table["status"], strict=True))["CP3"] == "good"


def test_phases_progress_from_day_to_label_with_predictions(fakes):
    at = _setup(_app(fakes.services))
    assert [t.value for t in at.title] == ["Signal check"]
    at.button(key="start_phases").click().run()
    session = at.session_state[SESSION_KEY]
    expected = {"day": str(TRUTH.day), "month": "March", "year": str(TRUTH.year)}
    for phase in ("day", "month", "year"):
        assert not at.exception
        assert f"Predicted {phase}={expected[phase]}" in _texts(at)
        assert "Onset jitter (frame time minus schedule)" in _texts(at)
        assert len(at.get("plotly_chart")) == 2  # probabilities and the ERP
        outcome = session.outcomes[phase]
        assert outcome.upload == "sent"
        assert outcome.recording.timing["jitter_max_s"] <= 1 / 120 + 1e-9
        at.button(key=f"advance_{phase}").click().run()
    assert session.stage == Stage.result
    assert "Predicted birthdate=2 March 1991" in _texts(at)
    assert "A confident call" in _texts(at)
    # Each phase showed its own items, in the order day, month, year.
    assert [plan.phase for plan in fakes.browser.shown] == ["day", "month", "year"]
    assert [p for _, p in fakes.receiver.phases] == ["day", "month", "year"]

    at.button(key="to_label").click().run()
    at.button(key="save_label").click().run()
    assert "Pick the date first" in _texts(at)
    at.date_input(key="true_birthdate").set_value(TRUTH)
    at.button(key="save_label").click().run()
    assert session.stage == Stage.done
    assert fakes.receiver.labels == [(str(session.session_id), "S01", TRUTH)]
    assert "The true birthdate was uploaded." in _texts(at)
    assert list((fakes.tmp_path / "outbox" / "pending").iterdir()) == []
    at.button(key="new_session").click().run()
    assert at.session_state[SESSION_KEY].stage == Stage.setup
    assert fakes.boards[0].stopped


def test_the_phase_waits_for_the_browser(fakes):
    fakes.browser.hold = True
    at = _setup(_app(fakes.services))
    at.button(key="start_phases").click().run()
    session = at.session_state[SESSION_KEY]
    assert session.stage == Stage.day and session.plan is not None
    plan = session.plan
    at.run()  # a rerun while the stimuli run must not restart them
    assert session.plan is plan
    assert fakes.boards[0].presented == [("day", plan.values)]
    assert fakes.boards[0].marks == [1.0]
    assert "Days** · 12 items" in _texts(at)
    fakes.browser.hold = False
    at.run()
    assert "day" in session.outcomes
    assert "Predicted day=2" in _texts(at)


def _prediction(phase: str, items, top: int, confidence: float, indeterminate: bool):
    rest = (1 - 0.6) / (len(items) - 1)
    return PhasePrediction(phase=phase, items=tuple(items),
                           probabilities=tuple(0.6 if v == top else rest for v in items),
                           top_item=top, confidence=confidence, indeterminate=indeterminate,
                           model_name="m", model_version="3")


@pytest.mark.parametrize("indeterminate", [False, True])
def test_result_renders_given_predictions_honestly(fakes, indeterminate):
    at = _setup(_app(fakes.services))
    at.button(key="start_phases").click().run()
    session = at.session_state[SESSION_KEY]
    for phase in ("day", "month", "year"):
        at.button(key=f"advance_{phase}").click().run()
    given = {"day": _prediction("day", range(1, 5), 4, 0.97, False),
             "month": _prediction("month", range(1, 5), 2, 0.4 if indeterminate else 0.95,
                                  indeterminate),
             "year": _prediction("year", range(1990, 1994), 1992, 0.99, False)}
    for phase, prediction in given.items():
        session.outcomes[phase].prediction = prediction
    at.run()
    text = _texts(at)
    assert "Predicted birthdate=4 February 1992" in text
    if indeterminate:
        assert "Indeterminate: this is the most probable date, but it is not a confident " \
               "call (month phase indeterminate)" in text
        assert "A confident call" not in text
    else:
        assert "A confident call" in text and "Indeterminate" not in text


def test_result_without_all_predictions_says_what_is_missing(fakes):
    fakes.receiver.down = True
    at = _setup(_app(fakes.services))
    at.button(key="start_phases").click().run()
    assert "could not take them" in _texts(at)  # the outbox message
    assert "Retry now" in [b.label for b in at.button]
    session = at.session_state[SESSION_KEY]
    for phase in ("day", "month", "year"):
        at.button(key=f"advance_{phase}").click().run()
    assert "No birthdate yet: the day, month, year phase(s) have no prediction." in _texts(at)
    fakes.receiver.down = False
    at.button(key="retry_result").click().run()
    assert set(session.predictions()) == {"day", "month", "year"}
    assert "Predicted birthdate=2 March 1991" in _texts(at)


def test_the_outbox_is_flushed_when_the_app_starts(fakes):
    from brain_collector.outbox import Outbox

    outbox = Outbox(fakes.services.settings.outbox_dir)
    import uuid

    outbox.put_label(uuid.uuid4(), "OLD1", date(1980, 5, 6))
    _app(fakes.services)
    assert [s for _, s, _ in fakes.receiver.labels] == ["OLD1"]
    assert outbox.pending() == []


def test_the_real_stimulus_component_mounts_and_waits(fakes):
    from brain_collector.session import _show

    fakes.services.display = _show
    at = _setup(_app(fakes.services))
    at.button(key="start_phases").click().run()
    assert not at.exception
    session = at.session_state[SESSION_KEY]
    assert session.plan is not None and "day" not in session.outcomes


def test_invalid_settings_are_explained_on_the_page(clean_env, monkeypatch):
    monkeypatch.setenv("END_YEAR", "1940")
    at = AppTest.from_function(_page, kwargs={"services": None}, default_timeout=30).run()
    assert not at.exception
    assert "END_YEAR (1940) must be after START_YEAR" in _texts(at)
    assert "brain_collector/README.md" in _texts(at)
