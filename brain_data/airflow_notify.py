"""Tell Airflow that a data store changed, so the DAG that depends on it runs at once.

brain_etl runs hourly *or* when the ``brain_raw`` Asset (uri ``brain://raw``) gets an
event; brain_train runs when ``brain_features`` (``brain://features``) gets one. After a
commit that adds recordings or labels, brain_data creates a ``brain_raw`` event; after
``brain forget`` removed a subject from the feature store, a ``brain_features`` event, so
that brain_train retrains without the subject. Events go through Airflow 3's REST API
(``POST /api/v2/assets/events``), authenticating with ``POST /auth/token``. Airflow being
down or unconfigured never fails ingest: the hourly schedule catches up.
"""

from __future__ import annotations

import logging

import httpx

from brain_core.settings import read_secret

log = logging.getLogger(__name__)

RAW_ASSET_URI = "brain://raw"
FEATURES_ASSET_URI = "brain://features"


class AirflowNotifier:
    """Creates ``brain_raw`` asset events; a no-op without an Airflow URL."""

    def __init__(self, base_url: str | None, username: str | None, *,
                 timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.username = username
        self.timeout_s = timeout_s
        self._asset_ids: dict[str, int] = {}

    def _token(self, client: httpx.Client) -> str | None:
        password = read_secret("BRAIN_DATA_AIRFLOW_PASSWORD")
        if not self.username or not password:
            return None
        response = client.post("/auth/token",
                               json={"username": self.username, "password": password})
        response.raise_for_status()
        return response.json()["access_token"]

    @property
    def configured(self) -> bool:
        return self.base_url is not None

    def raw_changed(self, commit: str | None) -> bool:
        """Create a ``brain_raw`` event for ``commit``; True when Airflow accepted it."""
        return self.asset_changed(RAW_ASSET_URI, "raw_commit", commit)

    def features_changed(self, commit: str | None) -> bool:
        """Create a ``brain_features`` event for ``commit`` (brain_train then runs)."""
        return self.asset_changed(FEATURES_ASSET_URI, "features_commit", commit)

    def asset_changed(self, uri: str, what: str, commit: str | None) -> bool:
        """Create an event of asset ``uri`` with ``{what: commit}`` as its extra."""
        if self.base_url is None or commit is None:
            return False
        try:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout_s) as client:
                token = self._token(client)
                if token:
                    client.headers["Authorization"] = f"Bearer {token}"
                asset_id = self._asset_id(client, uri)
                if asset_id is None:
                    return False
                created = client.post("/api/v2/assets/events",
                                      json={"asset_id": asset_id, "extra": {what: commit}})
                created.raise_for_status()
        except (httpx.HTTPError, KeyError, ValueError) as err:
            log.warning("could not tell Airflow about %s %s: %s", what, commit[:12], err)
            return False
        log.info("created a %s asset event for %s %s", uri, what, commit[:12])
        return True

    def _asset_id(self, client: httpx.Client, uri: str) -> int | None:
        if uri not in self._asset_ids:
            found = client.get("/api/v2/assets", params={"uri_pattern": uri, "limit": 1})
            found.raise_for_status()
            assets = found.json().get("assets", [])
            if not assets:
                log.warning("Airflow knows no asset %s yet (are the DAGs parsed?)", uri)
                return None
            self._asset_ids[uri] = int(assets[0]["id"])
        return self._asset_ids[uri]
