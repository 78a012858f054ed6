"""BRAIN's error hierarchy.

Every error a client or an operator can cause derives from :class:`BrainError`; services
map the subclasses to explicit HTTP statuses (see each service's ``app.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class BrainError(Exception):
    """Base class of every error BRAIN raises on purpose."""


class InvalidInputError(BrainError, ValueError):
    """Input that breaks the data contract; the message names the field and the value."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class CodecError(InvalidInputError):
    """Bytes that are not a valid encoded recording (truncated, corrupt, oversized)."""


class ConflictError(BrainError):
    """The same key was sent again with different content."""


class NotFoundError(BrainError, LookupError):
    """A requested object does not exist."""


class DependencyError(BrainError):
    """A service BRAIN depends on (MLflow, DVC remote, another service) failed."""


def check_option(name: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a message naming ``name``.

    Examples
    --------
    >>> check_option("phase", "week", ("day", "month", "year"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    brain_core.errors.InvalidInputError: Invalid value for the 'phase' parameter. ...
    """
    allowed = tuple(allowed)
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidInputError(
            f"Invalid value for the {name!r} parameter. Allowed values are {options}, "
            f"but got {value!r} instead.",
            field=name,
        )
    return value
