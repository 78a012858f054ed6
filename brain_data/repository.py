"""A git repository whose data folders are versioned by DVC, with one writer at a time.

Both of BRAIN's data stores are such repositories::

    <repo>/
        .git/  .dvc/  .dvcignore  .gitignore  README.md
        <data_dir>/        the data, tracked by DVC (``<data_dir>.dvc`` is in git)
        <git files>        small files versioned by git itself (e.g. watermark.json)

Writers follow one protocol (:meth:`VersionedRepo.writer_lock`, then
:meth:`~VersionedRepo.recover`, write files atomically, :meth:`~VersionedRepo.commit`,
:meth:`~VersionedRepo.push`):

- a file lock (``.git/brain-writer.lock``) makes writers of one repository take
  turns; it *waits* (forever by default) instead of failing, and DVC's own lock is taken
  with DVC's wait-for-lock mode, so a second writer, or a person running ``dvc``, only
  delays the next one;
- a writer killed at any moment leaves state that :meth:`~VersionedRepo.recover` turns
  back into a usable repository: stale git lock files, a truncated ``.dvc`` file or
  DVC's corrupt ``rwlock`` file, hidden temporary files in the data folders;
- :meth:`~VersionedRepo.push` records the last revision whose data reached the DVC
  remote (``.dvc/tmp/brain-pushed``), so a caller can wait for it before it forgets the
  source of that data.

Readers take no lock: :meth:`~VersionedRepo.manifest` reads a committed revision's file
list from git and DVC's cache, whose objects never change once written.

DVC runs in-process (``dvc.repo.Repo``): a ``dvc`` command costs one to two seconds of
start-up per call, the in-process API about 0.2 s once imported. The remote is the
repository's default DVC remote ``origin``: a local folder, or S3 (AWS, MinIO) with an
endpoint URL; credentials come only from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, or a profile) and are never written to the repository.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import logging
import os
import re
import subprocess
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from brain_core import files
from brain_core.errors import BrainError, DependencyError, InvalidInputError, NotFoundError
from brain_core.files import fsync_dir  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

#: The DVC remote every BRAIN repository pushes to.
REMOTE_NAME = "origin"
#: Author of the commits BRAIN's writers make.
GIT_AUTHOR = ("BRAIN data", "brain-data@localhost")
#: Prefix of the temporary files BRAIN writes next to their final name.
TMP_PREFIX = files.TMP_PREFIX
#: Patterns DVC never tracks: temporary files of BRAIN's writers.
DVCIGNORE = ("# Temporary files of BRAIN's writers: never data.",
             ".tmp-*", ".brain-staging-*", ".*.tmp")


class LockTimeoutError(BrainError):
    """A repository's writer lock was not obtained within the time allowed."""


class RemoteError(DependencyError):
    """The DVC remote could not be reached or refused the data (push or pull)."""


# --------------------------------------------------------------------------- small helpers


def atomic_write(path: Path, payload: bytes) -> bool:
    """:func:`brain_core.files.atomic_write` that skips unchanged content (returns False)."""
    return files.atomic_write(path, payload, skip_if_same=True)


@contextlib.contextmanager
def file_lock(path: Path, *, timeout_s: float | None = None, what: str = "lock"
              ) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``, waiting for it as long as needed.

    Parameters
    ----------
    path : Path
        The lock file (created if missing; its content is never used).
    timeout_s : float | None
        Give up after this many seconds with :class:`LockTimeoutError`; None waits
        forever (the default: writers queue up, they do not fail).
    what : str
        What the lock protects, for the log and the error message.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        next_note = 10.0
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if timeout_s is not None and waited >= timeout_s:
                    raise LockTimeoutError(
                        f"Could not take the {what} ({path}) within {timeout_s} s: another "
                        "writer holds it.") from None
                if waited >= next_note:
                    log.info("still waiting for the %s (%s) after %.0f s", what, path, waited)
                    next_note *= 2
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _is_url(text: str) -> bool:
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text) is not None


def normalise_remote(url: str) -> str:
    """A remote URL as stored in DVC's config: URLs as given, local folders absolute."""
    url = str(url).strip()
    if not url:
        raise InvalidInputError("The DVC remote URL is empty: give a folder or an "
                                "s3://bucket/prefix URL.", field="remote_url")
    return url if _is_url(url) else str(Path(url).expanduser().resolve())


def _quiet_dvc() -> None:
    # DVC prints hints for people ("To track the changes with git, run ...") on stdout and
    # logs them at INFO (its logger's level once imported); BRAIN keeps DVC's warnings and
    # errors, unless someone asked for DVC's debug output.
    dvc_log = logging.getLogger("dvc")
    if dvc_log.level in (logging.NOTSET, logging.INFO):
        dvc_log.setLevel(logging.WARNING)


@contextlib.contextmanager
def dvc_repo(root: Path) -> Iterator[Any]:
    """DVC's in-process API on ``root``, waiting for DVC's repository lock."""
    from dvc.repo import Repo

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        # pygtrie, used by DVC's index, warns about its own API on every `dvc add`.
        warnings.filterwarnings("ignore", message=r".*_NoneStep\.value",
                                category=DeprecationWarning)
        _quiet_dvc()
        repo = Repo(str(root), _wait_for_lock=True)
        try:
            yield repo
        finally:
            repo.close()


# --------------------------------------------------------------------------- the repository


class VersionedRepo:
    """One BRAIN data repository (git + DVC).

    Parameters
    ----------
    root : Path
        The repository's folder.
    data_dirs : sequence of str
        Top-level folders tracked by DVC, each as one directory output
        (``<name>.dvc``).
    git_files : sequence of str
        Top-level files versioned by git itself.
    """

    def __init__(self, root: Path, data_dirs: Sequence[str], git_files: Sequence[str] = ()
                 ) -> None:
        self.root = Path(root)
        self.data_dirs = tuple(data_dirs)
        self.git_files = tuple(git_files)

    def __repr__(self) -> str:
        return f"VersionedRepo({str(self.root)!r}, data_dirs={self.data_dirs})"

    # ---------------------------------------------------------------- paths and state

    @property
    def lock_path(self) -> Path:
        return self.root / ".git" / "brain-writer.lock"

    @property
    def _pushed_path(self) -> Path:
        return self.root / ".dvc" / "tmp" / "brain-pushed"

    @property
    def cache_dir(self) -> Path:
        """DVC's local cache (BRAIN repositories keep the default location)."""
        return self.root / ".dvc" / "cache"

    def exists(self) -> bool:
        return (self.root / ".git").is_dir() and (self.root / ".dvc" / "config").is_file()

    def require(self) -> None:
        """Raise :class:`NotFoundError` unless the repository has been initialised."""
        if not self.exists():
            raise NotFoundError(
                f"{self.root} is not a BRAIN data repository (no .git and .dvc there); "
                "create it with `brain data init`.")

    def git(self, *args: str, check: bool = True, write: bool = False) -> str:
        """Run git in the repository and return its standard output (stripped).

        Readers run with ``--no-optional-locks`` so that they never hold
        ``.git/index.lock``, which a concurrent writer needs.
        """
        argv = ["git", "-C", str(self.root)]
        if write:
            argv += ["-c", f"user.name={GIT_AUTHOR[0]}", "-c", f"user.email={GIT_AUTHOR[1]}",
                     "-c", "commit.gpgsign=false"]
        else:
            argv.append("--no-optional-locks")
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        done = subprocess.run([*argv, *args], capture_output=True, text=True, env=env,
                              check=False)
        if check and done.returncode != 0:
            raise DependencyError(
                f"git {' '.join(args)} failed in {self.root} ({done.returncode}): "
                f"{done.stderr.strip()[:500]}")
        return done.stdout.strip()

    def head(self) -> str | None:
        """The commit HEAD points to; None in a repository without commits."""
        rev = self.git("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return rev or None

    def pushed_revision(self) -> str | None:
        """The last revision whose data :meth:`push` delivered to the remote."""
        try:
            return self._pushed_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def remote_url(self) -> str | None:
        """URL of the default DVC remote, from the committed and local configs."""
        from configobj import ConfigObj

        url = None
        for name in ("config", "config.local"):
            path = self.root / ".dvc" / name
            if path.exists():
                section = ConfigObj(str(path)).get(f'remote "{REMOTE_NAME}"', {})
                url = section.get("url", url)
        return url

    def is_dirty(self) -> bool:
        """True when git sees changes not yet committed (data folders are DVC's: a new file
        there shows only after ``dvc add``)."""
        return bool(self.git("status", "--porcelain", "--untracked-files=normal"))

    # ---------------------------------------------------------------- writing

    def writer_lock(self, timeout_s: float | None = None) -> contextlib.AbstractContextManager:
        """The repository's writer lock (see :func:`file_lock`)."""
        return file_lock(self.lock_path, timeout_s=timeout_s,
                         what=f"writer lock of {self.root.name}")

    def recover(self) -> list[str]:
        """Undo what a writer killed mid-way left behind. Call it holding the writer lock.

        Returns
        -------
        list of str
            What was repaired (for the log).
        """
        repaired = []
        git_dir = self.root / ".git"
        # Holding the writer lock, no other git writer runs here, and readers never take
        # git's optional locks: any git lock file is a dead writer's.
        for lock in [git_dir / "index.lock", git_dir / "HEAD.lock",
                     git_dir / "packed-refs.lock", *git_dir.glob("refs/heads/**/*.lock")]:
            if lock.exists():
                lock.unlink()
                repaired.append(f"removed stale {lock.relative_to(self.root)}")
        rwlock = self.root / ".dvc" / "tmp" / "rwlock"
        if rwlock.exists():
            try:
                json.loads(rwlock.read_text(encoding="utf-8") or "{}")
            except (ValueError, UnicodeDecodeError):
                rwlock.unlink()  # DVC writes it in place; a kill can truncate it
                repaired.append("removed DVC's truncated rwlock file")
        for name in self.data_dirs:
            dvcfile = self.root / f"{name}.dvc"
            if dvcfile.exists() and not _valid_dvcfile(dvcfile):
                # DVC writes .dvc files in place; `dvc add` recomputes them anyway.
                if self._in_head(f"{name}.dvc"):
                    self.git("checkout", "HEAD", "--", f"{name}.dvc", write=True)
                else:
                    dvcfile.unlink()
                repaired.append(f"restored truncated {name}.dvc")
            folder = self.root / name
            if folder.is_dir():
                for hidden in sorted(folder.rglob(".*"), reverse=True):
                    _remove(hidden)
                    repaired.append(f"removed temporary {hidden.relative_to(self.root)}")
        for tmp in self.root.glob(f"{TMP_PREFIX}*"):  # of an atomic write of a git file
            _remove(tmp)
            repaired.append(f"removed temporary {tmp.name}")
        if repaired:
            log.warning("recovered %s: %s", self.root, "; ".join(repaired))
        return repaired

    def _in_head(self, relpath: str) -> bool:
        done = subprocess.run(["git", "-C", str(self.root), "--no-optional-locks", "cat-file",
                               "-e", f"HEAD:{relpath}"], capture_output=True, check=False)
        return done.returncode == 0

    def commit(self, message: str, extra_files: Sequence[str] = ()) -> str | None:
        """``dvc add`` the data folders, then commit what changed. Hold the writer lock.

        Returns
        -------
        str | None
            The new commit, or None when nothing changed (no empty commits).
        """
        for name in self.data_dirs:
            (self.root / name).mkdir(exist_ok=True)
        try:
            with dvc_repo(self.root) as repo:
                repo.add([str(self.root / name) for name in self.data_dirs])
        except Exception as err:  # DVC raises many types; all mean "not committed"
            raise DependencyError(f"dvc add in {self.root} failed: {err}") from err
        paths = [f"{name}.dvc" for name in self.data_dirs]
        paths += [p for p in (".gitignore", *self.git_files, *extra_files)
                  if (self.root / p).exists() or self._in_head(p)]
        self.git("add", "-A", "--", *paths, write=True)
        staged = subprocess.run(["git", "-C", str(self.root), "diff", "--cached", "--quiet"],
                                capture_output=True, check=False)
        if staged.returncode == 0 and self.head() is not None:
            return None
        self.git("commit", "-q", "--no-verify", "-m", message, write=True)
        rev = self.head()
        log.info("committed %s in %s: %s", rev[:12] if rev else None, self.root.name, message)
        return rev

    def push(self) -> bool:
        """Send HEAD's data to the DVC remote unless that was already done.

        Returns
        -------
        bool
            True when HEAD's data is on the remote (now or before).

        Raises
        ------
        RemoteError
            If the remote cannot be reached or refuses the data.
        """
        head = self.head()
        if head is None:
            return False
        if self.pushed_revision() == head:
            return True
        try:
            with dvc_repo(self.root) as repo:
                count = repo.push()
        except Exception as err:  # network, credentials, missing bucket ...
            raise RemoteError(
                f"dvc push from {self.root} to {self.remote_url()} failed: {err}") from err
        atomic_write(self._pushed_path, f"{head}\n".encode())
        log.info("pushed %s of %s (%s new file(s)) to %s", head[:12], self.root.name, count,
                 self.remote_url())
        return True

    def pull(self) -> None:
        """``dvc pull``: fetch HEAD's data from the remote and check it out."""
        try:
            with dvc_repo(self.root) as repo:
                repo.pull()
        except Exception as err:
            raise RemoteError(
                f"dvc pull into {self.root} from {self.remote_url()} failed: {err}") from err

    # ---------------------------------------------------------------- reading

    def manifest(self, data_dir: str, rev: str = "HEAD") -> dict[str, str]:
        """Files of ``data_dir`` at ``rev`` and their MD5, from git and DVC's cache.

        Returns
        -------
        dict of str to str
            Path relative to ``data_dir`` (POSIX) -> MD5 of its content; empty when the
            folder is not tracked at ``rev``.

        Raises
        ------
        NotFoundError
            If DVC's cache lacks the directory listing (a clone before ``dvc pull``).
        """
        from ruamel.yaml import YAML

        done = subprocess.run(["git", "-C", str(self.root), "--no-optional-locks", "show",
                               f"{rev}:{data_dir}.dvc"], capture_output=True, check=False)
        if done.returncode != 0:
            return {}
        outs = (YAML(typ="safe").load(done.stdout) or {}).get("outs") or []
        md5 = str(outs[0].get("md5", "")) if outs else ""
        if not md5.endswith(".dir"):
            return {}
        listing = self.object_path(md5)
        try:
            entries = json.loads(listing.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(
                f"DVC's cache of {self.root} lacks the listing of {data_dir}/ at {rev}; run "
                "`dvc pull` (or `dvc fetch`) there first.") from None
        return {entry["relpath"]: entry["md5"] for entry in entries}

    def object_path(self, md5: str) -> Path:
        """Where DVC's cache keeps the object of ``md5`` (``files/md5/ab/cdef...``)."""
        return self.cache_dir / "files" / "md5" / md5[:2] / md5[2:]

    def read_committed(self, data_dir: str, relpath: str, md5: str) -> Path:
        """A readable path holding the committed content of ``data_dir/relpath``.

        The cache object when present (exactly the committed bytes), else the working
        tree's file.
        """
        obj = self.object_path(md5)
        return obj if obj.exists() else self.root / data_dir / relpath


def _valid_dvcfile(path: Path) -> bool:
    from ruamel.yaml import YAML

    try:
        outs = (YAML(typ="safe").load(path.read_text(encoding="utf-8")) or {}).get("outs")
        first = (outs or [{}])[0]
        return bool(first.get("md5")) and bool(first.get("path"))
    except Exception:  # any parse error or shape: ruamel raises several types
        return False


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


# --------------------------------------------------------------------------- creating


def init_repo(root: Path, remote_url: str | None, *, data_dirs: Sequence[str],
              git_files: Sequence[str] = (), endpoint_url: str | None = None,
              readme: str = "") -> VersionedRepo:
    """Create (or update) a BRAIN data repository; running it again is harmless.

    Parameters
    ----------
    root : Path
        The repository's folder (created if needed).
    remote_url : str | None
        The default DVC remote: a local folder (made absolute, created) or a URL such as
        ``s3://bucket/prefix``. None keeps the remote (and endpoint) of an existing
        repository.
    data_dirs, git_files : sequence of str
        See :class:`VersionedRepo`.
    endpoint_url : str | None
        S3 endpoint (MinIO, moto, another S3 API); None for AWS itself. Not a secret: it
        is committed, so that ``git clone`` + ``dvc pull`` works. Credentials are never
        written: DVC reads them from the environment.
    readme : str
        Text of README.md, written when the file does not exist yet.

    Returns
    -------
    VersionedRepo
        The repository, with an initial commit.
    """
    root = Path(root)
    repo = VersionedRepo(root, data_dirs, git_files)
    if remote_url is None and repo.exists() and repo.remote_url():
        url, keep = str(repo.remote_url()), True
    elif remote_url is None:
        raise InvalidInputError(f"{root} has no DVC remote yet: give one (a folder or "
                                "s3://bucket/prefix).", field="remote_url")
    else:
        url, keep = normalise_remote(remote_url), False
    if not _is_url(url):
        Path(url).mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").is_dir():
        repo.git("init", "-q", "-b", "main", write=True)
    with repo.writer_lock():
        if not (root / ".dvc" / "config").is_file():
            from dvc.repo import Repo

            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                _quiet_dvc()
                # A .dvc folder without config is a killed init: start it over.
                Repo.init(root_dir=str(root), force=(root / ".dvc").exists()).close()
        if not keep:
            _configure_remote(root, url, endpoint_url)
        ignore = root / ".dvcignore"
        known = ignore.read_text(encoding="utf-8").splitlines() if ignore.exists() else []
        missing = [line for line in DVCIGNORE if line not in known]
        if missing:
            text = "\n".join([*known, *missing]).strip("\n") + "\n"
            atomic_write(ignore, text.encode())
        if readme and not (root / "README.md").exists():
            atomic_write(root / "README.md", readme.encode())
        repo.recover()
        repo.commit("Initialise the repository",
                    extra_files=(".dvc/config", ".dvc/.gitignore", ".dvcignore", "README.md"))
        repo.push()  # so that a clone can `dvc pull` from the start
    return repo


def _configure_remote(root: Path, url: str, endpoint_url: str | None) -> None:
    from dvc.config import Config

    config = Config(dvc_dir=str(root / ".dvc"))
    with config.edit("repo") as conf:
        # No usage reports and no version checks from a service.
        conf["core"]["analytics"] = False
        conf["core"]["check_update"] = False
        conf["core"]["remote"] = REMOTE_NAME
        remote = dict(conf["remote"].get(REMOTE_NAME, {}))
        remote["url"] = url
        if endpoint_url:
            remote["endpointurl"] = endpoint_url
        else:
            remote.pop("endpointurl", None)
        conf["remote"][REMOTE_NAME] = remote
