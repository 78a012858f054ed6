"""``python -m brain_drift``: serve the drift monitor with uvicorn."""

import logging

import uvicorn

from brain_core.logs import configure_logging
from brain_drift.app import create_app
from brain_drift.config import Settings


def main() -> None:
    configure_logging("brain_drift")
    # httpx logs every request URL at INFO, and the Uptime Kuma push URL holds a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    settings = Settings()  # type: ignore[call-arg]
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
