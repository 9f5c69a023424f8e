"""Run real node processes for end-to-end tests: start, wait for health, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ports import free_port

PASSPHRASE = "test passphrase"
FAST_KDF = {"time_cost": 1, "memory_cost": 8 * 1024, "parallelism": 1}


class NodeProcess:
    """``eduledger run`` as a child process on a private port."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict[str, str] | None = None, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"node-{self.port}.log"

    def start(self, timeout: float = 60) -> "NodeProcess":
        env = {**os.environ, "EDULEDGER_KEY_PASSPHRASE": PASSPHRASE, **self.extra_env}
        args = [sys.executable, "-m", "ledger.cli.main", "run", "--no-demo", "--data-dir", str(self.data_dir), "--port", str(self.port)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(self.url + "/api/v1/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"node did not become healthy:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown hooks run."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
