"""Several node processes of one institution on one PostgreSQL: exactly one writes, and failover loses nothing.

The writer role is a PostgreSQL advisory lock (ledger/network/leader.py). These tests run on a server of
their own with fsync, synchronous_commit and full_page_writes on (``durable_pg_store_url``,
tests/conftest.py), with quorum 2 of the institutions besides the sequencer, under a write load from
several concurrent submitters:

- the leader is killed with SIGKILL at moments drawn from the write stream (after a number of
  acknowledged entries chosen by a seeded random.Random), in several rounds, the killed process
  returning as a standby each time;
- the leader is paused with SIGSTOP while its lock session is terminated (``pg_terminate_backend``),
  the standby takes over and sequences, then the old leader is resumed: it commits nothing more
  (a trigger records which process committed every row) and exits, saying it lost the role.

After each round and at the end: every acknowledged entry is in the log, and every final one too;
every final checkpoint any node served, and every one stored, verifies (log signature, quorum of
witnesses other than the sequencer's) and extends the one before it (RFC 9162 consistency proofs); and
once the load stops, every node serves the same size and root, all of it final.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa

from ledger.network.leader import lock_key
from ledger.storage.sql import normalize_url
from ledger.tlog import merkle
from ledger.tlog.checkpoint import verify_checkpoint
from ledger.tlog.encoding import b64d
from ledger.tlog.note import Verifier
from ledger.tlog.tree import Tree
from tests.conftest import PrivatePostgres, fresh_database
from tests.netutil import NETWORK, SEQ, Network, all_leaf_hashes, audit, wait_until
from tests.nodeproc import NodeProcess

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SEED = 15  # the rounds' moments come from random.Random(SEED): a failure reruns the same schedule
ENV = {"EDULEDGER_BATCH_MS": "50", "EDULEDGER_BATCH_MAX": "64"}
REPLICAS = ("ipk", "uni")


@pytest.fixture
def witness_db_url(durable_postgres_server: PrivatePostgres):
    """The sequencer's own witness state, shared by its processes in a database apart from the log's
    (``--witness-db``, ledger/node/witnessdir.py): one witness directory serves one process otherwise."""
    yield from fresh_database(durable_postgres_server)


def _env(witness_db: str) -> dict[str, str]:
    return {**ENV, "EDULEDGER_WITNESS_DB": witness_db}


def _audit(net: Network, log_db: str, witness_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDULEDGER_WITNESS_DB", witness_db)  # the nodes have stopped: only the audit sees it
    result = audit(net.dirs[SEQ], log_db)
    assert result.returncode == 0, result.stdout + result.stderr


class Writers:
    """Several submitters posting signed batches concurrently to ``target()``; every acknowledged leaf hash
    is recorded. A batch whose request failed or was refused is not acknowledged, and is never counted.

    ``when_acked(n, action)`` runs ``action`` in the submitter thread that records the n-th acknowledged
    entry: the moment of a fault is a point in the write stream, not a wall-clock sleep."""

    def __init__(self, net: Network, target: Callable[[], str], *, threads: int = 3, batch: int = 5, timeout: float = 30, first: int = 0) -> None:
        self.net, self.target, self.batch_n, self.timeout = net, target, batch, timeout
        self.acked: set[bytes] = set()
        self.not_acked = 0  # batches whose submitter was told no, or nothing
        self._counter = first  # the digests anchored: distinct across Writers given distinct ``first``
        self._lock = threading.Lock()
        self._trigger: tuple[int, Callable[[], None], threading.Event] | None = None
        self._running = threading.Event()
        self._running.set()
        self._busy = 0
        self._idle = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Writers":
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._running.set()
        for t in self._threads:
            t.join(self.timeout + 30)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def when_acked(self, n: int, action: Callable[[], None]) -> threading.Event:
        done = threading.Event()
        with self._lock:
            self._trigger = (n, action, done)
        return done

    def pause(self) -> None:
        """No new submission starts; returns when none is in flight."""
        self._running.clear()
        with self._idle:
            assert self._idle.wait_for(lambda: self._busy == 0, timeout=self.timeout + 30), "a submission did not finish"

    def resume(self) -> None:
        self._running.set()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout) as client:
            while not self._stop.is_set():
                self._running.wait()
                if self._stop.is_set():
                    return
                with self._lock:
                    if not self._running.is_set():
                        continue
                    first = self._counter
                    self._counter += self.batch_n
                    self._busy += 1
                try:
                    self._submit(client, first)
                finally:
                    with self._idle:
                        self._busy -= 1
                        self._idle.notify_all()

    def _submit(self, client: httpx.Client, first: int) -> None:
        body = self.net.batch("ipk", first, self.batch_n)
        try:
            r = client.post(self.target() + "/api/v1/ledger/entries", json=body)
        except httpx.HTTPError:
            with self._lock:
                self.not_acked += 1
            time.sleep(0.1)
            return
        if r.status_code != 200:
            with self._lock:
                self.not_acked += 1
            time.sleep(0.1)
            return
        hashes = [b64d(item["leaf_hash"], "leaf_hash", size=32) for item in r.json()["results"] if item["accepted"]]
        fire = None
        with self._lock:
            self.acked.update(hashes)
            if self._trigger is not None and len(self.acked) >= self._trigger[0]:
                fire, self._trigger = self._trigger, None
        if fire is not None:
            fire[1]()
            fire[2].set()


class FinalObserver:
    """Polls ``/checkpoint`` of every node and keeps each distinct final checkpoint it served (one that
    verifies with the quorum; a node without a final checkpoint serves its latest signed one)."""

    def __init__(self, net: Network, urls: Callable[[], list[str]]) -> None:
        self.net, self.urls = net, urls
        self.finals: dict[bytes, set[str]] = {}  # note -> the nodes that served it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "FinalObserver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                for url in self.urls():
                    try:
                        note = client.get(url + "/checkpoint").content
                    except httpx.HTTPError:
                        continue
                    if note not in self.finals and _final(self.net, note) is None:
                        continue
                    self.finals.setdefault(note, set()).add(url)
                self._stop.wait(0.1)


def _final(net: Network, note: bytes):
    """The verified checkpoint if ``note`` is final: the log's signature and ``quorum`` cosignatures of
    witnesses other than the sequencer's own; else None."""
    g = net.genesis
    try:
        return verify_checkpoint(
            note,
            log=Verifier.from_vkey(g.log_vkey),
            witnesses=[Verifier.from_vkey(f.witness_vkey) for f in g.founders if f.id != g.sequencer],
            quorum=g.quorum,
            origin=g.network,
        )
    except Exception:
        return None


def _stored_finals(url: str) -> list[bytes]:
    engine = sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as c:
            return [bytes(n) for n in c.execute(sa.text("SELECT note FROM final_checkpoints ORDER BY size")).scalars()]
    finally:
        engine.dispose()


def assert_final_chain(net: Network, notes: list[bytes], leaves: list[bytes]) -> int:
    """Every note is final, no two of one size differ, and each extends the one before it: an RFC 9162
    consistency proof between consecutive sizes verifies against both signed roots (so, by transitivity,
    every pair is consistent). The proofs are built from ``leaves``, a node's log; a proof verifies only
    if the signed roots are consistent, whoever supplied it. Returns how many distinct sizes there were."""
    by_size: dict[int, bytes] = {}
    for note in notes:
        v = _final(net, note)
        assert v is not None, f"a served or stored final checkpoint does not verify:\n{note.decode(errors='replace')}"
        cp = v.checkpoint
        assert by_size.setdefault(cp.size, cp.root) == cp.root, f"two final checkpoints of size {cp.size} disagree"
    tree = Tree(leaves)
    sizes = sorted(by_size)
    assert sizes and sizes[-1] <= len(leaves), (sizes[-1:], len(leaves))
    for old, new in zip(sizes, sizes[1:]):
        merkle.verify_consistency(old, new, by_size[old], by_size[new], tree.consistency_proof(old, new))
    assert tree.root(sizes[-1]) == by_size[sizes[-1]]
    return len(sizes)


def settle(net: Network, procs: list[NodeProcess], timeout: float = 120) -> tuple[int, bytes]:
    """Wait until every node (the processes on PostgreSQL and the replicas) serves one final checkpoint
    covering its whole log, the same on all; return its size and root."""
    urls = [p.url for p in procs] + [net.url(i) for i in REPLICAS]

    last: dict[str, object] = {}

    def agreed():
        seen = set()
        for url in urls:
            st = httpx.get(url + "/api/v1/ledger/status", timeout=5).json()
            v = _final(net, httpx.get(url + "/checkpoint", timeout=5).content)
            last[url] = (st["size"], st.get("final_size"), v and v.checkpoint.size)
            if st["size"] != st.get("final_size") or v is None:
                return None
            seen.add((v.checkpoint.size, v.checkpoint.root))
        return seen.pop() if len(seen) == 1 and next(iter(seen))[0] > 0 else None

    try:
        return wait_until("every node to serve the same final checkpoint of its whole log", agreed, timeout=timeout)
    except AssertionError as e:
        raise AssertionError(f"{e}; (size, final size, served final) per node: {last}") from None


def is_leader(p: NodeProcess) -> bool:
    return httpx.get(p.url + "/api/v1/network/status", timeout=10).json()["is_leader"] is True


def check_round(net: Network, procs: list[NodeProcess], acked: set[bytes], observer: FinalObserver, db_url: str) -> int:
    """The invariants, checked with the load paused: returns the settled size."""
    size, root = settle(net, procs)
    leaves = all_leaf_hashes(procs[0].url)
    assert len(leaves) == size and Tree(leaves).root(size) == root
    for url in [p.url for p in procs[1:]] + [net.url(i) for i in REPLICAS]:
        assert all_leaf_hashes(url) == leaves, url
    lost = acked - set(leaves)
    assert not lost, f"{len(lost)} acknowledged entries are not in the final log"
    assert_final_chain(net, list(observer.finals) + _stored_finals(db_url), leaves)
    return size


def test_the_leader_killed_at_random_moments_under_load_loses_no_acknowledged_entry_and_never_forks(
    tmp_path, durable_pg_store_url, witness_db_url, monkeypatch
):
    rng = random.Random(SEED)
    net = Network(tmp_path, quorum=2)
    # The first process listens at the institution's URL in peers.json, so the replicas mirror from it,
    # and from it again when it returns as a standby.
    first = NodeProcess(net.dirs[SEQ], database_url=durable_pg_store_url, env=_env(witness_db_url), port=net.ports[SEQ]).start()
    second = NodeProcess(net.dirs[SEQ], database_url=durable_pg_store_url, env=_env(witness_db_url)).start()
    procs = [first, second]
    net.start(*REPLICAS)
    alive = lambda: [p for p in procs if p.proc and p.proc.poll() is None]  # noqa: E731
    try:
        wait_until("exactly one leader", lambda: [is_leader(p) for p in procs] == [True, False])
        # A standby pushes writes back with 503 + Retry-After.
        r = httpx.post(second.url + "/api/v1/ledger/entries", json=net.batch("ipk", 10**6, 1), timeout=10)
        assert r.status_code == 503 and r.headers["retry-after"]
        observer = FinalObserver(net, lambda: [p.url for p in alive()] + [net.url(i) for i in REPLICAS])
        with observer, Writers(net, lambda: random.choice(alive()).url) as writers:
            sizes = []
            for _ in range(3):
                leader, standby = (first, second) if is_leader(first) else (second, first)
                assert is_leader(leader) and not is_leader(standby)
                kill_at = writers.count() + rng.randint(20, 300)
                killed = writers.when_acked(kill_at, leader.kill)
                assert killed.wait(120), "the load did not reach the moment of the kill"
                wait_until("the standby to take over", lambda: is_leader(standby), timeout=60)
                more = writers.count() + rng.randint(20, 100)
                wait_until("the load to continue on the new leader", lambda: writers.count() >= more, timeout=60)
                leader.start()  # back as a standby
                assert not is_leader(leader)
                writers.pause()
                sizes.append(check_round(net, [standby, leader], writers.acked, observer, durable_pg_store_url))
                writers.resume()
            assert sizes == sorted(sizes) and len(set(sizes)) == 3
        check_round(net, procs, writers.acked, observer, durable_pg_store_url)
        # Every node served final checkpoints, and the final chain has more than a handful of links.
        assert {url for served in observer.finals.values() for url in served} == {p.url for p in procs} | {net.url(i) for i in REPLICAS}
        assert len({_final(net, n).checkpoint.size for n in observer.finals}) > 3
    finally:
        for p in procs:
            p.stop()
        net.stop_all()
    _audit(net, durable_pg_store_url, witness_db_url, monkeypatch)


# Which process committed each row: every node process names itself in its connection's application_name.
_WRITE_LOG = (
    "CREATE TABLE test_write_log (id bigserial PRIMARY KEY, tbl text NOT NULL, app text NOT NULL, size bigint)",
    """CREATE FUNCTION test_write_log() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO test_write_log (tbl, app, size)
  VALUES (TG_TABLE_NAME, current_setting('application_name'), (to_jsonb(NEW) ->> 'size')::bigint);
  RETURN NEW;
END $$""",
)
_LOGGED_TABLES = ("blocks", "checkpoints", "cosignatures", "final_checkpoints", "witness_state", "meta")


def _sql(url: str, *statements: str, **params) -> list[tuple]:
    engine = sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            rows: list[tuple] = []
            for s in statements:
                result = c.execute(sa.text(s), params)
                rows = [tuple(r) for r in result] if result.returns_rows else []
            return rows
    finally:
        engine.dispose()


def _end_lock_session(url: str) -> int:
    """What an operator does to a hung leader: terminate the backend that holds the writer lock."""
    rows = _sql(
        url,
        "SELECT pid, pg_terminate_backend(pid, 10000) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND ((classid::bigint << 32) | objid::bigint) = :key",
        key=lock_key(NETWORK),
    )
    assert len(rows) == 1 and rows[0][1], rows
    return rows[0][0]


def test_a_paused_leader_whose_lock_session_was_terminated_never_commits_or_signs_again(
    tmp_path, durable_pg_store_url, witness_db_url, monkeypatch
):
    rng = random.Random(SEED + 1)
    net = Network(tmp_path, quorum=2)
    url_a, url_b = durable_pg_store_url + "?application_name=node-a", durable_pg_store_url + "?application_name=node-b"
    old = NodeProcess(net.dirs[SEQ], database_url=url_a, env=_env(witness_db_url), port=net.ports[SEQ]).start()
    _sql(durable_pg_store_url, *_WRITE_LOG, *(
        f"CREATE TRIGGER test_write_log AFTER INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION test_write_log()" for t in _LOGGED_TABLES
    ))  # fmt: skip
    new = NodeProcess(net.dirs[SEQ], database_url=url_b, env=_env(witness_db_url)).start()
    procs = [old, new]
    net.start(*REPLICAS)
    in_flight: dict[str, object] = {}
    try:
        wait_until("the first process to lead", lambda: is_leader(old) and not is_leader(new))
        observer = FinalObserver(net, lambda: [p.url for p in procs if p.proc and p.proc.poll() is None] + [net.url(i) for i in REPLICAS])
        # The submitters to the old leader hang while it is paused, in flight; others then write to the new one.
        with observer, Writers(net, lambda: old.url, timeout=90) as writers, Writers(net, lambda: new.url, first=10**6) as to_new:
            to_new.pause()
            paused = writers.when_acked(writers.count() + rng.randint(30, 300), lambda: os.kill(old.proc.pid, signal.SIGSTOP))
            assert paused.wait(120), "the load did not reach the moment of the pause"
            # What the paused leader had committed; the submitters' requests to it now hang, in flight.
            committed_by_old = _sql(durable_pg_store_url, "SELECT id FROM test_write_log WHERE app = 'node-a'")
            signed_before = _sql(durable_pg_store_url, "SELECT max(size) FROM checkpoints")[0][0]
            to_new.resume()

            def submit_to_paused() -> None:  # one more, sent while it is paused: read by it only when resumed
                try:
                    in_flight["response"] = httpx.post(old.url + "/api/v1/ledger/entries", json=net.batch("ipk", 10**7, 3), timeout=90)
                except httpx.HTTPError as e:
                    in_flight["response"] = e

            late = threading.Thread(target=submit_to_paused, daemon=True)
            late.start()
            _end_lock_session(durable_pg_store_url)
            wait_until("the standby to take over", lambda: is_leader(new), timeout=60)
            wait_until("the new leader to sequence more", lambda: to_new.count() >= 100, timeout=90)
            wait_until(
                "a final checkpoint of the new leader",
                lambda: (httpx.get(new.url + "/api/v1/ledger/status", timeout=5).json().get("final_size") or 0) > signed_before,
            )
            os.kill(old.proc.pid, signal.SIGCONT)
            # It finds its lock connection gone, says so, and exits (ledger/node/roles.py: _watch_leadership).
            assert old.proc.wait(60) == 75
            assert "lost the writer role" in old.log_path.read_text(errors="replace")
            late.join(120)
            writers.pause()
            to_new.pause()
        acked = writers.acked | to_new.acked
        response = in_flight["response"]
        if isinstance(response, httpx.Response) and response.status_code == 200:  # acknowledged: then it must be final
            acked.update(b64d(i["leaf_hash"], "leaf_hash", size=32) for i in response.json()["results"] if i["accepted"])
        # Nothing the old leader had in flight, or tried after waking, was committed: not an entry, a
        # checkpoint, a cosignature of its own witness, a final checkpoint or a meta row.
        assert _sql(durable_pg_store_url, "SELECT id FROM test_write_log WHERE app = 'node-a'") == committed_by_old
        # Every checkpoint signed after the takeover was stored by the new leader (and there are some).
        after = _sql(durable_pg_store_url, "SELECT DISTINCT app FROM test_write_log WHERE tbl = 'checkpoints' AND size > :s", s=signed_before)
        assert after == [("node-b",)]
        old.start()  # back as a standby: every node agrees, and nothing acknowledged is lost
        assert not is_leader(old)
        check_round(net, [new, old], acked, observer, durable_pg_store_url)
    finally:
        for p in procs:
            if p.proc and p.proc.poll() is None:
                os.kill(p.proc.pid, signal.SIGCONT)
            p.stop()
        net.stop_all()
    _audit(net, durable_pg_store_url, witness_db_url, monkeypatch)
