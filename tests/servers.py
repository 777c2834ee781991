"""Real `ivr serve` processes for tests that need a server over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "two-process-token"
PUBLIC_URL = "https://ivr.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_servers(database_url: str, count: int, log_dir: Path,
                  **extra_env: str) -> tuple[list[subprocess.Popen], list[str]]:
    """`count` servers on one database, each logging to `log_dir/server-N.log`."""
    env = {**os.environ, "IVR_DATABASE_URL": database_url, "TWILIO_AUTH_TOKEN": TOKEN,
           "IVR_PUBLIC_URL": PUBLIC_URL, "IVR_CONFIG_DIR": str(ROOT / "config"),
           "IVR_DIALOGS": str(ROOT / "dialogs"), "IVR_TTS": "twilio", **extra_env}
    subprocess.run([sys.executable, "-m", "ivr.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    processes, urls, logs = [], [], []
    for number in range(count):
        port = free_port()
        logs.append(log_dir / f"server-{number}.log")
        with logs[-1].open("wb") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "ivr.cli", "serve", "--port", str(port), "--workers", "1"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        urls.append(f"http://127.0.0.1:{port}")
    for url, log, process in zip(urls, logs, processes, strict=True):
        wait_for_health(url, process, log)
    return processes, urls


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """`ivr serve` with one worker on `port`, logging to `log`; returns once it answers."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "serve", "--port", str(port), "--workers", "1"],
            env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT)
    wait_for_health(f"http://127.0.0.1:{port}", process, log)
    return process


def wait_for_health(url: str, process: subprocess.Popen, log: Path,  # type: ignore[type-arg]
                    timeout: float = 60) -> None:
    """Until `url`/healthz answers 200; RuntimeError with the log's tail if the server died."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.terminate()
            output = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"server at {url} did not start:\n{output}")
        time.sleep(0.2)
