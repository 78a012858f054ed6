"""Ingest from the spool into the raw repository (local DVC remote, in-process)."""

from __future__ import annotations

import json
import struct
import threading
import time
import uuid
import zlib
from datetime import date

import pytest

from brain_core import bids
from brain_core.codec import encode_recording
from brain_core.errors import DependencyError, NotFoundError
from brain_data.labels import read_label, write_label
from brain_data.raw import (
    committed_labels,
    committed_recordings,
    ingest_once,
    list_quarantine,
    raw_repository,
    raw_status,
)
from brain_data.repository import LockTimeoutError
from brain_data.service import drain
from brain_data.tests.helpers import (
    commit_count,
    make_settings,
    remote_has,
    spool_bytes,
    spool_files,
    spool_label,
    spool_name,
    spool_recording,
    tiny_recording,
    tiny_session,
)


def _reencode_with(payload: bytes, old: bytes, new: bytes) -> bytes:
    """``payload`` with ``old`` replaced by ``new`` in its header and a valid checksum."""
    assert len(old) == len(new) and payload.count(old) == 1
    body = payload[28:].replace(old, new)
    prefix = bytearray(payload[:28])
    struct.pack_into("<I", prefix, 24, zlib.crc32(body))
    return bytes(prefix) + body


def test_ingest_commits_a_session_and_its_label_then_empties_the_spool(settings):
    recordings, label = tiny_session(1, subject="S07")
    for recording in recordings:
        spool_recording(settings, recording)
    spool_label(settings, label)
    before = commit_count(settings.raw_repo)

    report = ingest_once(settings)

    assert sorted(report.recordings) == sorted(f"{r.session_id}_{r.phase.value}"
                                               for r in recordings)
    assert report.labels == [f"{label.session_id}_label"]
    assert report.quarantined == [] and report.pushed and report.commit
    assert commit_count(settings.raw_repo) == before + 1  # one commit per batch
    assert spool_files(settings) == []
    repo = raw_repository(settings.raw_repo)
    stored = committed_recordings(repo)
    assert [(r.subject, r.session_id, r.phase) for r in stored] == [
        ("S07", label.session_id, phase) for phase in ("day", "month", "year")]
    for recording, ref in zip(recordings, stored, strict=True):
        assert bids.read_recording(settings.raw_repo / ref.path) == recording
    # The label is in labels/, apart from the EEG: participants.tsv has no birthdate.
    assert read_label(committed_labels(repo)[label.session_id]) == label
    assert bids.read_labels(settings.raw_repo / "bids") == {}
    assert "1994" not in (settings.raw_repo / "bids" / "participants.tsv").read_text()
    # Every committed object reached the remote before the spool was cleared.
    manifest = repo.manifest("bids") | repo.manifest("labels")
    assert manifest and all(remote_has(settings.raw_remote, md5) for md5 in manifest.values())
    assert repo.pushed_revision() == repo.head()


def test_a_second_run_with_an_empty_spool_changes_nothing(settings):
    spool_recording(settings, tiny_recording(3))
    ingest_once(settings)
    head = raw_repository(settings.raw_repo).head()
    report = ingest_once(settings)
    assert report.handled == 0 and report.commit is None
    assert raw_repository(settings.raw_repo).head() == head


def test_same_content_again_is_dropped_and_different_content_is_quarantined(settings):
    recording = tiny_recording(4)
    spool_recording(settings, recording)
    ingest_once(settings)
    head = raw_repository(settings.raw_repo).head()

    spool_recording(settings, recording)  # a retry the receiver let through
    report = ingest_once(settings)
    assert report.duplicates == [f"{recording.session_id}_day"]
    assert report.commit is None and spool_files(settings) == []
    assert raw_repository(settings.raw_repo).head() == head

    other = tiny_recording(5, session_id=recording.session_id)  # same key, other samples
    spool_recording(settings, other)
    report = ingest_once(settings)
    assert report.recordings == [] and len(report.quarantined) == 1
    assert "different recording" in report.quarantined[0][1]
    assert spool_files(settings) == []
    [ref] = committed_recordings(raw_repository(settings.raw_repo))
    assert bids.read_recording(settings.raw_repo / ref.path) == recording


def test_bad_files_go_to_quarantine_with_a_reason_and_ingest_carries_on(settings):
    good = tiny_recording(10, subject="S01")
    spool_recording(settings, good)
    payload = encode_recording(tiny_recording(11))
    truncated = tiny_recording(12)
    spool_bytes(settings, spool_name(truncated), encode_recording(truncated)[:-100])
    bad_subject = tiny_recording(13)  # valid bytes, but a subject that is no BIDS label
    spool_bytes(settings, spool_name(bad_subject),
                _reencode_with(encode_recording(bad_subject), b'"subject":"S01"',
                               b'"subject":"S_1"'))
    # A file named for one session holding another.
    spool_bytes(settings, f"{uuid.UUID(int=999)}_day.brainrec", payload)
    spool_bytes(settings, "notes.txt", b"not a recording")
    # Labels: wrong schema, implausible date, for the malformed session, wrong subject.
    spool_bytes(settings, f"{uuid.UUID(int=77)}_label.json", b'{"subject": "S01"}')
    spool_bytes(settings, f"{uuid.UUID(int=78)}_label.json", json.dumps({
        "session_id": str(uuid.UUID(int=78)), "subject": "S01",
        "birthdate": "2999-01-01"}).encode())
    spool_bytes(settings, f"{bad_subject.session_id}_label.json", json.dumps({
        "session_id": str(bad_subject.session_id), "subject": "S01",
        "birthdate": "1990-01-01"}).encode())
    spool_bytes(settings, f"{good.session_id}_label.json", json.dumps({
        "session_id": str(good.session_id), "subject": "S02",
        "birthdate": "1990-01-01"}).encode())

    report = ingest_once(settings)

    assert report.recordings == [f"{good.session_id}_day"]
    reasons = dict(report.quarantined)
    assert len(reasons) == 8 and spool_files(settings) == []
    assert "truncated" in reasons[spool_name(truncated)]
    assert "subject" in reasons[spool_name(bad_subject)]
    assert "file name says session" in reasons[f"{uuid.UUID(int=999)}_day.brainrec"]
    assert "unexpected file name" in reasons["notes.txt"]
    assert "birthdate" in reasons[f"{uuid.UUID(int=77)}_label.json"]
    assert "malformed session" in reasons[f"{bad_subject.session_id}_label.json"]
    assert "names subject 'S02'" in reasons[f"{good.session_id}_label.json"]
    # The reason of a bad birthdate describes it and never quotes it.
    assert "2999" not in reasons[f"{uuid.UUID(int=78)}_label.json"]
    # Each file sits in quarantine next to its reason file.
    listed = {q.original: q for q in list_quarantine(settings.quarantine)}
    assert set(listed) == set(reasons)
    for item in listed.values():
        assert (settings.quarantine / item.name).is_file()
        assert json.loads((settings.quarantine / (item.name + ".reason.json")).read_text())[
            "reason"] == item.reason
    # Nothing bad entered the repository.
    repo = raw_repository(settings.raw_repo)
    assert [r.session_id for r in committed_recordings(repo)] == [good.session_id]
    assert committed_labels(repo) == {}


def test_batches_are_capped_and_drain_takes_them_all(settings):
    recordings = [tiny_recording(20 + i) for i in range(5)]
    for recording in recordings:
        spool_recording(settings, recording)
    before = commit_count(settings.raw_repo)
    first = ingest_once(settings, max_files=2)
    assert len(first.recordings) == 2 and first.remaining == 3
    assert len(spool_files(settings)) == 3
    batched = make_settings(settings.spool_dir.parent, batch_max_files=2)
    reports = drain(batched)
    assert [len(r.recordings) for r in reports] == [2, 1]
    assert commit_count(settings.raw_repo) == before + 3
    assert len(committed_recordings(raw_repository(settings.raw_repo))) == 5


def test_a_label_before_its_recordings_is_kept_and_counted_once_they_come(settings):
    recordings, label = tiny_session(2)
    spool_label(settings, label)
    assert ingest_once(settings).labels == [f"{label.session_id}_label"]
    status = raw_status(settings)
    assert status.labels == 1 and status.labelled_sessions == 0
    for recording in recordings:
        spool_recording(settings, recording)
    ingest_once(settings)
    status = raw_status(settings)
    assert (status.sessions, status.labelled_sessions) == (1, 1)
    assert status.recordings == {"day": 1, "month": 1, "year": 1}


def test_status_reports_spool_quarantine_and_revision(settings):
    spool_recording(settings, tiny_recording(30))
    spool_bytes(settings, "junk.bin", b"x")
    status = raw_status(settings)
    assert status.spool == {"recordings": 1, "labels": 0, "other": 1}
    assert status.repository.initialised and status.repository.pushed
    ingest_once(settings)
    status = raw_status(settings)
    assert status.spool == {"recordings": 0, "labels": 0, "other": 0}
    assert [q.original for q in status.quarantine] == ["junk.bin"]
    assert status.recordings["day"] == 1 and status.sessions == 1
    assert status.repository.revision == raw_repository(settings.raw_repo).head()
    assert status.repository.remote == str(settings.raw_remote)


def test_recovers_from_what_a_killed_writer_leaves(settings):
    recording = tiny_recording(40)
    spool_recording(settings, recording)
    ingest_once(settings)
    root = settings.raw_repo
    # What a SIGKILL at various moments can leave behind:
    (root / ".git" / "index.lock").write_text("")
    staging = root / "bids" / ".brain-staging-x1" / "bids"
    staging.mkdir(parents=True)
    (staging / "half.eeg").write_bytes(b"\0" * 10)
    partial = tiny_recording(41, subject="S09")
    vhdr = bids.write_recording(partial, root / "bids")
    vhdr.unlink()  # moved in last: a kill before it leaves the other files only
    (root / "bids.dvc").write_text("outs:\n- md5: 12")  # truncated in place
    (root / ".dvc" / "tmp" / "rwlock").write_text('{"read": {')
    newer = tiny_recording(42)
    spool_recording(settings, newer)

    report = ingest_once(settings)

    assert report.recordings == [f"{newer.session_id}_day"] and report.pushed
    stored = committed_recordings(raw_repository(root))
    assert {r.session_id for r in stored} == {recording.session_id, newer.session_id}
    assert not (root / ".git" / "index.lock").exists()
    assert not (root / "bids" / ".brain-staging-x1").exists()
    assert not list((root / "bids").glob("sub-S09/**/*.eeg"))
    assert raw_repository(root).manifest("bids").keys() == {
        p.relative_to(root / "bids").as_posix()
        for p in (root / "bids").rglob("*") if p.is_file()}
    assert not raw_repository(root).is_dirty()


def test_files_written_by_a_run_killed_before_its_commit_are_committed_then(settings):
    recordings, label = tiny_session(4)
    # The killed run wrote the BIDS files and the label but did not commit.
    bids.write_recording(recordings[0], settings.raw_repo / "bids")
    write_label(settings.raw_repo / "labels", label)
    spool_recording(settings, recordings[0])
    spool_label(settings, label)

    report = ingest_once(settings)

    assert sorted(report.duplicates) == sorted([f"{label.session_id}_day",
                                                f"{label.session_id}_label"])
    assert report.commit is not None and spool_files(settings) == []
    repo = raw_repository(settings.raw_repo)
    assert [r.key for r in committed_recordings(repo)] == [f"{label.session_id}/day"]
    assert set(committed_labels(repo)) == {label.session_id}
    assert repo.pushed_revision() == repo.head()


def test_a_failed_push_keeps_the_spool_until_a_later_push_succeeds(tmp_path):
    blocker = tmp_path / "not-a-folder"
    settings = make_settings(tmp_path, raw_remote=str(blocker / "raw"))
    from brain_data.raw import init_raw_repo

    init_raw_repo(settings.raw_repo, settings.raw_remote)
    import shutil

    shutil.rmtree(blocker)
    blocker.write_text("a file where the remote folder should be")
    recording = tiny_recording(50)
    spool_recording(settings, recording)
    with pytest.raises(DependencyError, match="dvc push"):
        ingest_once(settings)
    assert spool_files(settings) == [spool_name(recording)]  # kept: not safe elsewhere yet
    repo = raw_repository(settings.raw_repo)
    assert repo.pushed_revision() != repo.head()

    blocker.unlink()
    report = ingest_once(settings)  # the commit exists: only the push is redone
    assert report.duplicates == [f"{recording.session_id}_day"] and report.pushed
    assert report.commit is None and spool_files(settings) == []
    assert all(remote_has(blocker / "raw", md5) for md5 in repo.manifest("bids").values())


def test_a_second_writer_waits_for_the_lock_instead_of_failing(settings):
    repo = raw_repository(settings.raw_repo)
    spool_recording(settings, tiny_recording(60))
    released = threading.Event()

    def hold() -> None:
        with repo.writer_lock():
            time.sleep(1.0)
        released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    report = ingest_once(settings)
    holder.join()
    assert released.is_set() and len(report.recordings) == 1

    quick = make_settings(settings.spool_dir.parent, lock_timeout_s=0.2)
    with repo.writer_lock(), pytest.raises(LockTimeoutError, match="writer lock"):
        ingest_once(quick)


def test_ingest_needs_an_initialised_repository(tmp_path):
    with pytest.raises(NotFoundError, match="brain data init"):
        ingest_once(make_settings(tmp_path))


def test_a_label_is_never_replaced(settings):
    recordings, label = tiny_session(3)
    spool_recording(settings, recordings[0])
    spool_label(settings, label)
    ingest_once(settings)
    other = label.model_copy(update={"birthdate": date(1991, 2, 3)})
    spool_label(settings, other)
    report = ingest_once(settings)
    assert [name for name, _ in report.quarantined] == [f"{label.session_id}_label.json"]
    stored = committed_labels(raw_repository(settings.raw_repo))[label.session_id]
    assert read_label(stored) == label
