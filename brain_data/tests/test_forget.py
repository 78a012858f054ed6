"""`brain forget SUBJECT` leaves no trace of the subject, and everyone else intact.

Three subjects go through the real ingest path (spool -> raw repository -> DVC remote),
the feature store gets a file per recording through its writer, a file of the subject
waits in the spool and another sits in the quarantine. After `brain forget` (the real
CLI, as a child process) the subject's pseudonym, session ids, birthdate and file bytes
are found nowhere: not in the working trees, the files git tracks at HEAD, DVC's caches
and site cache, the remotes (a local folder, and S3 on moto's server), the spool or the
report. A fresh clone + `dvc pull` still gives the other subjects' data.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from brain_core.models import Label
from brain_data.features import (
    WATERMARK_FILE,
    Watermark,
    WatermarkEntry,
    commit_features,
    feature_repository,
)
from brain_data.forget import NothingToForgetError, forget_subject
from brain_data.labels import read_label
from brain_data.raw import committed_labels, committed_recordings, ingest_once, raw_repository
from brain_data.tests.helpers import (
    spool_label,
    spool_recording,
    tiny_recording,
    tiny_session,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Long pseudonyms, so that a match in random EEG bytes cannot happen by chance.
GONE, KEPT = "ForgetMeSubject", ("KeepFirstSubject", "KeepSecondSubject")
BIRTHDATE = date(1987, 3, 9)
BIRTHDATE_FORMS = ["1987-03-09", "19870309", "09.03.1987", "1987/03/09", "09/03/1987",
                   "03/09/1987"]
BRAIN = str(Path(sys.executable).with_name("brain"))
DVC = str(Path(sys.executable).with_name("dvc"))


@pytest.fixture
def stores(remote_settings):
    """Settings with remotes a folder or moto's S3, and where to reach the bucket."""
    remote = remote_settings.raw_remote
    if not str(remote).startswith("s3://"):
        return remote_settings, {}
    return remote_settings, {"bucket": str(remote)[len("s3://"):].split("/")[0],
                             "endpoint": remote_settings.s3_endpoint_url}


def _ingest(settings, sessions) -> None:
    for recordings, label in sessions:
        for recording in recordings:
            spool_recording(settings, recording)
        spool_label(settings, label)
    report = ingest_once(settings)
    assert report.pushed and not report.quarantined


def _featurize(settings) -> None:
    """A feature file per raw recording (bytes naming subject and session), committed."""
    raw = raw_repository(settings.raw_repo)
    labelled = set(committed_labels(raw))
    mark, files = Watermark("1", {"l_freq": 0.5}), {}
    for rec in committed_recordings(raw):
        path = (f"features/sub-{rec.subject}/ses-{rec.session_id.hex}/sub-{rec.subject}_"
                f"ses-{rec.session_id.hex}_task-{rec.phase}_epochs.parquet")
        files[path] = f"features of {rec.subject} {rec.session_id} {rec.phase}".encode()
        mark.recordings[rec.key] = WatermarkEntry(
            subject=rec.subject, content=rec.content,
            labelled=rec.session_id in labelled, path=path, n_epochs=9)
    files[WATERMARK_FILE] = mark.to_bytes()
    assert commit_features(settings.feature_repo, files, message="features\n").pushed


def _remote_objects(env, url: str) -> dict[str, bytes]:
    """Every object of a DVC remote (a folder or s3://bucket/prefix): key -> bytes."""
    if not env:
        root = Path(url)
        return {p.relative_to(root).as_posix(): p.read_bytes()
                for p in root.rglob("*") if p.is_file()}
    import boto3

    s3 = boto3.client("s3", endpoint_url=env["endpoint"], region_name="us-east-1")
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=env["bucket"],
                                                             Prefix=url.split("/")[-1]):
        for item in page.get("Contents", []):
            found[item["Key"]] = s3.get_object(Bucket=env["bucket"],
                                               Key=item["Key"])["Body"].read()
    return found


def _tree(root: Path, *, skip_git: bool = True) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and not (skip_git and ".git" in p.relative_to(root).parts)}


def _tracked_at_head(repo: Path) -> dict[str, bytes]:
    names = subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True,
                           text=True, check=True).stdout.split()
    return {name: subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{name}"],
                                 capture_output=True, check=True).stdout for name in names}


def _site_cache(repo: Path) -> dict[str, bytes]:
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        root = Path(dvc.site_cache_dir)
    return _tree(root) if root.exists() else {}


def _everything(settings, env) -> dict[str, bytes]:
    """Every place the stores keep bytes, by a name saying where."""
    places: dict[str, bytes] = {}
    for name, repo, remote in (("raw", settings.raw_repo, settings.raw_remote),
                               ("features", settings.feature_repo, settings.feature_remote)):
        for where, files in (("tree", _tree(repo)), ("head", _tracked_at_head(repo)),
                             ("site-cache", _site_cache(repo)),
                             ("remote", _remote_objects(env, remote))):
            places.update({f"{name} {where} {k}": v for k, v in files.items()})
    for folder in (settings.incoming, settings.quarantine):
        places.update({f"spool {k}": v for k, v in _tree(folder).items()})
    return places


def _clone_and_pull(repo: Path, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    done = subprocess.run([DVC, "pull", "-q"], cwd=into, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert done.returncode == 0, done.stderr
    return into


def _forget_cli(settings, subject: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRAIN_DATA_SPOOL_DIR": str(settings.spool_dir),
           "BRAIN_DATA_RAW_REPO": str(settings.raw_repo),
           "BRAIN_DATA_FEATURE_REPO": str(settings.feature_repo),
           "BRAIN_DATA_FORGET_REPORT_DIR": str(settings.spool_dir.parent / "reports")}
    return subprocess.run([BRAIN, "forget", subject], capture_output=True, text=True,
                          env=env, timeout=300)


def test_forget_leaves_no_trace_of_the_subject(stores, tmp_path):
    settings, env = stores
    keep_a, gone_1 = tiny_session(1, KEPT[0]), tiny_session(2, GONE, BIRTHDATE)
    _ingest(settings, [keep_a, gone_1])  # one commit holds both: a shared .dir manifest
    gone_2, keep_b = tiny_session(3, GONE, BIRTHDATE), tiny_session(4, KEPT[1])
    _ingest(settings, [gone_2, keep_b])
    _featurize(settings)
    # Waiting in the spool: a new phase of the subject; in the quarantine: a conflicting
    # label of one of its sessions (refused by the real ingest).
    late = tiny_recording(99, subject=GONE, phase="day")
    spool_recording(settings, late)
    spool_label(settings, Label(session_id=gone_1[1].session_id, subject=GONE,
                                birthdate=date(1987, 3, 10)))
    report = ingest_once(settings)
    assert len(report.quarantined) == 1 and report.recordings == [f"{late.session_id}_day"]
    spool_recording(settings, tiny_recording(98, subject=GONE, phase="month"))

    gone_sessions = [gone_1[1].session_id, gone_2[1].session_id, late.session_id]
    waiting = tiny_recording(98, subject=GONE, phase="month").session_id
    raw_before = _tree(settings.raw_repo)
    gone_files = {k: v for k, v in raw_before.items()
                  if f"sub-{GONE}/" in k or any(f"{s}.json" in k for s in gone_sessions)}
    other_bytes = {hashlib.md5(v).hexdigest() for k, v in raw_before.items()
                   if k.split("/")[0] in ("bids", "labels") and k not in gone_files}
    # Files identical to another subject's (channels.tsv, ...) are that subject's too.
    gone_bytes = {k: v for k, v in gone_files.items()
                  if hashlib.md5(v).hexdigest() not in other_bytes}
    assert any(k.endswith(".eeg") for k in gone_bytes)
    assert sum(k.startswith("labels/") for k in gone_bytes) == 2

    before = _everything(settings, env)  # the search finds the subject where it is
    assert any(GONE.encode() in v for k, v in before.items() if " remote " in k)
    assert any(k.startswith("raw remote") and v == gone_bytes[eeg] for k, v in before.items()
               for eeg in gone_bytes if eeg.endswith(".eeg"))

    done = _forget_cli(settings, GONE)
    assert done.returncode == 0, done.stderr
    report_path = Path(done.stdout.strip().splitlines()[-1].removeprefix("Report: "))
    removed = json.loads(report_path.read_text())

    needles = [GONE.encode(), *(form.encode() for form in BIRTHDATE_FORMS)]
    for session_id in [*gone_sessions, waiting]:
        needles += [str(session_id).encode(), session_id.hex.encode()]
    places = _everything(settings, env)
    for where, content in places.items():
        found = [n for n in needles if n in content]
        assert not found, f"{where} holds {found}"
        assert not any(v == content for v in gone_bytes.values()), f"{where} is a copy"
    assert not any(v in content for v in gone_bytes.values() if len(v) > 64
                   for content in places.values())
    for form in BIRTHDATE_FORMS:
        assert form not in report_path.read_text() and form not in done.stdout

    # The report says what went.
    assert removed["subject"] == GONE
    assert sorted(removed["sessions"]) == sorted(str(s) for s in gone_sessions)
    assert {f for f in removed["raw"]["files"] if not f.startswith("bids/participants")} == \
        set(gone_files)
    assert len(removed["spool_files"]) == 1 and len(removed["quarantine_files"]) == 1
    assert removed["raw"]["commit"] and removed["features"]["commit"]
    locations = {p["location"].split()[0]: p["deleted"] for p in removed["raw"]["objects"]}
    assert locations["cache"] and locations["remote"]
    assert removed["raw"]["unrestorable_revisions"]
    assert removed["watermark_entries"] and removed["trained_on_revisions"]
    assert "brain_train" in removed["retrain"]

    # Everyone else is intact: a fresh clone at HEAD pulls and holds their data.
    raw_clone = _clone_and_pull(settings.raw_repo, tmp_path / "raw-clone")
    kept_before = {k: v for k, v in raw_before.items()
                   if (k.startswith("bids/") or k.startswith("labels/"))
                   and k not in gone_files and k != "bids/participants.tsv"}
    raw_after = _tree(raw_clone)
    assert {k: raw_after.get(k) for k in kept_before} == kept_before
    assert {r.subject for r in committed_recordings(raw_clone)} == set(KEPT)
    labels = committed_labels(raw_repository(raw_clone))
    assert {read_label(p, s) for s, p in labels.items()} == {keep_a[1], keep_b[1]}
    feature_clone = _clone_and_pull(settings.feature_repo, tmp_path / "feature-clone")
    assert {p.parent.parent.name for p in (feature_clone / "features").rglob("*.parquet")} \
        == {f"sub-{s}" for s in KEPT}

    # A second time there is nothing to do: a clear message, exit code 2.
    again = _forget_cli(settings, GONE)
    assert again.returncode == 2 and "Nothing to forget" in again.stderr
    assert feature_repository(settings.feature_repo).head() == removed["features"]["commit"]


def test_forget_refuses_a_subject_that_is_not_a_pseudonym(settings):
    with pytest.raises(Exception, match="letters and digits only"):
        forget_subject(settings, "../S01")
    with pytest.raises(NothingToForgetError, match="Nothing to forget"):
        forget_subject(settings, "NeverSeen")
