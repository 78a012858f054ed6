"""``python -m brain_data``: the spool watcher, a long-running service.

Creates the raw repository and the feature store when they do not exist yet (remotes
from ``BRAIN_DATA_RAW_REMOTE`` / ``BRAIN_DATA_FEATURE_REMOTE``), then ingests what the
receiver spools until SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import threading

from brain_core.logs import configure_logging
from brain_data.config import Settings
from brain_data.features import feature_repository, init_feature_repo
from brain_data.label_keys import LabelKeyError, load_label_keys
from brain_data.raw import init_raw_repo, raw_repository
from brain_data.service import run_service

log = logging.getLogger("brain_data")


def main() -> None:
    configure_logging("brain_data")
    settings = Settings()
    try:  # fail at start-up, not at the first label, without the label key
        load_label_keys()
    except LabelKeyError as err:
        raise SystemExit(f"brain_data: {err}") from None
    # Only a missing (or never committed) repository is initialised: an existing one keeps
    # the remote `brain data init` gave it.
    raw = raw_repository(settings.raw_repo)
    if not raw.exists() or raw.head() is None:
        init_raw_repo(settings.raw_repo, settings.raw_remote,
                      endpoint_url=settings.s3_endpoint_url)
    features = feature_repository(settings.feature_repo)
    if not features.exists() or features.head() is None:
        init_feature_repo(settings.feature_repo, settings.feature_remote,
                          endpoint_url=settings.s3_endpoint_url)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        log.info("received %s; stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_service(settings, stop)


if __name__ == "__main__":
    main()
