"""``eduledger demo``: one node process per demo institution on loopback, seeded with demo
data on the sequencer's node; stopped and started again, everything is still there. It
supervises its nodes: one that is killed is reported and started again while the others
keep answering; one stopped on request stays down until the demo is asked to start it.

Real processes, loopback only; every wait polls with a deadline, and every process a
test starts is stopped in its ``finally``. The restart policy itself is checked exactly,
with injected times, at the end."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.cli.demo import FIRST_BACKOFF, MAX_RESTARTS, RestartBudget, describe_exit, stopped_on_request
from portfolio_api.demo import DEMO_INSTITUTIONS, DEMO_PASSWORD, DEMO_TEMPLATES
from tests.netutil import wait_until
from tests.ports import free_port

MARIA = "maria@demo.eduledger.example"
NODES = len(DEMO_INSTITUTIONS)
# A banner line: "<institution> <url>/  (<role>, pid <pid>)".
BANNER_LINE = re.compile(r"^(\S+)\s+(http://\S+)/\s+\((.+), pid (\d+)\)$", re.MULTILINE)


def consecutive_free_ports(n: int = NODES) -> int:
    """A base port whose next ``n - 1`` ports are free on 127.0.0.1 too."""
    return free_port(n)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EDULEDGER_")}


class Demo:
    def __init__(self, root: Path, base_port: int) -> None:
        self.root, self.base_port = root, base_port
        self.urls = [f"http://127.0.0.1:{base_port + n}" for n in range(NODES)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root.parent / "demo.log"

    def start(self) -> None:
        env = clean_env()
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
        print(f"--- the demo's output (the last 6000 characters) ---\n{self.output()[-6000:]}")  # shown if the test failed
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def status(self, n: int) -> dict:
        r = httpx.get(self.urls[n] + "/api/v1/ledger/status", timeout=5)
        if r.status_code != 200:  # e.g. 404 from a replica that has mirrored no checkpoint yet
            raise httpx.HTTPStatusError(f"{r.request.url}: {r.status_code} {r.text[:300]}", request=r.request, response=r)
        return r.json()

    def all_answer_status(self) -> bool:
        return all(self.status(n)["size"] > 0 for n in range(NODES))

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def banner(self) -> dict[str, tuple[str, str, int]]:
        """institution -> (url, role, pid) from the startup banner of the latest start."""
        return {m[1]: (m[2], m[3], int(m[4])) for m in BANNER_LINE.finditer(self.output())}  # later lines win

    def replica(self) -> int:
        """The index of the first node that is not the sequencer's."""
        banner = wait_until("the demo's banner", lambda: len(self.banner()) == NODES and self.banner(), timeout=30)
        return next(n for n, inst in enumerate(DEMO_INSTITUTIONS) if "sequencer" not in banner[inst.id][1])

    def line(self, *parts: str) -> str | None:
        """The first line of the demo's output that holds every one of ``parts``."""
        return next((ln for ln in self.output().splitlines() if all(p in ln for p in parts)), None)


def submit_anchor(demo: "Demo", *, wait: str) -> httpx.Response:
    """An anchor signed with the sequencing institution's key from its demo directory, sent to its node."""
    import hashlib

    from keys.keyfile import load_signer
    from ledger.model.entries import Statement, sign_batch
    from ledger.node.datadir import demo_passphrase_file, load_genesis
    from ledger.tlog.timefmt import format_time

    seq = DEMO_INSTITUTIONS[0].id
    data = demo.root / seq
    genesis = load_genesis(data)
    passphrase = demo_passphrase_file(data).read_bytes().removesuffix(b"\n")  # as keys.passphrase reads the file
    signer = load_signer(data / "keys" / f"{seq}.signing.key", passphrase)[0]
    digest = hashlib.sha256(f"demo-test-{time.time_ns()}".encode()).hexdigest()
    st = Statement(genesis.network, "credential.anchor", seq, {"digest": digest, "type": "olympiad-diploma", "issued_at": format_time(int(time.time()) - 5)})
    body = {"entries": [e.to_json() for e in sign_batch([st], signer)]}
    return httpx.post(demo.urls[0] + f"/api/v1/ledger/entries?wait={wait}&timeout=30", json=body, timeout=60)


def portfolio_of_maria(url: str) -> str:
    with httpx.Client(base_url=url, timeout=10) as c:
        c.get("/login")
        r = c.post("/login", data={"email": MARIA, "password": DEMO_PASSWORD, "csrf": c.cookies.get("edu_csrf")})
        assert r.status_code == 303, r.text[:500]
        page = c.get("/portfolio")
        assert page.status_code == 200
        return page.text


@pytest.mark.slow
def test_the_demo_network_is_seeded_and_keeps_everything_across_a_restart(tmp_path):
    demo = Demo(tmp_path / "demo-network", consecutive_free_ports())
    try:
        demo.start()
        seeded = wait_until("maria's demo credentials on the sequencer's node", lambda: DEMO_TEMPLATES[0][2] in portfolio_of_maria(demo.urls[0]))
        assert seeded
        size = demo.status(0)["size"]
        assert size > 3  # the genesis entries and the demo credentials' anchors
        wait_until("every replica to mirror the final log", lambda: all(demo.status(n)["final_size"] == size for n in range(NODES)))
        assert demo.stop() == 0
        for url in demo.urls:  # every node stopped with it
            with pytest.raises(httpx.HTTPError):
                httpx.get(url + "/api/v1/health", timeout=2)

        demo.start()
        assert [demo.status(n)["size"] for n in range(NODES)] == [size] * NODES  # nothing lost, nothing seeded twice
        page = portfolio_of_maria(demo.urls[0])
        assert DEMO_TEMPLATES[0][2] in page and DEMO_TEMPLATES[2][2] in page
        assert demo.stop() == 0
    finally:
        demo.kill_group()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def restarted_pid(demo: Demo, inst: str) -> int | None:
    line = demo.line(f"started {inst} again (pid ")
    return int(re.search(r"\(pid (\d+)\)", line)[1]) if line else None


@pytest.mark.slow
def test_a_killed_witness_node_is_reported_and_restarted_while_the_others_keep_answering(tmp_path):
    demo = Demo(tmp_path / "demo-network", consecutive_free_ports())
    try:
        demo.start()
        wait_until("every node to answer its ledger status", demo.all_answer_status, timeout=60)
        victim = demo.replica()
        inst, url = DEMO_INSTITUTIONS[victim].id, demo.urls[victim]
        pids = {i: pid for i, (_, _, pid) in demo.banner().items()}
        others = [n for n in range(NODES) if n != victim]

        os.kill(pids[inst], signal.SIGKILL)
        report = wait_until("the demo to report the killed node", lambda: demo.line(inst, "was killed by SIGKILL", url), timeout=30)
        assert f"{NODES - 1} of {NODES} nodes still running" in report
        assert demo.proc.poll() is None  # the demo did not stop
        for n in others:  # the other nodes were neither stopped nor restarted
            assert demo.status(n)["size"] > 0
            assert alive(pids[DEMO_INSTITUTIONS[n].id])
        assert demo.line(f"starting {inst} again in {FIRST_BACKOFF:g}s (restart 1 of at most {MAX_RESTARTS} ")

        new_pid = wait_until("the demo to start the killed node again", lambda: restarted_pid(demo, inst), timeout=30)
        assert new_pid != pids[inst]
        wait_until(f"{inst} to answer again", lambda: demo.status(victim)["size"] > 0, timeout=60)
        final = demo.status(others[0])["final_size"]
        wait_until(f"{inst} to mirror the final log again", lambda: demo.status(victim)["final_size"] >= final, timeout=60)
        assert not any(demo.line(f"started {DEMO_INSTITUTIONS[n].id} again") for n in others)

        assert demo.stop() == 0
        for node_url in demo.urls:  # the restarted node stopped with the others
            with pytest.raises(httpx.HTTPError):
                httpx.get(node_url + "/api/v1/health", timeout=2)
    finally:
        demo.kill_group()


@pytest.mark.slow
def test_a_node_stopped_on_request_stays_down_and_starts_by_the_printed_command_or_sigusr1(tmp_path):
    demo = Demo(tmp_path / "demo-network", consecutive_free_ports())
    by_hand: subprocess.Popen[bytes] | None = None
    try:
        demo.start()
        wait_until("every node to answer its ledger status", demo.all_answer_status, timeout=60)
        victim = demo.replica()
        inst, url = DEMO_INSTITUTIONS[victim].id, demo.urls[victim]
        _, _, pid = demo.banner()[inst]

        os.kill(pid, signal.SIGTERM)
        report = wait_until("the demo to report the stopped node", lambda: demo.line(inst, "stays down", "by hand: "), timeout=30)
        assert wait_until("the exit to be reported", lambda: demo.line(inst, url, "SIGTERM"), timeout=5)
        time.sleep(3 * FIRST_BACKOFF)  # longer than the first back-off: a failed node would be back by now
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/api/v1/health", timeout=2)
        assert restarted_pid(demo, inst) is None
        # With that witness down, new entries still become final: quorum 2 of the 3 besides the sequencer.
        r = submit_anchor(demo, wait="final")
        assert r.status_code == 200 and r.json()["final"] is True, r.text

        # The printed command starts it by hand, outside the demo's supervision.
        command = shlex.split(report.split("by hand: ", 1)[1])
        with open(tmp_path / "by-hand.log", "ab") as out:
            by_hand = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=clean_env(), stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(f"{inst} started by hand to answer", lambda: demo.status(victim)["size"] > 0, timeout=60)
        by_hand.send_signal(signal.SIGTERM)
        by_hand.wait(30)

        # SIGUSR1 asks the demo to start every stopped node again, supervised.
        os.kill(demo.proc.pid, signal.SIGUSR1)
        wait_until("the demo to start the node again", lambda: restarted_pid(demo, inst), timeout=30)
        wait_until(f"{inst} to answer again", lambda: demo.status(victim)["size"] > 0, timeout=60)
        assert demo.stop() == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(url + "/api/v1/health", timeout=2)
    finally:
        if by_hand is not None:  # its session too: a helper process it started must not outlive the test
            try:
                os.killpg(by_hand.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            by_hand.wait(10)
        demo.kill_group()


# --- the restart policy, with injected times -----------------------------------------


def test_the_back_off_doubles_with_each_restart_inside_the_window():
    budget = RestartBudget(limit=3, window=60, first_backoff=1)
    assert budget.next_start(100) == 101
    budget.record(101)
    assert budget.next_start(102) == 104
    budget.record(104)
    assert budget.next_start(105) == 109
    budget.record(109)
    assert budget.spent(110) == 3


def test_a_crash_loop_is_left_down_once_the_restarts_of_a_window_are_spent():
    budget = RestartBudget(limit=3, window=60, first_backoff=1)
    for at in (101, 104, 109):
        budget.record(at)
    assert budget.next_start(110) is None
    assert budget.next_start(160.9) is None  # 101 is still inside the window
    assert budget.next_start(161) == 165  # 101 left it: two restarts inside, a back-off of 4 s


def test_a_reset_budget_starts_again_from_the_first_back_off():
    budget = RestartBudget(limit=2, window=60, first_backoff=0.5)
    budget.record(10)
    budget.record(11)
    assert budget.next_start(12) is None
    budget.reset()
    assert budget.next_start(12) == 12.5


@pytest.mark.parametrize("limit, window, first_backoff", [(0, 60, 1), (5, 0, 1), (5, 60, 0), (5, 60, -1)])
def test_a_budget_that_could_never_restart_or_would_spin_is_refused(limit, window, first_backoff):
    with pytest.raises(ValueError):
        RestartBudget(limit=limit, window=window, first_backoff=first_backoff)


def test_an_exit_is_told_by_its_code_or_its_signal():
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(-200) == "was killed by signal 200"


@pytest.mark.parametrize("returncode", [0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP])
def test_a_clean_exit_counts_as_stopped_on_request(returncode):
    assert stopped_on_request(returncode)


@pytest.mark.parametrize("returncode", [1, 2, -signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT])
def test_a_crash_or_a_kill_counts_as_a_failure(returncode):
    assert not stopped_on_request(returncode)
