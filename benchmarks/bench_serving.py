"""Upload-to-prediction round trip through receiver -> inference -> transform, on localhost.

A day phase (31 items x 10 repetitions, ~157 s of 8-channel EEG at 256 Hz) is uploaded
again and again as new sessions: p50/p95 of 100 sequential uploads, then throughput with
16 concurrent clients. A real MLflow server (sqlite), real uvicorn servers.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from brain_core.codec import MEDIA_TYPE, encode_recording
from brain_core.testing import Server, free_port
from brain_receiver.auth import hash_password
from brain_sim.simulate import make_subject, simulate_recording

PASSWORD = "benchmark-password-123"


def main() -> None:
    from brain_model.training import train_local

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        servers: list[Server] = []
        try:
            port = free_port()
            mlflow = Server("mlflow", [str(Path(sys.executable).with_name("mlflow")), "server",
                                       "--backend-store-uri", f"sqlite:///{root}/mlflow.db",
                                       "--artifacts-destination", str(root / "artifacts"),
                                       "--host", "127.0.0.1", "--port", str(port),
                                       "--workers", "1"], port,
                            {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, root,
                            timeout_s=120)
            servers.append(mlflow)
            train_local(mlflow.url, n_subjects=8, n_eval_subjects=3, repetitions=6,
                        years=(1990, 1999), progress=False)

            def start(module: str, env: dict[str, str]) -> Server:
                port = free_port()
                env = {k: v.format(port=port) for k, v in env.items()}
                server = Server(module, [sys.executable, "-m", module], port, env, root,
                                timeout_s=120)
                servers.append(server)
                return server

            transform = start("brain_transform_service", {"BRAIN_TRANSFORM_PORT": "{port}"})
            inference = start("brain_inference", {
                "BRAIN_INFERENCE_PORT": "{port}", "BRAIN_INFERENCE_TRACKING_URI": mlflow.url,
                "BRAIN_INFERENCE_TRANSFORM_URL": transform.url})
            (root / "creds").write_text(f"bench:{hash_password(PASSWORD)}\n")
            receiver = start("brain_receiver", {
                "BRAIN_RECEIVER_PORT": "{port}",
                "BRAIN_RECEIVER_CREDENTIALS_FILE": str(root / "creds"),
                "BRAIN_RECEIVER_SPOOL_DIR": str(root / "spool"),
                "BRAIN_RECEIVER_STATE_DIR": str(root / "state"),
                "BRAIN_RECEIVER_INFERENCE_URL": inference.url})

            person = make_subject("BENCH", preset="realistic", seed=3, years=(1990, 1999))
            day = simulate_recording(person, "day", preset="realistic", repetitions=10,
                                     years=(1990, 1999), seed=3)

            def upload(client: httpx.Client) -> float:
                rec = day.model_copy(update={"session_id": uuid.uuid4()})
                payload = encode_recording(rec)
                started = time.perf_counter()
                response = client.put(
                    f"{receiver.url}/v1/sessions/{rec.session_id}/phases/day",
                    content=payload, headers={"Content-Type": MEDIA_TYPE})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200 and response.json()["prediction"], \
                    response.text
                return elapsed

            auth = ("bench", PASSWORD)
            with httpx.Client(auth=auth, timeout=60) as client:
                for _ in range(5):
                    upload(client)  # warm-up
                times = [upload(client) for _ in range(100)]
            n_total, workers = 160, 16
            clients = [httpx.Client(auth=auth, timeout=120) for _ in range(workers)]
            started = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(upload, [clients[i % workers] for i in range(n_total)]))
            wall = time.perf_counter() - started
            for c in clients:
                c.close()
        finally:
            for server in reversed(servers):
                server.stop()
    ms = np.array(times) * 1000
    print("| metric | value |")
    print("|---|---|")
    print(f"| payload | {len(encode_recording(day)) / 1e6:.2f} MB "
          f"({day.duration_s:.0f} s, {day.n_channels} ch, {day.sfreq:g} Hz) |")
    print(f"| sequential round trip p50 | {statistics.median(ms):.0f} ms |")
    print(f"| sequential round trip p95 | {np.percentile(ms, 95):.0f} ms |")
    print(f"| sequential round trip max | {ms.max():.0f} ms |")
    print(f"| 16 concurrent clients | {n_total / wall:.1f} uploads/s ({n_total} uploads "
          f"in {wall:.1f} s) |")


if __name__ == "__main__":
    main()
