"""``python -m brain_transform_service``: serve the transform API with uvicorn."""

import uvicorn

from brain_core.logs import configure_logging
from brain_transform_service.app import create_app
from brain_transform_service.config import Settings


def main() -> None:
    configure_logging("brain_transform_service")
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
