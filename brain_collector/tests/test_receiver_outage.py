"""The receiver goes down during a phase and comes back: nothing lost, nothing twice.

A real receiver (uvicorn, its own spool) and the real ReceiverClient; the board, the
browser and the clock are fakes, so the test takes seconds.
"""

from __future__ import annotations

import pytest

from brain_collector.session import CollectorSession, Services
from brain_collector.tests.conftest import PASSWORD, TRUTH, FakeBoard, make_settings
from brain_core.codec import decode_recording
from brain_receiver.auth import hash_password

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # brain_core.testing.Server leaves its log file object to the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in.*server-logs:pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def receiver(start_server, tmp_path):
    credentials = tmp_path / "credentials"
    credentials.write_text(f"lab1:{hash_password(PASSWORD)}\n")
    server = start_server("brain_receiver", env={
        "BRAIN_RECEIVER_PORT": "{port}",
        "BRAIN_RECEIVER_CREDENTIALS_FILE": str(credentials),
        "BRAIN_RECEIVER_SPOOL_DIR": str(tmp_path / "spool"),
        "BRAIN_RECEIVER_STATE_DIR": str(tmp_path / "state"),
    })
    yield server
    server.stop()


def _record_phase(session: CollectorSession, browser) -> None:
    plan = session.begin_phase()
    session.finish_phase(browser(plan))


def test_phases_wait_in_the_outbox_while_the_receiver_is_down(fakes, receiver, tmp_path):
    spool = tmp_path / "spool" / "incoming"
    services = Services(settings=make_settings(tmp_path, api_url=receiver.url),
                        open_board=lambda settings, subject: FakeBoard(fakes.clock),
                        display=fakes.browser, clock=fakes.clock, sleep=fakes.clock.sleep)
    session = CollectorSession(services)
    session.submit_setup("OUT1", True)
    session.start_phases()

    _record_phase(session, fakes.browser)
    assert session.outcomes["day"].upload == "sent"
    assert session.outcomes["day"].prediction_error  # this receiver has no inference
    assert len(list(spool.iterdir())) == 1

    receiver.stop()
    session.advance()
    _record_phase(session, fakes.browser)
    month = session.outcomes["month"]
    assert month.upload == "waiting"
    assert "could not take them" in session.upload_message
    [waiting] = session.outbox.pending()
    assert (waiting.session_id, waiting.phase) == (session.session_id, "month")
    assert decode_recording(waiting.path.read_bytes()) == month.recording

    receiver.start()
    session.advance()
    _record_phase(session, fakes.browser)  # the next phase sends the waiting one too
    assert session.outcomes["month"].upload == "sent"
    assert session.outcomes["year"].upload == "sent"
    assert session.outbox.pending() == [] and session.upload_message is None
    expected = sorted(f"{session.session_id}_{p}.brainrec" for p in ("day", "month", "year"))
    assert sorted(p.name for p in spool.iterdir()) == expected

    # A crash between the receiver's answer and the deletion means a second send of the
    # same content: accepted as a duplicate, stored once.
    session.outbox.put_recording(month.recording)
    result = session.flush()
    assert result.sent[(session.session_id, "month")]["duplicate"] is True
    assert sorted(p.name for p in spool.iterdir()) == expected
    for phase in ("day", "month", "year"):
        stored = decode_recording((spool / f"{session.session_id}_{phase}.brainrec")
                                  .read_bytes())
        assert stored == session.outcomes[phase].recording

    # Different content for a phase the receiver has is a 409: kept aside, not lost.
    altered = month.recording.model_copy(update={"timing": {"jitter_sd_s": 1.0}})
    session.outbox.put_recording(altered)
    result = session.flush()
    assert list(result.rejected) == [(session.session_id, "month")]
    [rejected] = session.outbox.rejected()
    assert decode_recording(rejected.path.read_bytes()) == altered
    assert sorted(p.name for p in spool.iterdir()) == expected

    session.advance()
    session.to_label()
    receiver.stop()
    session.save_label(TRUTH)
    assert session.label_status == "waiting"
    receiver.start()
    session.flush()
    assert session.label_status == "sent"
    assert (spool / f"{session.session_id}_label.json").exists()
