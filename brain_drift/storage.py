"""Files of the drift service: feature tables and reports, written atomically.

Every file is written to a temporary sibling, fsynced and renamed over its final name,
so a process killed at any point leaves the old file or the new one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from brain_core.errors import InvalidInputError, NotFoundError
from brain_core.files import atomic_write

TABLE_SUFFIXES = (".parquet", ".csv")


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InvalidInputError(
            f"Invalid value for the 'path' parameter: a features table is .parquet or .csv, "
            f"got {str(path)!r}.", field="path")
    return suffix


def save_table(table: pd.DataFrame, path: Path) -> Path:
    """Write a features table as Parquet or CSV (by ``path``'s suffix), atomically."""
    path = Path(path)
    if _check_suffix(path) == ".parquet":
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        payload = buffer.getvalue()
    else:
        payload = table.to_csv(index=False, float_format="%.10g").encode()
    atomic_write(path, payload)
    return path


def load_table(path: Path) -> pd.DataFrame:
    """Read a features table written by :func:`save_table`."""
    path = Path(path)
    suffix = _check_suffix(path)
    if not path.is_file():
        raise NotFoundError(f"No features table at {path}")
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"session_id": str, "subject": str})
    except (OSError, ValueError) as err:
        raise InvalidInputError(
            f"Invalid value for the 'path' parameter: {path} is not a readable features "
            f"table ({err}).", field="path") from None


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinity replaced by None (strict JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


class ReportStore:
    """Drift reports in one folder: ``drift-<UTC time>.html`` and ``.json`` pairs.

    The HTML is written first and the JSON last, and :meth:`latest` only returns pairs
    whose JSON exists, so a reader never gets half a report.
    """

    def __init__(self, folder: Path, keep: int = 20) -> None:
        self.folder = Path(folder)
        self.keep = max(1, int(keep))

    def save(self, summary: dict[str, Any], html: str, when: datetime | None = None
             ) -> tuple[Path, Path]:
        """Store one report; returns the HTML and JSON paths. Old ones beyond ``keep``
        are removed."""
        when = (when or datetime.now(UTC)).astimezone(UTC)
        stem = f"drift-{when:%Y%m%dT%H%M%S%fZ}"
        html_path = self.folder / f"{stem}.html"
        json_path = self.folder / f"{stem}.json"
        atomic_write(html_path, html.encode())
        atomic_write(json_path, json.dumps(json_ready(summary), indent=1,
                                           allow_nan=False).encode())
        self._prune()
        return html_path, json_path

    def _stems(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("drift-*.json"))

    def latest(self, fmt: str = "html") -> Path | None:
        """Path of the newest complete report in ``fmt`` ('html' or 'json'), or None."""
        for stem in reversed(self._stems()):
            path = self.folder / f"{stem}.{fmt}"
            if path.exists():
                return path
        return None

    def _prune(self) -> None:
        for stem in self._stems()[: -self.keep]:
            for suffix in (".json", ".html"):  # JSON first: the pair stops being listed
                with contextlib.suppress(FileNotFoundError):
                    (self.folder / f"{stem}{suffix}").unlink()
