"""Labels (birthdates) inside the raw repository: ``labels/<session_id>.json``.

A label is kept apart from the EEG, one file per session, and encrypted at rest
(AES-256-GCM, keys from :mod:`brain_data.label_keys`). Everything that puts a label into
the repository or takes one out goes through :func:`write_label` and :func:`read_label`,
so a birthdate exists in clear only in the memory of the process that reads it. A label
file is a small JSON envelope that describes itself::

    {"format": "brain-label", "version": 1, "alg": "AES-256-GCM",
     "kid": "<key id>", "session_id": "<uuid>", "nonce": "<base64>",
     "ciphertext": "<base64 of the Label JSON + GCM tag>"}

The session id is the associated data: a label file copied to another session's name,
or edited, does not decrypt. Nonces are random, so the same label encrypted twice gives
different bytes; :func:`write_label` therefore compares decrypted content and leaves an
unchanged label's file alone (DVC would otherwise see a change on every batch).

Labels written before encryption (plain ``Label`` JSON) are still read, with a warning
in the log, until ``brain data reencrypt-labels`` has encrypted them.

Birthdates never appear in a log line or an error message: errors name the session and
the field, not the value.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from brain_core.errors import InvalidInputError
from brain_core.models import Label
from brain_data.label_keys import LabelKey, LabelKeyError, load_label_keys
from brain_data.repository import atomic_write

log = logging.getLogger(__name__)

#: The raw repository's folder of labels (tracked by DVC, like the EEG).
LABELS_DIR = "labels"
#: ``format`` and ``version`` of the encrypted label envelope.
LABEL_FORMAT, LABEL_VERSION = "brain-label", 1
LABEL_ALGORITHM = "AES-256-GCM"
_NONCE_BYTES = 12
_LABEL_NAME = re.compile(r"^[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\.json$")


def label_path(labels_dir: Path, session_id: UUID) -> Path:
    """Where the label of ``session_id`` lives under ``labels_dir``."""
    return Path(labels_dir) / f"{UUID(str(session_id))}.json"


def write_label(labels_dir: Path, label: Label, *, keys: list[LabelKey] | None = None
                ) -> Path:
    """Store ``label`` encrypted, atomically; return its file.

    The same label again writes nothing (its file keeps its bytes) unless it is not yet
    encrypted under the current key (``keys[0]``), which is what re-encryption wants.

    Raises
    ------
    LabelKeyError
        If no label key is configured (``BRAIN_LABEL_KEY_FILE``); nothing is written.
    """
    keys = keys or load_label_keys()
    path = label_path(labels_dir, label.session_id)
    if path.exists() and _current(path, label, keys):
        return path
    atomic_write(path, _to_bytes(label, keys[0]))
    return path


def _current(path: Path, label: Label, keys: list[LabelKey]) -> bool:
    """Whether ``path`` already holds ``label`` encrypted under the current key."""
    payload = path.read_bytes()
    try:
        stored = _from_bytes(payload, source=path.name, session_id=label.session_id,
                             keys=keys)
    except InvalidInputError:
        return False
    return stored == label and _envelope_key_id(payload) == keys[0].key_id


def read_label(path: Path, session_id: UUID | None = None, *,
               keys: list[LabelKey] | None = None) -> Label:
    """The label stored in ``path`` (written by :func:`write_label`), decrypted.

    Parameters
    ----------
    path : Path
        ``labels/<session_id>.json``, or the DVC cache object holding it.
    session_id : UUID | None
        The session the label must belong to. Default: the one in the file name when it
        is ``<session_id>.json``, else the one the envelope names.

    Raises
    ------
    InvalidInputError
        If the file does not hold a valid label of that session: unreadable, edited,
        or moved from another session (field ``label``).
    LabelKeyError
        If no label key is configured, or none has the id the file was encrypted with.
    """
    path = Path(path)
    if session_id is None and _LABEL_NAME.match(path.name):
        session_id = UUID(path.stem)
    return _from_bytes(path.read_bytes(), source=path.name, session_id=session_id,
                       keys=keys)


def is_encrypted(payload: bytes) -> bool:
    """Whether ``payload`` is an encrypted label envelope (not a legacy plain label)."""
    return _envelope(payload, source="label") is not None


def parse_label(payload: bytes, *, source: str) -> Label:
    """A label as the receiver spools it (``Label`` as JSON), validated.

    Raises
    ------
    InvalidInputError
        Naming the field; a wrong birthdate is described, never quoted.
    """
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidInputError(f"{source}: not UTF-8 JSON ({type(err).__name__}).",
                                field="label") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{source}: expected a JSON object.", field="label")
    try:
        return Label.model_validate(data)
    except ValidationError as err:
        raise InvalidInputError(f"{source}: {label_errors(err)}",
                                field=_first_field(err)) from None


def label_errors(err: ValidationError) -> str:
    """The problems of a label, one per field, without echoing a birthdate."""
    lines = []
    for problem in err.errors(include_url=False, include_input=False):
        field = ".".join(str(p) for p in problem["loc"]) or "label"
        if field == "birthdate":
            lines.append("birthdate: not a plausible date (YYYY-MM-DD, from 1900-01-01 "
                         "to today)")
        else:
            lines.append(f"{field}: {problem['msg']}")
    return "; ".join(lines)


def _first_field(err: ValidationError) -> str:
    problems = err.errors(include_url=False)
    return ".".join(str(p) for p in problems[0]["loc"]) if problems else "label"


def _associated_data(session_id: UUID) -> bytes:
    return f"{LABEL_FORMAT}/{LABEL_VERSION}/{session_id}".encode()


def _to_bytes(label: Label, key: LabelKey) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(key.secret).encrypt(nonce, label.model_dump_json().encode(),
                                            _associated_data(label.session_id))
    envelope = {"format": LABEL_FORMAT, "version": LABEL_VERSION, "alg": LABEL_ALGORITHM,
                "kid": key.key_id, "session_id": str(label.session_id),
                "nonce": base64.b64encode(nonce).decode(),
                "ciphertext": base64.b64encode(ciphertext).decode()}
    return (json.dumps(envelope, indent=1) + "\n").encode()


def _envelope(payload: bytes, *, source: str) -> dict[str, Any] | None:
    """The envelope's fields; None for a legacy plain label (or anything without format)."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError(f"{source}: not a label file (not UTF-8 JSON).",
                                field="label") from None
    if not isinstance(data, dict) or "format" not in data:
        return None
    if (data.get("format"), data.get("version"), data.get("alg")) != (
            LABEL_FORMAT, LABEL_VERSION, LABEL_ALGORITHM):
        raise InvalidInputError(
            f"{source}: unsupported label format (expected {LABEL_FORMAT} version "
            f"{LABEL_VERSION}, {LABEL_ALGORITHM}).", field="label")
    return data


def _envelope_key_id(payload: bytes) -> str | None:
    data = _envelope(payload, source="label")
    return None if data is None else str(data.get("kid"))


def _from_bytes(payload: bytes, *, source: str, session_id: UUID | None = None,
                keys: list[LabelKey] | None = None) -> Label:
    envelope = _envelope(payload, source=source)
    if envelope is None:
        log.warning("label %s is stored unencrypted; run `brain data reencrypt-labels`",
                    source)
        label = parse_label(payload, source=source)
    else:
        label = _decrypt(envelope, source=source, session_id=session_id,
                         keys=keys or load_label_keys())
    if session_id is not None and label.session_id != session_id:
        raise InvalidInputError(f"{source}: the label belongs to another session than "
                                f"{session_id}.", field="session_id")
    return label


def _decrypt(envelope: dict[str, Any], *, source: str, session_id: UUID | None,
             keys: list[LabelKey]) -> Label:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = next((k for k in keys if k.key_id == envelope.get("kid")), None)
    if key is None:
        raise LabelKeyError(
            f"{source} was encrypted with label key {envelope.get('kid')!r}, which the "
            "label key file (BRAIN_LABEL_KEY_FILE) does not hold.")
    try:
        claimed = UUID(str(envelope["session_id"]))
        nonce = base64.b64decode(envelope["nonce"], validate=True)
        ciphertext = base64.b64decode(envelope["ciphertext"], validate=True)
        plaintext = AESGCM(key.secret).decrypt(
            nonce, ciphertext, _associated_data(session_id or claimed))
    except (KeyError, ValueError, binascii.Error, InvalidTag):
        raise InvalidInputError(
            f"{source}: the label does not decrypt (edited, damaged, or moved from another "
            "session).", field="label") from None
    return parse_label(plaintext, source=source)
