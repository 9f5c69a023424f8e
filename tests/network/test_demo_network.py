"""``eduledger demo``: three node processes on loopback, seeded with demo data on the
sequencer's node; stopped and started again, everything is still there.

Real processes, loopback only; every wait polls with a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from portfolio_api.demo import DEMO_INSTITUTIONS, DEMO_PASSWORD, DEMO_TEMPLATES
from tests.netutil import wait_until

pytestmark = pytest.mark.slow

MARIA = "maria@demo.eduledger.example"


def three_free_ports() -> int:
    """A base port whose next two ports are free on 127.0.0.1 too."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base > 65000:
            continue
        try:
            for port in range(base, base + 3):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no three consecutive free ports")


class Demo:
    def __init__(self, root: Path, base_port: int) -> None:
        self.root, self.base_port = root, base_port
        self.urls = [f"http://127.0.0.1:{base_port + n}" for n in range(len(DEMO_INSTITUTIONS))]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root.parent / "demo.log"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDULEDGER_")}
        args = [sys.executable, "-m", "ledger.cli.main", "demo", "--root", str(self.root), "--base-port", str(self.base_port)]
        out = open(self.log, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        # Its own process group, so a failed test can still stop the demo and its nodes.
        self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        for url in self.urls:
            wait_until(f"{url} to be healthy", lambda url=url: self._healthy(url), timeout=120)

    def _healthy(self, url: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the demo exited with {self.proc.returncode}:\n{self.log.read_text(errors='replace')[-3000:]}")
        return httpx.get(url + "/api/v1/health", timeout=2).status_code == 200

    def stop(self) -> int:
        """SIGTERM, as a service manager would: the demo stops its nodes and exits."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill_group(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def status(self, n: int) -> dict:
        return httpx.get(self.urls[n] + "/api/v1/ledger/status", timeout=5).json()


def portfolio_of_maria(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as c:
        c.get("/login")
        r = c.post("/login", data={"email": MARIA, "password": DEMO_PASSWORD, "csrf": c.cookies.get("edu_csrf")})
        assert r.status_code == 303, r.text[:500]
        page = c.get("/portfolio")
        assert page.status_code == 200
        return page.text


def test_the_demo_network_is_seeded_and_keeps_everything_across_a_restart(tmp_path):
    demo = Demo(tmp_path / "demo-network", three_free_ports())
    try:
        demo.start()
        seeded = wait_until("maria's demo credentials on the sequencer's node", lambda: DEMO_TEMPLATES[0][2] in portfolio_of_maria(demo.urls[0]))
        assert seeded
        size = demo.status(0)["size"]
        assert size > 3  # the genesis entries and the demo credentials' anchors
        wait_until("both replicas to mirror the final log", lambda: all(demo.status(n)["final_size"] == size for n in range(3)))
        assert demo.stop() == 0
        for url in demo.urls:  # every node stopped with it
            with pytest.raises(httpx.HTTPError):
                httpx.get(url + "/api/v1/health", timeout=2)

        demo.start()
        assert [demo.status(n)["size"] for n in range(3)] == [size] * 3  # nothing lost, nothing seeded twice
        page = portfolio_of_maria(demo.urls[0])
        assert DEMO_TEMPLATES[0][2] in page and DEMO_TEMPLATES[2][2] in page
        assert demo.stop() == 0
    finally:
        demo.kill_group()
