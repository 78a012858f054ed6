"""Ingest, push, then a fresh `git clone` + `dvc pull` gives the same bytes.

Once with a local folder as the DVC remote, once with S3 (moto's server, endpoint URL
in the remote's config, dummy credentials only in this test process's environment).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from brain_data.raw import committed_labels, committed_recordings, ingest_once, raw_repository
from brain_data.tests.helpers import (
    spool_label,
    spool_recording,
    tiny_session,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _clone_and_pull(repo: Path, into: Path) -> Path:
    """What a person does: git clone, then dvc pull (the real commands)."""
    subprocess.run(["git", "clone", "-q", str(repo), str(into)], check=True)
    dvc = Path(sys.executable).with_name("dvc")
    done = subprocess.run([str(dvc), "pull", "-q"], cwd=into, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert done.returncode == 0, done.stderr
    return into


def test_clone_and_pull_gives_the_same_bytes(remote_settings, tmp_path):
    settings = remote_settings
    sessions = [tiny_session(i, subject=f"S{i}") for i in (1, 2)]
    for recordings, label in sessions:
        for recording in recordings:
            spool_recording(settings, recording)
        spool_label(settings, label)
    report = ingest_once(settings)
    assert len(report.recordings) == 6 and report.pushed

    clone = _clone_and_pull(settings.raw_repo, tmp_path / "clone")

    for folder in ("bids", "labels"):
        original = _files(settings.raw_repo / folder)
        assert original and _files(clone / folder) == original
    cloned = raw_repository(clone)
    assert committed_recordings(cloned) == committed_recordings(settings.raw_repo)
    assert set(committed_labels(cloned)) == {label.session_id for _, label in sessions}
    # Credentials never reach the repository; the remote's URL and endpoint do.
    committed = (clone / ".dvc" / "config").read_text()
    assert "brain-test-secret-key" not in committed and "brain-test-key-id" not in committed
    assert str(settings.raw_remote) in committed
    if settings.s3_endpoint_url:
        assert settings.s3_endpoint_url in committed
