"""`moderation serve --rules-only` as a real process on its own port, for the tests that need one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """Runs with `MODERATION_DATA_DIR=tmp`; its stderr (the JSON log) goes to a file in `tmp`."""

    def __init__(self, tmp: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # A file, not a pipe: nobody reads a pipe while the server runs, and a full one would block it.
        self.log = tmp / f"serve-{self.port}.log"
        command = [sys.executable, "-m", "moderation", "serve", "--port", str(self.port), "--rules-only"]
        full_env = {**os.environ, "MODERATION_DATA_DIR": str(tmp), **(env or {})}
        # Each server with several workers must make its own metrics dir, not share an inherited one.
        full_env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, *args], stdout=subprocess.DEVNULL, stderr=log, env=full_env
            )

    def wait_ready(self, path: str = "/readyz", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited {self.process.returncode}: {self.log.read_text()[-2000:]}"
                )
            try:
                if httpx.get(self.base + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server on {self.base} not ready: {self.log.read_text()[-2000:]}")

    def stop(self) -> int:
        """SIGTERM, so it drains as in production; kill only if it hangs. Returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]
