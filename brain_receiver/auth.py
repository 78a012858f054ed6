"""Per-collector credentials: argon2 hashes, compared in constant time, rotated live.

A credentials source holds one ``collector:hash`` pair per line. Plain passwords never
appear there; ``brain receiver add-collector`` makes a line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from brain_core.errors import InvalidInputError

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()
# Verified when the collector is unknown, so unknown names cost the same time as known ones.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 12:
        raise InvalidInputError("Passwords must have at least 12 characters.", field="password")
    return _HASHER.hash(password)


def parse_credentials(text: str) -> dict[str, str]:
    """Parse ``name:hash`` entries separated by newlines or ';'; '#' starts a comment.

    (Not commas: argon2 hashes contain them.)
    """
    entries: dict[str, str] = {}
    for raw in text.replace(";", "\n").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not name.strip() or not hashed.strip().startswith("$argon2"):
            raise InvalidInputError(
                "Invalid credentials entry: expected `collector:$argon2id$...` "
                f"(see `brain receiver add-collector`), got an entry for {name.strip()!r}.",
                field="credentials",
            )
        entries[name.strip()] = hashed.strip()
    return entries


class CredentialStore:
    """Collector credentials from a file (re-read when it changes) and/or a string."""

    def __init__(self, path: Path | None = None, inline: str | None = None) -> None:
        self._path = path
        self._inline = parse_credentials(inline) if inline else {}
        self._from_file: dict[str, str] = {}
        self._stamp: tuple[int, int] | None = None
        self._lock = threading.Lock()
        # argon2 is slow on purpose (~50 ms); a collector uploads many phases. After one
        # successful verification, remember a keyed HMAC of the password (never the
        # password) next to the hash it matched, and compare HMACs in constant time.
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, tuple[str, bytes]] = {}
        self._reload()

    @property
    def configured(self) -> bool:
        return bool(self._inline or self._from_file)

    def _reload(self) -> None:
        if self._path is None:
            return
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            if self._from_file:
                log.warning("credentials file %s disappeared; keeping the last one read",
                            self._path)
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            entries = parse_credentials(self._path.read_text(encoding="utf-8"))
        except InvalidInputError as err:
            log.error("credentials file %s not reloaded: %s", self._path, err)
            return
        with self._lock:
            self._from_file, self._stamp = entries, stamp
            self._verified.clear()
        log.info("loaded %d collector credential(s) from %s", len(entries), self._path)

    def verify(self, collector: str, password: str) -> bool:
        """True when ``collector`` exists and ``password`` matches, in constant time."""
        self._reload()
        digest = hmac.new(self._key, password.encode(), hashlib.sha256).digest()
        with self._lock:
            hashed = self._from_file.get(collector) or self._inline.get(collector)
            cached = self._verified.get(collector)
        if hashed is not None and cached is not None and cached[0] == hashed:
            return hmac.compare_digest(cached[1], digest)
        try:
            ok = _HASHER.verify(hashed or _DUMMY_HASH, password) and hashed is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        if ok:
            with self._lock:
                self._verified[collector] = (hashed, digest)
        return ok
