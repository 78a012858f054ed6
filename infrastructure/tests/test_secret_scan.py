"""The secret scan of `make lint` (which runs it on this repository and its history):
quiet on a clean repository, loud on a planted secret, also one removed since."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCANNER = REPO / "infrastructure" / "scan_secrets.py"
PLANTED = 'db_password = "Zq8mK2vRpLx9Rt4wQ"\n'


def _scan(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCANNER), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=300)


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                   cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q")
    (tmp_path / "app.py").write_text("print('hello')\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "clean")
    return tmp_path


def test_a_clean_repository_passes(repo):
    result = _scan(repo)
    assert result.returncode == 0, result.stderr


def test_a_secret_in_a_file_fails_naming_it(repo):
    (repo / "settings.py").write_text(PLANTED)
    _git(repo, "add", ".")
    result = _scan(repo)
    assert result.returncode == 1
    assert "settings.py:1: Secret Keyword" in result.stderr
    assert "Zq8mK2v" not in result.stderr + result.stdout  # the secret itself is not echoed


def test_a_secret_removed_later_is_still_found_in_the_history(repo):
    (repo / "settings.py").write_text(PLANTED)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "oops")
    (repo / "settings.py").write_text("db_password = read_secret('DB_PASSWORD')\n")
    _git(repo, "commit", "-qam", "remove it")
    result = _scan(repo)
    assert result.returncode == 1
    assert "settings.py (in the history)" in result.stderr


def test_an_audited_finding_passes_after_update(repo):
    (repo / "test_app.py").write_text(PLANTED)
    _git(repo, "add", ".")
    assert _scan(repo).returncode == 1
    assert _scan(repo, "--update").returncode == 0
    assert _scan(repo).returncode == 0



def test_an_exported_tree_without_git_is_scanned_file_by_file(tmp_path):
    (tmp_path / "app.py").write_text("print('hello')\n")
    assert _scan(tmp_path).returncode == 0
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "settings.py").write_text(PLANTED)
    result = _scan(tmp_path)
    assert result.returncode == 1
    assert "pkg/settings.py:1: Secret Keyword" in result.stderr
