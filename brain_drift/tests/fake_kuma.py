"""A stand-in for Uptime Kuma's push endpoint, served over real HTTP on 127.0.0.1.

It follows Uptime Kuma's push contract: ``GET /api/push/<token>?status=up|down&msg=&ping=``
answers 200 ``{"ok":true}`` for the monitor's token and 404
``{"ok":false,"msg":"Monitor not found or not active."}`` for any other token; every push
is recorded. ``stop()`` and ``start()`` again on the same port simulate an outage.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Push:
    token: str
    status: str
    msg: str
    ping: str
    time: float


class FakeKuma:
    """Records pushes to ``/api/push/<token>``; ``url`` is the push URL to configure."""

    def __init__(self, token: str = "Kx7pQ2mZr9", port: int = 0) -> None:
        self.token = token
        self.port = port
        self.pushes: list[Push] = []
        self.rejected: list[Push] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/push/{self.token}"

    def start(self) -> FakeKuma:
        kuma = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query,
                                                       keep_blank_values=True).items()}
                if not parts.path.startswith("/api/push/"):
                    self._reply(404, {"ok": False, "msg": "Not Found"})
                    return
                push = Push(token=parts.path[len("/api/push/"):], status=query.get("status", ""),
                            msg=query.get("msg", ""), ping=query.get("ping", ""),
                            time=time.monotonic())
                with kuma._lock:
                    if push.token != kuma.token:
                        kuma.rejected.append(push)
                        accepted = False
                    else:
                        kuma.pushes.append(push)
                        accepted = True
                if accepted:
                    self._reply(200, {"ok": True})
                else:
                    self._reply(404, {"ok": False, "msg": "Monitor not found or not active."})

            def _reply(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def statuses(self) -> list[str]:
        with self._lock:
            return [p.status for p in self.pushes]

    def transitions(self) -> list[str]:
        """The statuses with consecutive repeats collapsed: what Kuma notifies about."""
        out: list[str] = []
        for status in self.statuses():
            if not out or out[-1] != status:
                out.append(status)
        return out

    def wait_for(self, predicate, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.05)
        return predicate(self)
