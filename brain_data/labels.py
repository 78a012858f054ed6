"""Labels (birthdates) inside the raw repository: ``labels/<session_id>.json``.

A label is kept apart from the EEG, one file per session, so that it can be protected
on its own. Everything that puts a label into the repository or takes one out goes
through :func:`write_label` and :func:`read_label`; encrypting labels at rest means
changing :func:`_to_bytes` and :func:`_from_bytes` only.

Birthdates never appear in a log line or an error message: errors name the session and
the field, not the value.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from brain_core.errors import InvalidInputError
from brain_core.models import Label
from brain_data.repository import atomic_write

#: The raw repository's folder of labels (tracked by DVC, like the EEG).
LABELS_DIR = "labels"


def label_path(labels_dir: Path, session_id: UUID) -> Path:
    """Where the label of ``session_id`` lives under ``labels_dir``."""
    return Path(labels_dir) / f"{UUID(str(session_id))}.json"


def write_label(labels_dir: Path, label: Label) -> Path:
    """Store ``label`` atomically; return its file. The same label again writes nothing."""
    path = label_path(labels_dir, label.session_id)
    atomic_write(path, _to_bytes(label))
    return path


def read_label(path: Path) -> Label:
    """The label stored in ``path`` (written by :func:`write_label`).

    Raises
    ------
    InvalidInputError
        If the file does not hold a valid label.
    """
    path = Path(path)
    return _from_bytes(path.read_bytes(), source=path.name)


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


def _to_bytes(label: Label) -> bytes:
    # Plain JSON for now; the security issue encrypts here.
    return (label.model_dump_json(indent=2) + "\n").encode()


def _from_bytes(payload: bytes, *, source: str) -> Label:
    return parse_label(payload, source=source)
