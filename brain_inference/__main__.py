"""``python -m brain_inference``: serve predictions with uvicorn."""

import os

import uvicorn

from brain_core.logs import configure_logging
from brain_inference.app import create_app
from brain_inference.config import Settings


def main() -> None:
    configure_logging("brain_inference")
    # The poller asks the registry again every interval: MLflow's own long retry chain
    # (minutes while MLflow starts) would only delay start-up and /health.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    settings = Settings()  # type: ignore[call-arg]
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None)


if __name__ == "__main__":
    main()
