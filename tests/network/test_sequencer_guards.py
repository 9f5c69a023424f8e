"""The sequencer checks itself: no silent fork, ever (issue 15).

Three institutions (the sequencer ``seq``, ``ipk``, ``uni``; quorum 2), each a real
:class:`ledger.node.Node` served over HTTP by uvicorn in a thread of this process, with its
own SQLite database and data directory (``split_network``), so the nodes talk to each other
exactly as separate processes do. Every wait polls behaviour with a deadline; nothing asserts
on wall-clock time.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from ledger.model.entries import sign_batch
from ledger.model.receipts import Receipt
from ledger.node.datadir import witness_name
from ledger.node.rollback import RollbackError, check_store
from ledger.storage import open_store
from tests.netutil import wait_until
from tests.network.faults import (
    IPK,
    NET,
    SEQ,
    UNI,
    Net,
    accepted,
    append_in_clone,
    assert_refused,
    clone_data_dir,
    copy_db,
    log_signed,
    restore_db,
    size_of,
)


@pytest.fixture
def net(tmp_path):
    n = Net(tmp_path)
    try:
        yield n
    finally:
        n.stop_all()


# --- a sequencer restored from an older backup ---------------------------------------------


def test_a_sequencer_restored_from_an_older_backup_refuses_to_sign_or_sequence_and_alerts(net, tmp_path, monkeypatch):
    # With no replica to re-mirror from (``Integrity._remirror_sources``), the lost tail cannot be
    # proved: the sequencer refuses and alerts. With replicas it re-mirrors the tail and goes on
    # (tests/network/test_fault_matrix.py, "restore from backup").
    from ledger.node.integrity import Integrity

    monkeypatch.setattr(Integrity, "_remirror_sources", lambda self: [])
    net.start()
    net.submit(5)
    old_size = net[SEQ].log.size
    wait_until("the first entries to be final and held by both witnesses", lambda: net.settled(old_size), timeout=30)
    backup = tmp_path / "backup.db"
    copy_db(net.db(SEQ), backup)
    for _ in range(3):
        net.submit(4)
    real_size = net[SEQ].log.size
    assert real_size > old_size
    wait_until("the larger log to be final and held by both witnesses", lambda: net.settled(real_size), timeout=30)
    wait_until("ipk to mirror the larger log", lambda: net.final_size(IPK) >= real_size, timeout=30)
    real_final = httpx.get(net.urls[IPK] + "/checkpoint", timeout=5).content
    assert size_of(real_final) == real_size

    net.stop(SEQ)
    restore_db(backup, net.db(SEQ))
    net.start(SEQ)
    seq = net[SEQ]
    assert seq.log.size == old_size

    # Writes are refused from the first moment (503 with Retry-After and the reason) ...
    assert_refused(net.post(SEQ, 1))
    alert = wait_until("the sequencer alert", lambda: net.network_status(SEQ)["sequencer_alert"], timeout=30)
    assert alert["kind"] == "beyond" and alert["witness_size"] == real_size and alert["size"] == old_size
    # The first witness to answer "beyond": a remote one (409 text/x.tlog.size) or, once its start-up
    # catch-up has read the peers, the sequencer's own witness (its state, from the witness directory).
    assert f"{real_size}" in alert["answer"] and ("text/x.tlog.size" in alert["answer"] or "local witness state" in alert["answer"])
    assert "eduledger ledger recover --from" in alert["reason"]
    assert_refused(net.post(SEQ, 1), "witness", f"{real_size}")
    # ... and, forwarded by a replica, too.
    assert net.post(IPK, 1).status_code == 503
    # The witnesses' log-signed checkpoint of the larger size is the second-signer evidence.
    fork = wait_until("the fork alert with both notes", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert size_of(fork["new"].encode()) == real_size and size_of(fork["old"].encode()) == old_size
    log_signed(net, fork["new"].encode())
    log_signed(net, fork["old"].encode())
    status = net.network_status(SEQ)
    assert status["sequencing_refused"] and "fork" in status["sequencing_refused"]
    cli = net.status_cli(SEQ)
    assert cli.exit_code == 1, cli.output
    assert "SEQUENCER ALERT" in cli.stderr and "FORK ALERT" in cli.stderr and f"\n{real_size}\n" in cli.stderr

    # Nothing was signed at a reused index, so nothing there can become final.
    time.sleep(1.5)  # a few rounds of the retry and self-check loops
    latest = seq.store.latest_checkpoint()
    assert latest is not None and latest[0] == old_size
    assert seq.log.size == old_size
    assert httpx.get(net.urls[IPK] + "/checkpoint", timeout=5).content == real_final
    assert net.witnessed_size(IPK) == net.witnessed_size(UNI) == real_size

    # An append that was being stored when the alert came is committed, never signed ...
    results, _ = seq.log.append(sign_batch(net.statements(1), net.signer))
    assert isinstance(results[0], Receipt)
    # ... not even by a restart: the sequencer's own witness has meanwhile caught up with its peers
    # (ledger/network/witness_catchup.py) to the size the network cosigned, so the start-up
    # cross-check sees a rolled-back log and the node refuses to start at all; the way out is
    # `eduledger ledger recover --from URL` (tests/node/test_recover.py).
    net.stop(SEQ)
    with pytest.raises(RuntimeError, match="did not start"):
        net.start(SEQ)
    store = open_store(f"sqlite:///{net.db(SEQ)}")
    assert store.size() == old_size + 1 and store.latest_checkpoint()[0] == old_size
    with pytest.raises(RollbackError, match="recover"):
        check_store(store, net.genesis, holds_log_key=True)


# --- a second holder of the log key ---------------------------------------------------------


def test_a_second_signer_with_a_larger_tree_shown_through_a_peer_is_an_alert_at_once(net, tmp_path):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    clone = clone_data_dir(net, tmp_path)
    # The copy signs a larger tree of its own; the witnesses cosign it (it extends what they hold).
    rogue = append_in_clone(net, clone, 3, (IPK, UNI))
    assert size_of(rogue) == size + 3
    wait_until("uni's witness to hold the clone's checkpoint", lambda: net.witnessed_size(UNI) == size + 3, timeout=10)
    # The sequencer never pushed anything since: it sees the clone's note only through its
    # peers (their witnessed checkpoints), and raises the alert without waiting to grow past it.
    fork = wait_until("the fork alert on the sequencer", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert log_signed(net, fork["new"].encode()) == log_signed(net, rogue)
    assert size_of(fork["old"].encode()) == size
    assert "beyond this sequencer's log" in fork["reason"]
    assert_refused(net.post(SEQ, 1), "fork")
    assert net.status_cli(SEQ).exit_code == 1
    latest = net[SEQ].store.latest_checkpoint()
    assert latest is not None and latest[0] == size
    # A replica cannot prove the pair (nobody serves the clone's tree): a warning, never a halt.
    pending = wait_until("ipk to list the pair as not yet proved", lambda: net.network_status(IPK)["split_view_pending"], timeout=30)
    assert f"and {size + 3}" in pending[0]
    assert net.network_status(IPK)["fork_alert"] is None
    assert httpx.get(net.urls[IPK] + "/api/v1/ledger/entries/0", timeout=5).status_code == 200


def test_a_second_signer_of_the_same_size_with_another_root_stops_the_sequencer_through_the_witness(net, tmp_path):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    clone = clone_data_dir(net, tmp_path)
    net.stop(UNI)  # uni misses what the sequencer signs next
    net.submit(3)
    assert net[SEQ].log.size == size + 3
    # The real sequencer is down while the copy shows uni another tree of the same size.
    net.stop(SEQ)
    net.start(UNI)
    # uni's witness cosigns once its start-up catch-up is over (the stopped sequencer never answers it).
    wait_until("uni's witness ready", lambda: all(w.not_ready is None for w in net[UNI].witnesses.values()), timeout=30)
    rogue = append_in_clone(net, clone, 3, (UNI,))
    assert size_of(rogue) == size + 3 and net.witnessed_size(UNI) == size + 3
    net.start(SEQ)
    # Asked for the missing cosignature, uni answers that it cosigned another checkpoint of that size.
    alert = wait_until("the sequencer alert", lambda: net.network_status(SEQ)["sequencer_alert"], timeout=30)
    assert alert["kind"] == "fork" and alert["witness"] == witness_name(NET, UNI) and alert["size"] == size + 3
    fork = wait_until("the fork alert on the sequencer", lambda: net.network_status(SEQ)["fork_alert"], timeout=30)
    assert {log_signed(net, fork["old"].encode()), log_signed(net, fork["new"].encode())} >= {log_signed(net, rogue)}
    assert size_of(fork["old"].encode()) == size_of(fork["new"].encode()) == size + 3
    assert_refused(net.post(SEQ, 1))
    assert net.status_cli(SEQ).exit_code == 1


# --- honest restarts -------------------------------------------------------------------------


def test_an_honest_restart_with_the_witnesses_agreeing_resumes_sequencing(net):
    net.start()
    net.submit(4)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    net.stop(SEQ)
    net.start(SEQ)
    # The witnesses hold exactly this log's size: the start-up round has nothing against it.
    r = wait_until("a write to be accepted after the restart", lambda: accepted(net.post(SEQ, 2)), timeout=30)
    assert all(item["accepted"] for item in r.json()["results"])
    wait_until("the new entries to be final", lambda: net.settled(size + 2), timeout=30)
    status = net.network_status(SEQ)
    assert status["sequencer_alert"] is None and status["fork_alert"] is None and status["sequencing_refused"] is None
    assert net.status_cli(SEQ).exit_code == 0
    # The sequencer runs the follower's checks too, and found nothing: rounds ran, no alert.
    assert net[SEQ].split_view_pending == []


class _SilentServer:
    """A TCP port that accepts connections and never answers: a hung witness."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)  # connections wait in the backlog, unanswered

    def close(self) -> None:
        self.sock.close()


def test_writes_wait_for_the_witnesses_start_up_round_but_only_for_a_bounded_time(net, monkeypatch):
    from ledger.node.roles import Roles

    net.start()
    net.submit(2)
    size = net[SEQ].log.size
    wait_until("the log final and held by both witnesses", lambda: net.settled(size), timeout=30)
    net.stop(SEQ)
    net.stop(IPK)
    net.stop(UNI)
    silent = [_SilentServer(net.ports[i]) for i in (IPK, UNI)]
    try:
        monkeypatch.setattr(Roles, "STARTUP_WITNESS_WAIT", 2.0)
        monkeypatch.setattr(Roles, "STARTUP_INLINE_WAIT", 0.05)
        net.start(SEQ)
        # Neither witness answers: writes are refused while the round waits for them ...
        assert_refused(net.post(SEQ, 1), "asking its witnesses")
        # ... and sequencing starts once the bound has passed: an outage does not stop the log.
        wait_until("a write to be accepted without the witnesses", lambda: net.post(SEQ, 1).status_code == 200, timeout=45)
        assert net[SEQ].sequencing_refused() is None and net[SEQ].sequencer_alert() is None
    finally:
        for s in silent:
            s.close()
