"""``python -m brain_receiver``: serve the receiver with uvicorn (host/port from settings).

uvicorn's own limits complement the app's (brain_receiver.limits, brain_core.http):
``limit_concurrency`` answers 503 beyond that many connections at once instead of
queueing without bound, idle keep-alive connections are closed after
``keep_alive_timeout_s``, and ``X-Forwarded-For`` is trusted only from
``forwarded_allow_ips`` (the proxy), so per-address limits see the real client. uvicorn
has no time limit on reading request headers: in self-hosting the proxy (Caddy) has it.
"""

import uvicorn

from brain_core.logs import configure_logging
from brain_receiver.app import create_app
from brain_receiver.config import Settings


def main() -> None:
    configure_logging("brain_receiver")
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=None, timeout_graceful_shutdown=10,
                limit_concurrency=settings.limit_concurrency,
                timeout_keep_alive=settings.keep_alive_timeout_s,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)


if __name__ == "__main__":
    main()
