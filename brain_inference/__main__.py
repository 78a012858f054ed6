"""``python -m brain_inference``: serve predictions with uvicorn."""

import uvicorn

from brain_core.logs import configure_logging
from brain_inference.app import create_app
from brain_inference.config import Settings


def main() -> None:
    configure_logging("brain_inference")
    settings = Settings()  # type: ignore[call-arg]
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
