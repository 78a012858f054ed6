"""Helpers for each service's pydantic-settings ``Settings`` class.

Each service declares ``class Settings(BrainSettings)`` in its own ``config.py`` with
``model_config = settings_config("BRAIN_RECEIVER_")``. Secrets are read from the
environment or from a file (``<NAME>_FILE``, as Docker secrets provide), and refuse
placeholder values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from brain_core.errors import InvalidInputError

#: Values that are never accepted as a secret: the ones people leave in by mistake.
PLACEHOLDER_SECRETS = frozenset({
    "", "changeme", "change-me", "change_me", "password", "secret", "admin", "default",
    "example", "test", "xxx", "todo", "none", "null", "12345678",
})


def settings_config(env_prefix: str, **extra: object) -> SettingsConfigDict:
    """The standard settings config: an env prefix, a ``.env`` file, no unknown keys."""
    return SettingsConfigDict(
        env_prefix=env_prefix,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        **extra,  # type: ignore[typeddict-item]
    )


def _not_placeholder(value: SecretStr) -> SecretStr:
    secret = value.get_secret_value().strip()
    if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 8:
        raise ValueError("secret is a placeholder or shorter than 8 characters")
    return value


#: A secret that refuses placeholders ("changeme", "password", ...) and short values.
Secret = Annotated[SecretStr, AfterValidator(_not_placeholder)]


class BrainSettings(BaseSettings):
    """Base class of every service's settings."""

    model_config = settings_config("BRAIN_")


def read_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """Read secret ``name`` from the environment, or from the file ``<name>_FILE`` names.

    Returns None when neither is set. Raises if both are set, if the file is missing,
    or if the value is a placeholder.
    """
    env = os.environ if environ is None else environ
    direct, path = env.get(name), env.get(f"{name}_FILE")
    if direct is not None and path is not None:
        raise InvalidInputError(f"Set {name} or {name}_FILE, not both.", field=name)
    if path is not None:
        try:
            direct = Path(path).read_text(encoding="utf-8").strip()
        except OSError as err:
            raise InvalidInputError(
                f"{name}_FILE points to {path!r}, which cannot be read ({err.strerror}).",
                field=f"{name}_FILE",
            ) from None
    if direct is None:
        return None
    try:
        _not_placeholder(SecretStr(direct))
    except ValueError:
        raise InvalidInputError(
            f"{name} is a placeholder or shorter than 8 characters; set a real secret.",
            field=name,
        ) from None
    return direct
