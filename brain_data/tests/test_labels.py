"""Labels are encrypted at rest: nothing on disk, in DVC's cache or on the remote shows a
birthdate; only a process holding the key reads it, and only for the right session."""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from datetime import date
from pathlib import Path
from uuid import UUID

import pytest

from brain_core.errors import ConflictError, InvalidInputError
from brain_core.models import Label
from brain_data.label_keys import (
    LabelKeyError,
    add_key,
    create_key_file,
    load_label_keys,
)
from brain_data.labels import label_path, read_label, write_label
from brain_data.raw import ingest_once, raw_repository, reencrypt_labels
from brain_data.tests.helpers import spool_files, spool_label, spool_recording, tiny_session

BIRTHDATE = date(1979, 11, 23)
FORMS = ["1979-11-23", "19791123", "23.11.1979", "1979/11/23", "23/11/1979", "11/23/1979",
         "1979", "-11-23"]
LABEL = Label(session_id=UUID(int=7), subject="S07", birthdate=BIRTHDATE)


@pytest.fixture
def keyfile(tmp_path, monkeypatch):
    """A key file of its own for this test (the session's key stays untouched)."""
    path = tmp_path / "keys" / "label_key"
    create_key_file(path)
    monkeypatch.setenv("BRAIN_LABEL_KEY_FILE", str(path))
    return path


def _no_birthdate(content: bytes, where: str) -> None:
    found = [form for form in FORMS if form.encode() in content]
    assert not found, f"{where} shows {found}"


def test_round_trip_and_nothing_readable_on_disk(tmp_path, keyfile):
    path = write_label(tmp_path, LABEL)
    assert read_label(path) == LABEL
    envelope = json.loads(path.read_bytes())
    assert envelope["format"] == "brain-label" and envelope["alg"] == "AES-256-GCM"
    assert envelope["kid"] == load_label_keys()[0].key_id
    _no_birthdate(path.read_bytes(), path.name)
    assert "S07" not in path.read_text()


def test_the_same_label_again_leaves_the_file_alone(tmp_path, keyfile):
    path = write_label(tmp_path, LABEL)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    write_label(tmp_path, LABEL)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_wrong_key_tampered_or_moved_files_do_not_decrypt(tmp_path, keyfile, monkeypatch):
    path = write_label(tmp_path, LABEL)
    moved = label_path(tmp_path, UUID(int=8))
    moved.write_bytes(path.read_bytes())
    with pytest.raises(InvalidInputError, match="does not decrypt"):
        read_label(moved)
    envelope = json.loads(path.read_bytes())
    envelope["session_id"] = str(UUID(int=8))
    moved.write_text(json.dumps(envelope))
    with pytest.raises(InvalidInputError, match="does not decrypt"):
        read_label(moved)
    envelope = json.loads(path.read_bytes())
    flipped = bytearray(base64.b64decode(envelope["ciphertext"]))
    flipped[3] ^= 1
    envelope["ciphertext"] = base64.b64encode(bytes(flipped)).decode()
    path.write_text(json.dumps(envelope))
    with pytest.raises(InvalidInputError, match="does not decrypt"):
        read_label(path)
    good = write_label(tmp_path / "other", LABEL)
    other = tmp_path / "other-key"
    create_key_file(other)
    monkeypatch.setenv("BRAIN_LABEL_KEY_FILE", str(other))
    with pytest.raises(LabelKeyError, match="does not hold"):
        read_label(good)


def test_without_a_key_nothing_is_written_and_the_spool_keeps_the_label(settings,
                                                                        monkeypatch):
    recordings, label = tiny_session(1)
    for recording in recordings:
        spool_recording(settings, recording)
    spool_label(settings, label)
    monkeypatch.delenv("BRAIN_LABEL_KEY_FILE")
    with pytest.raises(LabelKeyError, match="BRAIN_LABEL_KEY_FILE"):
        write_label(settings.raw_repo / "labels", label)
    with pytest.raises(LabelKeyError, match="BRAIN_LABEL_KEY_FILE"):
        ingest_once(settings)
    assert f"{label.session_id}_label.json" in spool_files(settings)
    assert not (settings.raw_repo / "labels" / f"{label.session_id}.json").exists()


@pytest.mark.integration
def test_ingested_labels_show_no_birthdate_in_tree_cache_or_remote(settings):
    recordings, label = tiny_session(1, birthdate=BIRTHDATE)
    for recording in recordings:
        spool_recording(settings, recording)
    spool_label(settings, label)
    assert ingest_once(settings).pushed
    repo = raw_repository(settings.raw_repo)
    md5 = repo.manifest("labels")[f"{label.session_id}.json"]
    places = {"tree": settings.raw_repo / "labels" / f"{label.session_id}.json",
              "cache": repo.object_path(md5),
              "remote": Path(settings.raw_remote) / "files" / "md5" / md5[:2] / md5[2:]}
    for where, path in places.items():
        _no_birthdate(path.read_bytes(), where)
    assert read_label(places["remote"], label.session_id) == label


@pytest.mark.integration
def test_rotation_reencrypts_every_label_in_one_commit(settings, keyfile):
    recordings, label = tiny_session(1, birthdate=BIRTHDATE)
    for recording in recordings:
        spool_recording(settings, recording)
    spool_label(settings, label)
    ingest_once(settings)
    old_id = load_label_keys()[0].key_id
    new_id = add_key(keyfile)
    assert [k.key_id for k in load_label_keys()] == [new_id, old_id]
    assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
    path = settings.raw_repo / "labels" / f"{label.session_id}.json"
    assert read_label(path) == label  # the old key still decrypts
    done = reencrypt_labels(settings)
    assert (done.rewritten, done.labels) == (1, 1) and done.commit and done.pushed
    assert json.loads(path.read_bytes())["kid"] == new_id
    assert reencrypt_labels(settings).commit is None  # nothing left to do


def test_keygen_makes_a_private_file_and_never_overwrites_it(tmp_path):
    path = tmp_path / "secrets" / "label_key"
    brain = str(Path(sys.executable).with_name("brain"))
    done = subprocess.run([brain, "data", "keygen", str(path)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_bytes()
    assert len(load_label_keys({"BRAIN_LABEL_KEY_FILE": str(path)})) == 1
    again = subprocess.run([brain, "data", "keygen", str(path)], capture_output=True,
                           text=True)
    assert again.returncode == 2 and "never overwritten" in again.stderr
    assert path.read_bytes() == key
    with pytest.raises(ConflictError):
        create_key_file(path)


def test_a_bad_key_file_is_a_clear_error_that_shows_no_key(tmp_path):
    path = tmp_path / "label_key"
    path.write_text("not-a-base64-key-of-32-bytes\n")
    with pytest.raises(LabelKeyError, match="Line 1 .* not a base64 key") as err:
        load_label_keys({"BRAIN_LABEL_KEY_FILE": str(path)})
    assert "not-a-base64" not in str(err.value)
    with pytest.raises(LabelKeyError, match="No label key"):
        load_label_keys({})
