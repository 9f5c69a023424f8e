"""Governance ``sequencer.handover`` moves the sequencer role at runtime, with real
node processes on loopback (tests/netutil.py): the outgoing sequencer drains and
follows, the incoming one sequences once the outgoing log is final and mirrored,
nothing acknowledged is lost, replicas agree, and a restart keeps the new roles."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest

from ledger.model.entries import Statement, sign_batch
from tests.netutil import NETWORK, Network, all_leaf_hashes, audit, wait_until

pytestmark = pytest.mark.slow

NODES = ("olymp", "ipk", "uni")


@pytest.fixture
def net(tmp_path):
    n = Network(tmp_path)
    # The operator's step, done beforehand: the incoming institution's node gets the log key.
    shutil.copy2(n.source / "keys" / "log.key", n.dirs["uni"] / "keys" / "log.key")
    try:
        yield n
    finally:
        n.stop_all()


def governance(net: Network, via: str, inst: str, kind: str, body: dict) -> None:
    entries = sign_batch([Statement(NETWORK, kind, inst, body)], net.signer(inst))
    r = httpx.post(net.url(via) + "/api/v1/ledger/entries", json={"entries": [e.to_json() for e in entries]}, timeout=60)
    assert r.status_code == 200 and r.json()["results"][0]["accepted"], r.text


def submit_retrying(net: Network, via: str, inst: str, first: int, n: int) -> list[bytes]:
    """Submit, retrying while the role is in transit (503 with Retry-After)."""
    deadline = time.monotonic() + 60
    while True:
        r = httpx.post(net.url(via) + "/api/v1/ledger/entries", json=net.batch(inst, first, n), timeout=60)
        if r.status_code != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert r.status_code == 200, r.text
    from ledger.tlog.encoding import b64d

    return [b64d(item["leaf_hash"], "leaf_hash", size=32) for item in r.json()["results"]]


def sequencing(net: Network) -> list[str]:
    return [inst for inst in NODES if net.status(inst)["sequencer"]]


def test_sequencer_handover_moves_the_role_at_runtime_and_loses_nothing(net):
    net.start()
    acked = net.submit("olymp", "ipk", 0, 10)
    assert sequencing(net) == ["olymp"]  # uni holds the log key too, but the registry names olymp
    governance(net, "ipk", "ipk", "governance.propose", {"proposal": "hand-to-uni", "action": "sequencer.handover", "params": {"to": "uni"}})
    governance(net, "uni", "olymp", "governance.approve", {"proposal": "hand-to-uni"})  # the second approval: quorum 2
    wait_until("uni to sequence and olymp to stop", lambda: sequencing(net) == ["uni"], timeout=90)
    for inst in NODES:
        assert net.network_status(inst)["sequencer"] == "uni", inst
    # Submissions through every node now go to uni, including through the old sequencer.
    for n, via in enumerate(NODES):
        acked += submit_retrying(net, via, "ipk", 100 + 10 * n, 10)
    size = net.status("uni")["size"]
    wait_until("every node final at uni's size", lambda: all(net.final_size(i) >= size for i in NODES), timeout=90)
    leaves = {inst: all_leaf_hashes(net.url(inst))[:size] for inst in NODES}
    assert leaves["olymp"] == leaves["ipk"] == leaves["uni"]
    assert set(acked) <= set(leaves["uni"])
    assert net.verified_final("olymp").checkpoint == net.verified_final("uni").checkpoint
    # A restart keeps the roles: uni sequences at once, olymp follows.
    net.stop_all()
    net.start()
    wait_until("uni to sequence after the restart", lambda: sequencing(net) == ["uni"])
    acked += submit_retrying(net, "olymp", "olymp", 500, 5)
    size = net.status("uni")["size"]
    wait_until("replicas to reach the new size", lambda: all(net.final_size(i) >= size for i in NODES), timeout=90)
    assert set(acked) <= set(all_leaf_hashes(net.url("ipk")))
    net.stop_all()
    for inst in NODES:
        result = audit(net.dirs[inst])
        assert result.returncode == 0, (inst, result.stdout + result.stderr)
