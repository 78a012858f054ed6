"""Crash-safe file writes, shared by every package that keeps state on disk.

A file appears only by an atomic rename of a fsynced temporary sibling (whose name starts
with :data:`TMP_PREFIX`, so readers can skip it), and the rename is made durable by
fsyncing the folder: a process killed at any point leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Names of files still being written start with this; readers ignore them.
TMP_PREFIX = ".tmp-"


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink inside ``path`` survive a power cut."""
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on a folder
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, payload: bytes, *, mode: int = 0o644,
                 prefix: str = TMP_PREFIX, skip_if_same: bool = False) -> bool:
    """Write ``payload`` to ``path`` through a fsynced temporary file and a rename.

    Parameters
    ----------
    path : Path
        The file; its folder is created if needed.
    payload : bytes
        The new content.
    mode : int
        Permissions of the new file (``mkstemp``'s 0600 would hide it from readers).
    prefix : str
        Name prefix of the temporary sibling.
    skip_if_same : bool
        When the file already holds exactly ``payload``, write nothing.

    Returns
    -------
    bool
        False when ``skip_if_same`` found the content unchanged, else True.
    """
    path = Path(path)
    if skip_if_same:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == len(payload) and path.read_bytes() == payload:
                return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)
    return True
