"""No secret in the repository or in its history (`make lint`).

detect-secrets scans every file git tracks and every diff of every commit. What it finds
is compared with ``.secrets.baseline``: the audited strings that look like secrets and are
not (test-only passwords, variable names such as ``postgres_password:``). Anything else
fails, naming the file and line, or the commit's file for a finding only in the history.

A new finding that is not a secret (a test password, say) is added on purpose, after
looking at it::

    python infrastructure/scan_secrets.py --update   # then read `git diff .secrets.baseline`

A real secret that reached the history must be revoked: rewriting history does not
un-publish it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline
from detect_secrets.settings import default_settings

ROOT = Path(__file__).resolve().parents[1]
BASELINE_NAME = ".secrets.baseline"
#: Files that hold hashes by design (the lock's package digests) and the baseline itself.
IGNORED = (".secrets.baseline", "uv.lock")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                          check=True).stdout


def _is_git_checkout(root: Path) -> bool:
    return subprocess.run(["git", "rev-parse", "--git-dir"], cwd=root,
                          capture_output=True).returncode == 0


def _every_file(root: Path) -> list[str]:
    """Without git: every file below ``root`` but hidden folders (.venv, .tools, ...),
    caches and the outputs of demos and benchmarks."""
    skip = {"__pycache__", "demo-output", "artifacts", "node_modules"}
    return [path.relative_to(root).as_posix() for path in root.rglob("*")
            if path.is_file() and path.name not in IGNORED
            and not any(part.startswith(".") or part in skip
                        for part in path.relative_to(root).parent.parts)]


def scan(root: Path) -> tuple[SecretsCollection, SecretsCollection]:
    """(findings in the files git tracks under ``root``, findings in its history's diffs).

    Outside a git checkout (an exported tree) every file is scanned and there is no
    history to read.
    """
    if _is_git_checkout(root):
        files = [name for name in _git(root, "ls-files", "-z").split("\0")
                 if name and name not in IGNORED and (root / name).is_file()]
        history = _git(root, "log", "-p", "--all", "--format=", "--no-color",
                       "--no-ext-diff", "--", ".", *(f":!{name}" for name in IGNORED))
    else:
        print(f"{root} is not a git checkout: scanning its files, no history",
              file=sys.stderr)
        files, history = _every_file(root), ""
    with default_settings() as settings:
        tracked, past = SecretsCollection(root=str(root)), SecretsCollection()
        tracked.scan_files(*files, num_processors=1)
        # A file of the history need not exist any more: keep its diffs.
        settings.disable_filters("detect_secrets.filters.common.is_invalid_file")
        past.scan_diff(history)
    return tracked, past


def _hashes(secrets: SecretsCollection) -> set[str]:
    return {secret.secret_hash for _, secret in secrets}


def _known(path: Path) -> set[str]:
    """The audited strings' hashes (none when there is no baseline yet)."""
    if not path.exists():
        return set()
    return _hashes(SecretsCollection.load_from_baseline(baseline.load_from_file(str(path))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true",
                        help="add today's findings to the baseline (after auditing them)")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the git repository to scan (default: this one)")
    args = parser.parse_args(argv)
    baseline_path = args.root / BASELINE_NAME
    tracked, past = scan(args.root)
    if args.update:
        for filename, secret in past:
            tracked.data[filename].add(secret)
        with default_settings():
            baseline.save_to_file(tracked, str(baseline_path))
        print(f"wrote {BASELINE_NAME} with {len(_hashes(tracked))} audited strings")
        return 0
    known = _known(baseline_path)
    new = [(where, filename, secret) for where, found in (("file", tracked), ("history", past))
           for filename, secret in found if secret.secret_hash not in known]
    for where, filename, secret in new:
        line = f":{secret.line_number}" if where == "file" else " (in the history)"
        print(f"possible secret: {filename}{line}: {secret.type}", file=sys.stderr)
    if new:
        print(f"{len(new)} possible secret(s) not in {BASELINE_NAME}: remove them (and revoke "
              "any real one), or audit and run with --update", file=sys.stderr)
        return 1
    print(f"no secrets: {len(list(tracked))} + {len(list(past))} findings, all audited in "
          f"{BASELINE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
