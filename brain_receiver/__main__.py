"""``python -m brain_receiver``: serve the receiver with uvicorn (host/port from settings)."""

import uvicorn

from brain_core.logs import configure_logging
from brain_receiver.app import create_app
from brain_receiver.config import Settings


def main() -> None:
    configure_logging("brain_receiver")
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main()
