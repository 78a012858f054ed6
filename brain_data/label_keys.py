"""The keys that encrypt labels (birthdates) at rest in the raw repository.

The keys are a secret, read with :func:`brain_core.settings.read_secret` from
``BRAIN_LABEL_KEY_FILE`` (a file, e.g. the Docker secret ``/run/secrets/label_key``) or,
for a quick trial, ``BRAIN_LABEL_KEY`` itself. brain_data and the transformer pipeline
read the same setting. There is no default key anywhere: without one, a label can be
neither written nor read, and the error says which setting to give.

A key file holds one key per line (32 random bytes, base64), ``#`` comments allowed.
The first key is the current one, used for writing; any key of the file decrypts, picked
by the key id stored in the label file. Rotating is: ``brain data keygen --add FILE``
(puts a new key first), then ``brain data reencrypt-labels`` (rewrites every label under
it, one commit); the old key can leave the file once no revision that is still needed
holds labels encrypted under it.

A key id is a hash of the key (16 hex digits): it tells keys apart and reveals nothing of
them. Keys are never logged and never shown in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from brain_core.errors import BrainError, ConflictError, InvalidInputError
from brain_core.files import atomic_write
from brain_core.settings import read_secret

#: The setting that holds the label keys (``<name>_FILE`` names a file holding them).
LABEL_KEY_SETTING = "BRAIN_LABEL_KEY"
KEY_BYTES = 32  # AES-256

_KEY_FILE_HEADER = (
    "# BRAIN label keys (AES-256-GCM), one base64 key per line; the first one encrypts,\n"
    "# every one decrypts. Made by `brain data keygen`. Keep this file secret.\n")


class LabelKeyError(BrainError):
    """No usable label key: the setting is missing, malformed, or lacks a needed key."""


@dataclass(frozen=True)
class LabelKey:
    """One AES-256 key and its id (the id is safe to store next to the ciphertext)."""

    key_id: str
    secret: bytes = field(repr=False)


def key_id(secret: bytes) -> str:
    """The id of ``secret``: a domain-separated SHA-256, 16 hex digits."""
    return hashlib.sha256(b"brain-label-key-id\0" + secret).hexdigest()[:16]


def load_label_keys(environ: dict[str, str] | None = None) -> list[LabelKey]:
    """The label keys, current (writing) key first.

    Raises
    ------
    LabelKeyError
        If ``BRAIN_LABEL_KEY_FILE`` (or ``BRAIN_LABEL_KEY``) is not set, cannot be read,
        or holds anything but base64 keys of 32 bytes. The message never shows a key.
    """
    try:
        text = read_secret(LABEL_KEY_SETTING, environ)
    except InvalidInputError as err:
        raise LabelKeyError(f"Cannot use the label key: {err}") from None
    if text is None:
        raise LabelKeyError(
            f"No label key: set {LABEL_KEY_SETTING}_FILE to a key file (create one with "
            "`brain data keygen PATH`). Labels are encrypted at rest and cannot be written "
            "or read without it.")
    keys = [_parse_key(line, number)
            for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise LabelKeyError(f"{LABEL_KEY_SETTING}_FILE holds no key (only comments or "
                            "blank lines); create one with `brain data keygen PATH`.")
    return keys


def _parse_key(line: str, number: int) -> LabelKey:
    try:
        secret = base64.b64decode(line.strip().translate(str.maketrans("-_", "+/")),
                                  validate=True)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != KEY_BYTES:
        raise LabelKeyError(f"Line {number} of the label key ({LABEL_KEY_SETTING}_FILE) is "
                            f"not a base64 key of {KEY_BYTES} bytes.")
    return LabelKey(key_id(secret), secret)


def new_key_line() -> str:
    """A new random key as a key-file line."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n"


def create_key_file(path: Path) -> str:
    """Create a key file holding one new key (mode 0600); return the key's id.

    Raises
    ------
    ConflictError
        If ``path`` exists: a key file is never overwritten (its labels would be lost).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = new_key_line()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConflictError(f"{path} exists: a label key file is never overwritten. Use "
                            "--add to put a new key first in it.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_KEY_FILE_HEADER + line)
        handle.flush()
        os.fsync(handle.fileno())
    return _parse_key(line, 1).key_id


def add_key(path: Path) -> str:
    """Put a new key first in an existing key file (the others stay, for reading).

    Returns the new key's id. The file keeps mode 0600.
    """
    path = Path(path)
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist; create it with `brain data keygen "
                                "PATH` first.", field="path") from None
    keys = old.removeprefix(_KEY_FILE_HEADER)
    line = new_key_line()
    atomic_write(path, (_KEY_FILE_HEADER + line + keys).encode(), mode=0o600)
    return _parse_key(line, 1).key_id
