"""Helpers for tests and benchmarks: real servers as child processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A child process serving HTTP on 127.0.0.1, stopped (and reaped) on close.

    ``health`` is the path polled until the server answers; None for a process without
    an HTTP endpoint (a watcher), which counts as started once spawned.
    """

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str],
                 log_dir: Path, health: str | None = "/health", timeout_s: float = 60.0
                 ) -> None:
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_dir / f"{name}-{port}.log"
        self._argv, self._env, self._health, self._timeout_s = argv, env, health, timeout_s
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self._argv, env={**os.environ, **self._env},
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        if self._health is None:  # no HTTP endpoint: the caller knows when it is ready
            return
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see "
                                   f"{self.log_path}:\n{self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + self._health, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {self._health} within "
                           f"{self._timeout_s} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


class TcpProxy:
    """A TCP relay on 127.0.0.1 in front of a real server, to cut the network and restore it.

    Stopping a server that keeps its state in memory (moto's S3 server) would lose that
    state; cutting the relay is a faithful outage instead: new connections are refused and
    the open ones are reset, while the server behind keeps everything. :meth:`restore`
    listens again on the same port.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.restore()

    @property
    def cut_off(self) -> bool:
        return self._listener is None

    def restore(self) -> None:
        """Accept connections again (on the same port)."""
        if self._listener is not None:
            return
        listener = socket.create_server(("127.0.0.1", self.port))
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept",
                         daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = list(self._open), set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close with a reset, as a dropped link looks to a client;
                # SHUT_RD first wakes the relay thread blocked in recv() on it.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed: cut
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    client.close()
                    upstream.close()
                    return
                self._open.update((client, upstream))
            done = threading.Semaphore(0)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink, done),
                                 name="proxy-pipe", daemon=True).start()
            threading.Thread(target=self._close_when_done, args=(client, upstream, done),
                             name="proxy-close", daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket, done: threading.Semaphore) -> None:
        """Copy one direction; at its end, pass the end on (half-close) and say so."""
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
            sink.shutdown(socket.SHUT_WR)
        except OSError:  # reset, or closed by cut(): end the other direction too
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        finally:
            done.release()

    def _close_when_done(self, client: socket.socket, upstream: socket.socket,
                         done: threading.Semaphore) -> None:
        for _ in range(2):
            done.acquire()
        with self._lock:
            self._open.difference_update((client, upstream))
        client.close()
        upstream.close()
