"""The local fleet: BRAIN's services as local processes under honcho (a Procfile runner).

honcho starts every process of a generated Procfile, prefixes their output, and stops
all of them when one dies or when it is told to stop; :class:`Fleet` only writes the
Procfile, starts honcho in its own process group, waits for each ``/health``, and stops
the group on exit or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from brain_core.errors import DependencyError
from brain_receiver.auth import hash_password

#: DESIGN.md's ports; a busy one is replaced by a free one.
DEFAULT_PORTS = {"mlflow": 5000, "transform": 8001, "inference": 8002, "receiver": 8000,
                 "drift": 8003}


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _pick_port(preferred: int) -> int:
    if _port_free(preferred):
        return preferred
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Fleet:
    """Processes of the local fleet and where they listen."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    collector: str = "demo"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)
    poll_interval_s: float = 2.0
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def spool_dir(self) -> Path:
        return self.workdir / "spool"

    @property
    def log_path(self) -> Path:
        return self.workdir / "fleet.log"

    @property
    def raw_repo(self) -> Path:
        return self.workdir / "data" / "raw"

    @property
    def feature_repo(self) -> Path:
        return self.workdir / "data" / "features"

    @property
    def drift_reports(self) -> Path:
        return self.workdir / "drift"

    @property
    def label_key_file(self) -> Path:
        """The demo's label key (made at the first start, kept with its data)."""
        return self.workdir / "secrets" / "label_key"

    def ensure_label_key(self) -> None:
        """Create the label key once: labels are encrypted at rest, with no default key."""
        from brain_data.label_keys import create_key_file

        if not self.label_key_file.exists():
            create_key_file(self.label_key_file)

    def _procfile(self) -> str:
        python = shlex.quote(sys.executable)
        mlflow = shlex.quote(str(Path(sys.executable).with_name("mlflow")))
        work = self.workdir
        return "\n".join([
            f"mlflow: {mlflow} server --backend-store-uri sqlite:///{work}/mlflow.db "
            f"--artifacts-destination {work}/mlartifacts --host 127.0.0.1 "
            f"--port {self.ports['mlflow']} --workers 1",
            f"transform: {python} -m brain_transform_service",
            f"inference: {python} -m brain_inference",
            f"receiver: {python} -m brain_receiver",
            f"drift: {python} -m brain_drift",
            f"data: {python} -m brain_data",
        ]) + "\n"

    def _env(self) -> dict[str, str]:
        return {
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "BRAIN_TRANSFORM_PORT": str(self.ports["transform"]),
            "BRAIN_INFERENCE_PORT": str(self.ports["inference"]),
            "BRAIN_INFERENCE_TRACKING_URI": self.url("mlflow"),
            "BRAIN_INFERENCE_TRANSFORM_URL": self.url("transform"),
            "BRAIN_INFERENCE_POLL_INTERVAL_S": str(self.poll_interval_s),
            "BRAIN_RECEIVER_PORT": str(self.ports["receiver"]),
            "BRAIN_RECEIVER_SPOOL_DIR": str(self.spool_dir),
            "BRAIN_RECEIVER_STATE_DIR": str(self.workdir / "receiver-state"),
            "BRAIN_RECEIVER_CREDENTIALS_FILE": str(self.workdir / "receiver-credentials"),
            "BRAIN_RECEIVER_INFERENCE_URL": self.url("inference"),
            "BRAIN_RECEIVER_DRIFT_URL": self.url("drift"),
            "BRAIN_DRIFT_PORT": str(self.ports["drift"]),
            "BRAIN_DRIFT_REPORTS_DIR": str(self.drift_reports),
            **self.data_env(),
        }

    def data_env(self) -> dict[str, str]:
        """Where brain_data and the pipeline keep the repositories and their remotes."""
        remote = self.workdir / "dvc-remote"
        return {
            "BRAIN_DATA_SPOOL_DIR": str(self.spool_dir),
            "BRAIN_DATA_RAW_REPO": str(self.raw_repo),
            "BRAIN_DATA_FEATURE_REPO": str(self.feature_repo),
            "BRAIN_DATA_RAW_REMOTE": str(remote / "raw"),
            "BRAIN_DATA_FEATURE_REMOTE": str(remote / "features"),
            "BRAIN_DATA_RESCAN_INTERVAL_S": "5",
            "BRAIN_LABEL_KEY_FILE": str(self.label_key_file),
            "BRAIN_PIPELINE_RAW_REPO": str(self.raw_repo),
            "BRAIN_PIPELINE_FEATURE_REPO": str(self.feature_repo),
            "BRAIN_PIPELINE_TRANSFORM_URL": self.url("transform"),
        }

    def start(self, timeout_s: float = 180.0) -> None:
        """Start honcho and wait until every service answers /health."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ensure_label_key()
        for name, preferred in DEFAULT_PORTS.items():
            self.ports.setdefault(name, _pick_port(preferred))
        (self.workdir / "receiver-credentials").write_text(
            f"{self.collector}:{hash_password(self.password)}\n")
        (self.workdir / "receiver-credentials").chmod(0o600)
        procfile = self.workdir / "Procfile"
        procfile.write_text(self._procfile())
        honcho = str(Path(sys.executable).with_name("honcho"))
        with open(self.log_path, "ab") as log:  # honcho keeps its own descriptor
            self._proc = subprocess.Popen(
                [honcho, "-f", str(procfile), "-d", str(self.workdir), "--no-colour", "start"],
                env={**os.environ, **self._env()}, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        pending = dict(self.ports)
        while pending and time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise DependencyError(
                    f"the fleet stopped while starting (honcho exited {self._proc.returncode});"
                    f" see {self.log_path}:\n{self.log_path.read_text()[-2000:]}")
            for name in list(pending):
                try:
                    if httpx.get(f"{self.url(name)}/health", timeout=2).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        if pending:
            self.stop()
            raise DependencyError(f"{sorted(pending)} did not become healthy within "
                                  f"{timeout_s:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        """Stop honcho and every process it started (SIGTERM, then SIGKILL)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        # honcho runs each service in a process group of its own and, on SIGTERM, stops
        # them all (SIGKILL after its own grace period) before it exits.
        self._proc.send_signal(signal.SIGTERM)
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            for pid in re.findall(r"started with pid (\d+)", self.log_path.read_text()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(int(pid), signal.SIGKILL)

    def __enter__(self) -> Fleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
