"""The collector's Streamlit page: ``streamlit run brain_collector/app.py`` (or
``brain collector``), served on localhost:8501.

This file only draws; the logic lives in :mod:`brain_collector.session`. ``main()``
takes the :class:`~brain_collector.session.Services` to use, which is how AppTest drives
the page with a fake board, receiver and browser.
"""

from __future__ import annotations

import logging
from datetime import date

import streamlit as st
from pydantic import ValidationError

from brain_collector.config import CREDENTIALS_HELP, Settings
from brain_collector.session import CollectorSession, PhaseOutcome, Services, Stage
from brain_collector.stimuli import item_label
from brain_core.errors import BrainError
from brain_core.models import MIN_YEAR, PHASES

log = logging.getLogger(__name__)

SESSION_KEY = "brain_collector_session"
FLUSHED_KEY = "brain_collector_flushed_at_start"
PHASE_TITLES = {"day": "Days", "month": "Months", "year": "Years"}


def main(services: Services | None = None) -> None:
    """Draw the page for this browser session."""
    st.set_page_config(page_title="BRAIN collector", page_icon="🧠", layout="wide")
    session = _session(services)
    if session is None:
        return
    draw = {Stage.setup: _setup, Stage.signal_check: _signal_check, Stage.result: _result,
            Stage.label: _label, Stage.done: _done}.get(session.stage, _phase)
    try:
        draw(session)
    except BrainError as err:
        st.error(str(err))
        log.warning("collector: %s", err)


def _session(services: Services | None) -> CollectorSession | None:
    session = st.session_state.get(SESSION_KEY)
    if session is not None:
        return session
    if services is None:
        try:
            services = Services(settings=Settings())
        except (ValidationError, BrainError) as err:
            st.title("BRAIN collector")
            st.error(f"The collector's settings are invalid:\n\n{err}")
            st.info("Fix the environment or `.env` (see brain_collector/README.md) and "
                    "reload the page.")
            return None
    session = CollectorSession(services)
    st.session_state[SESSION_KEY] = session
    if not st.session_state.get(FLUSHED_KEY):
        # App start: whatever an earlier run left in the outbox goes out first.
        st.session_state[FLUSHED_KEY] = True
        session.flush()
    return session


def _new_session(session: CollectorSession) -> None:
    session.close()
    st.session_state[SESSION_KEY] = CollectorSession(session.services)
    for key in ("subject", "consent", "true_birthdate"):
        st.session_state.pop(key, None)


def _uploads(session: CollectorSession, *, retry: bool = True) -> None:
    """The outbox's state, and a button to send again."""
    message = session.upload_message
    if message is None:
        return
    if session.settings.upload_enabled:
        st.warning(message, icon="📤")
        if retry and st.button("Retry now", key=f"retry_{session.stage.value}"):
            with st.spinner("Sending..."):
                result = session.flush()
            if result.sent:
                st.success(f"Sent {len(result.sent)} file(s).")
            st.rerun()
    else:
        st.warning(message, icon="🔒")


def _abort(session: CollectorSession) -> None:
    with st.expander("Stop this session"):
        st.write("Stops the recording. Phases already recorded stay in the outbox.")
        if st.button("Stop the session", key="abort"):
            _new_session(session)
            st.rerun()


# -- stages ----------------------------------------------------------------------------


def _setup(session: CollectorSession) -> None:
    s = session.settings
    st.title("BRAIN collector")
    st.caption(f"Session {session.session_id}")
    left, right = st.columns(2)
    with left:
        st.subheader("Board")
        board = {"crown": "Neurosity Crown", "emulator": "Crown emulator (simulated subject)",
                 "synthetic": "BrainFlow synthetic board (simulated subject)"}[s.board]
        details = (f"UDP port {s.crown_ip_port}"
                   + (f", serial {s.crown_serial_number}" if s.crown_serial_number else "")
                   if s.board != "synthetic" else f"preset {s.sim_preset}")
        st.write(f"{board} · {details}")
        st.caption("Change with BRAIN_COLLECTOR_BOARD, BRAIN_COLLECTOR_CROWN_IP_PORT and "
                   "BRAIN_COLLECTOR_CROWN_SERIAL_NUMBER.")
    with right:
        st.subheader("Receiver")
        st.write(f"{s.api_url} · user {s.api_username or '(not set)'} · password "
                 f"{'set' if s.api_password is not None else '(not set)'}")
        st.caption("Change with API_URL, API_USERNAME and API_PASSWORD.")
    if not s.upload_enabled:
        st.warning(CREDENTIALS_HELP, icon="🔒")
    else:
        _uploads(session)

    st.subheader("Subject")
    subject = st.text_input(
        "Subject ID", key="subject", max_chars=64, placeholder="S01",
        help="A pseudonym of letters and digits (BIDS label). Never the subject's name.")
    with st.container(border=True):
        st.markdown(s.consent_text())
    consent = st.checkbox("The subject has read this text and agrees to take part.",
                          key="consent")
    st.caption(f"Each phase shows its items {s.repetitions} times, one every "
               f"{s.time_interval:g} s; years {s.start_year}-{s.end_year}.")
    if st.button("Continue to the signal check", type="primary", key="setup_submit"):
        errors = session.submit_setup(subject, consent)
        for error in errors:
            st.error(error)
        if not errors:
            st.rerun()


def _signal_check(session: CollectorSession) -> None:
    from brain_collector import figures

    st.title("Signal check")
    st.caption(f"Subject {session.subject} · session {session.session_id}")
    if session.board is None:
        with st.spinner("Connecting to the board..."):
            try:
                session.connect()
            except BrainError as err:
                st.error(str(err))
                if st.button("Back to the set-up", key="back_to_setup"):
                    _new_session(session)
                    st.rerun()
                return
    if session.quality is None:
        with st.spinner(f"Recording {session.settings.signal_check_s:g} s of EEG..."):
            session.check_signal()
    quality = session.quality or []
    flat = [q.name for q in quality if q.status == "flat"]
    noisy = [q.name for q in quality if q.status == "noisy"]
    if flat or noisy:
        st.warning(" ".join(filter(None, [
            f"Flat: {', '.join(flat)} (no contact?)." if flat else "",
            f"Noisy: {', '.join(noisy)} (press the electrode gently, ask the subject to "
            "relax and keep still)." if noisy else ""])))
    else:
        st.success("All channels look like EEG.")
    view = st.radio("Show", ("Head", "Traces"), horizontal=True, key="signal_view")
    left, right = st.columns((3, 2))
    with left:
        if view == "Head":
            st.plotly_chart(figures.head_figure(quality), key="head")
        else:
            board = session.connect()
            st.plotly_chart(figures.traces_figure(
                board.latest(session.settings.signal_check_s), board.sfreq, board.ch_names,
                quality), key="traces")
    with right:
        st.dataframe({"channel": [q.name for q in quality],
                      "noise (µV)": [round(q.noise_uv, 1) for q in quality],
                      "status": [q.status for q in quality]}, hide_index=True)
        if st.button("Check again", key="check_again"):
            session.quality = None
            st.rerun()
    st.info("Next: the days, then the months, then the years. The subject looks at the "
            "centre of the screen and keeps still; each phase takes about "
            f"{_phase_minutes(session):.0f} min.")
    if st.button("Start the day phase", type="primary", key="start_phases"):
        session.start_phases()
        st.rerun()
    _abort(session)


def _phase_minutes(session: CollectorSession) -> float:
    longest = max(len(session.paradigm(p).items) for p in PHASES)
    return max(1.0, longest * session.settings.repetitions * session.settings.time_interval
               / 60)


def _phase(session: CollectorSession) -> None:
    phase = session.phase
    assert phase is not None
    outcome = session.outcomes.get(phase)
    if outcome is None:
        plan = session.begin_phase()
        st.markdown(f"**{PHASE_TITLES[phase]}** · {len(plan.values)} items · about "
                    f"{plan.end_s - plan.start_s:.0f} s · look at the centre")
        report = session.services.display(plan)
        if report is None:
            return
        with st.spinner("Saving the recording..."):
            session.finish_phase(report)
        st.rerun()
    else:
        _review(session, outcome)


def _review(session: CollectorSession, outcome: PhaseOutcome) -> None:
    from brain_collector import figures

    phase = outcome.phase
    st.title(f"{PHASE_TITLES[phase]}: done")
    _upload_state(session, outcome)
    prediction = outcome.prediction
    if prediction is not None:
        label = item_label(phase, prediction.top_item)
        left, right = st.columns((1, 3))
        with left:
            st.metric(f"Predicted {phase}", label, f"confidence {prediction.confidence:.0%}",
                      delta_color="off", delta_arrow="off")
            if prediction.indeterminate:
                st.warning(f"Indeterminate: {label} does not stand out enough from the other "
                           f"{phase}s to be called with confidence.")
            st.caption(f"model {prediction.model_name} v{prediction.model_version}")
        with right:
            st.plotly_chart(figures.probability_figure(prediction), key=f"prob_{phase}")
        erp = figures.compute_erp(outcome.recording, prediction.top_item)
        st.plotly_chart(figures.erp_figure(erp, phase, prediction.top_item),
                        key=f"erp_{phase}")
    timing = outcome.recording.timing
    st.caption(
        f"Onset jitter (frame time minus schedule): mean "
        f"{timing['jitter_mean_s'] * 1000:.1f} ms, SD {timing['jitter_sd_s'] * 1000:.1f} ms, "
        f"max {timing['jitter_max_s'] * 1000:.1f} ms; frame interval "
        f"{timing['frame_interval_s'] * 1000:.1f} ms · {len(outcome.recording.events)} "
        f"stimuli, {outcome.recording.duration_s:.0f} s of EEG.")
    if outcome.report.hidden_frames:
        st.warning("The page was hidden during part of this phase: those onsets are not "
                   "reliable.")
    following = PHASES.index(phase) + 1
    label = (f"Continue to the {PHASES[following]} phase" if following < len(PHASES)
             else "See the result")
    if st.button(label, type="primary", key=f"advance_{phase}"):
        session.advance()
        st.rerun()
    _abort(session)


def _upload_state(session: CollectorSession, outcome: PhaseOutcome) -> None:
    if outcome.upload == "sent":
        if outcome.prediction is None:
            st.info(f"Uploaded. No prediction: {outcome.prediction_error or 'none given'}.")
    elif outcome.upload == "rejected":
        st.error(f"The receiver refused this phase ({outcome.rejection}); it was moved to "
                 f"{session.outbox.rejected_dir}.")
    else:
        _uploads(session)
        if outcome.upload == "waiting":
            st.info("The prediction appears once the phase is uploaded.")


def _result(session: CollectorSession) -> None:
    st.title("Result")
    birthdate = session.birthdate()
    if birthdate is None:
        missing = [p for p in PHASES if p not in session.predictions()]
        st.info(f"No birthdate yet: the {', '.join(missing)} phase(s) have no prediction.")
        _uploads(session)
    else:
        when = birthdate.date
        st.metric("Predicted birthdate", f"{when.day} {item_label('month', when.month)} "
                  f"{when.year}", f"probability {birthdate.probability:.0%}",
                  delta_color="off", delta_arrow="off")
        if birthdate.indeterminate:
            st.warning("Indeterminate: this is the most probable date, but it is not a "
                       "confident call (" + "; ".join(birthdate.reasons) + ").")
        else:
            st.success("A confident call: every phase's top item stood out.")
        st.caption("Per phase: " + ", ".join(
            f"{p} {item_label(p, session.predictions()[p].top_item)} "
            f"({session.predictions()[p].confidence:.0%})" for p in PHASES))
    if st.button("Enter the true birthdate", type="primary", key="to_label"):
        session.to_label()
        st.rerun()


def _label(session: CollectorSession) -> None:
    st.title("True birthdate")
    st.write("The true birthdate is stored apart from the EEG and is used to check and "
             "improve the model. It is optional.")
    value = st.date_input("Birthdate", value=None, min_value=date(MIN_YEAR, 1, 1),
                          max_value=date.today(), format="YYYY-MM-DD", key="true_birthdate")
    left, right = st.columns(2)
    with left:
        if st.button("Save the true birthdate", type="primary", key="save_label"):
            if value is None:
                st.error("Pick the date first (or skip).")
            else:
                session.save_label(value)
                st.rerun()
    with right:
        if st.button("Skip", key="skip_label"):
            session.skip_label()
            st.rerun()


def _done(session: CollectorSession) -> None:
    st.title("Thank you")
    st.write(f"Session {session.session_id} of subject {session.subject} is complete.")
    status = {"sent": "The true birthdate was uploaded.",
              "waiting": "The true birthdate waits in the outbox.",
              "off": "The true birthdate is kept in the outbox (uploads are off).",
              "rejected": "The receiver refused the true birthdate (see the outbox's "
                          "rejected folder).",
              "skipped": "No true birthdate was given."}.get(session.label_status or "", "")
    st.write(status)
    _uploads(session)
    if st.button("Start a new session", type="primary", key="new_session"):
        _new_session(session)
        st.rerun()


if __name__ == "__main__":
    main()
