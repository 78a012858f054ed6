"""The outbox: on disk before any network call, removed only once the receiver has it."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest

from brain_collector.outbox import Outbox, _exclusive
from brain_core.codec import decode_recording
from brain_core.errors import ConflictError, DependencyError
from brain_core.upload import UploadRejected


class Client:
    """Records what it was sent; fails as told, per call."""

    def __init__(self, *failures) -> None:
        self.failures = list(failures)
        self.sent: list[tuple] = []

    def _maybe_fail(self) -> None:
        if self.failures:
            failure = self.failures.pop(0)
            if failure is not None:
                raise failure

    def upload_phase(self, payload, *, session_id, phase):
        self._maybe_fail()
        self.sent.append((session_id, phase, decode_recording(payload)))
        return {"stored": True, "duplicate": False, "prediction": None,
                "prediction_error": "no inference service is configured"}

    def upload_label(self, session_id, subject, birthdate):
        self._maybe_fail()
        self.sent.append((session_id, "label", birthdate))
        return {"stored": True}


def test_put_writes_whole_files_and_nothing_else(tmp_path, make_recording):
    outbox = Outbox(tmp_path / "outbox")
    assert not (tmp_path / "outbox").exists()  # nothing until the first write
    recording = make_recording("day")
    path = outbox.put_recording(recording)
    assert decode_recording(path.read_bytes()) == recording
    label = outbox.put_label(recording.session_id, "S01", date(1990, 1, 2))
    assert json.loads(label.read_text()) == {"session_id": str(recording.session_id),
                                             "subject": "S01", "birthdate": "1990-01-02"}
    assert sorted(p.name for p in outbox.pending_dir.iterdir()) == [path.name, label.name]
    assert [(i.kind, i.phase) for i in outbox.pending()] == [("phase", "day"), ("label", None)]


def test_a_failed_write_leaves_no_file(tmp_path, make_recording, monkeypatch):
    outbox = Outbox(tmp_path)
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        outbox.put_recording(make_recording("day"))
    assert list(outbox.pending_dir.iterdir()) == []


def test_labels_are_validated_before_they_are_stored(tmp_path):
    with pytest.raises(ValueError, match="must lie between 1900-01-01 and today"):
        Outbox(tmp_path).put_label(uuid.uuid4(), "S01", date(2999, 1, 1))


def test_flush_sends_oldest_first_and_removes_what_was_accepted(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    day, month = make_recording("day"), make_recording("month")
    outbox.put_recording(day)
    outbox.put_recording(month)
    outbox.put_label(day.session_id, "S01", date(1990, 1, 2))
    client = Client()
    result = outbox.flush(client)
    assert [what for _, what, _ in client.sent] == ["day", "month", "label"]
    assert client.sent[0][2] == day
    assert set(result.sent) == {(day.session_id, "day"), (day.session_id, "month"),
                                (day.session_id, "label")}
    assert result.pending == 0 and result.unreachable is None
    assert outbox.pending() == []


def test_an_unreachable_receiver_keeps_everything_for_later(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    outbox.put_recording(make_recording("day"))
    outbox.put_recording(make_recording("month"))
    client = Client(DependencyError("receiver unreachable: connection refused"))
    result = outbox.flush(client)
    assert result.unreachable == "receiver unreachable: connection refused"
    assert client.sent == [] and result.pending == 2  # it stopped at the first failure
    result = outbox.flush(client)
    assert [what for _, what, _ in client.sent] == ["day", "month"] and result.pending == 0


def test_conflicts_and_refusals_go_to_rejected_with_the_reason(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    first = outbox.put_recording(make_recording("day"))
    outbox.put_recording(make_recording("month"))
    outbox.put_recording(make_recording("year"))
    client = Client(ConflictError("different content for this session and phase"),
                    UploadRejected("receiver refused the upload (422): bad channel"))
    result = outbox.flush(client)
    assert [what for _, what, _ in client.sent] == ["year"]
    assert sorted(w for _, w in result.rejected) == ["day", "month"]
    assert [i.phase for i in outbox.rejected()] == ["day", "month"]
    reason = (outbox.rejected_dir / (first.name + ".reason.txt")).read_text()
    assert reason == "ConflictError: different content for this session and phase\n"
    assert outbox.pending() == []


def test_wrong_credentials_do_not_reject_the_data(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    outbox.put_recording(make_recording("day"))
    result = outbox.flush(Client(UploadRejected("receiver refused the upload (401): Invalid "
                                                "credentials.")))
    assert "refused the credentials" in result.unreachable
    assert result.pending == 1 and outbox.rejected() == []


def test_a_concurrent_flush_is_told_the_outbox_is_busy(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    outbox.put_recording(make_recording("day"))
    with _exclusive(tmp_path / ".flush.lock") as locked:
        assert locked
        result = outbox.flush(Client())
    assert result.busy and result.pending == 1


def test_unrelated_files_are_ignored(tmp_path, make_recording):
    outbox = Outbox(tmp_path)
    outbox.prepare()
    (outbox.pending_dir / "notes.txt").write_text("hello")
    (outbox.pending_dir / ".tmp-123").write_bytes(b"half")
    assert outbox.pending() == []
