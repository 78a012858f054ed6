"""Tell Airflow that the raw store changed, so brain_etl runs at once.

brain_etl runs hourly *or* when the ``brain_raw`` Asset (uri ``brain://raw``) gets an
event. After a commit that adds recordings or labels, brain_data creates that event
through Airflow 3's REST API (``POST /api/v2/assets/events``), authenticating with
``POST /auth/token``. Airflow being down or unconfigured never fails ingest: the hourly
schedule catches up.
"""

from __future__ import annotations

import logging

import httpx

from brain_core.settings import read_secret

log = logging.getLogger(__name__)

RAW_ASSET_URI = "brain://raw"


class AirflowNotifier:
    """Creates ``brain_raw`` asset events; a no-op without an Airflow URL."""

    def __init__(self, base_url: str | None, username: str | None, *,
                 timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.username = username
        self.timeout_s = timeout_s
        self._asset_id: int | None = None

    def _token(self, client: httpx.Client) -> str | None:
        password = read_secret("BRAIN_DATA_AIRFLOW_PASSWORD")
        if not self.username or not password:
            return None
        response = client.post("/auth/token",
                               json={"username": self.username, "password": password})
        response.raise_for_status()
        return response.json()["access_token"]

    def raw_changed(self, commit: str | None) -> bool:
        """Create an asset event for ``commit``; True when Airflow accepted it."""
        if self.base_url is None or commit is None:
            return False
        try:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout_s) as client:
                token = self._token(client)
                if token:
                    client.headers["Authorization"] = f"Bearer {token}"
                if self._asset_id is None:
                    found = client.get("/api/v2/assets",
                                       params={"uri_pattern": RAW_ASSET_URI, "limit": 1})
                    found.raise_for_status()
                    assets = found.json().get("assets", [])
                    if not assets:
                        log.warning("Airflow knows no asset %s yet (are the DAGs parsed?)",
                                    RAW_ASSET_URI)
                        return False
                    self._asset_id = int(assets[0]["id"])
                created = client.post("/api/v2/assets/events",
                                      json={"asset_id": self._asset_id,
                                            "extra": {"raw_commit": commit}})
                created.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as err:
            log.warning("could not tell Airflow about raw commit %s (the hourly run will "
                        "catch up): %s", commit[:12], err)
            return False
        log.info("created a %s asset event for raw commit %s", RAW_ASSET_URI, commit[:12])
        return True
