"""``eduledger ledger audit`` checks the final checkpoint with the network's rule as governance made
it (issue 15): the members besides the sequencer and the quorum in force, not the genesis alone."""

from __future__ import annotations

import pytest

from ledger.model.entries import Statement
from ledger.model.replay import ReplayError
from ledger.node.audit import audit
from ledger.node.datadir import witness_name
from ledger.tlog.timefmt import format_time
from tests.fixtures_network import NETWORK, MiniNetwork


def anchor(mini: MiniNetwork, k: int) -> Statement:
    t = format_time(int(mini.clock()) - 5)
    return Statement(NETWORK, "credential.anchor", "olymp-1", {"digest": f"{k:064x}", "type": "audit-test", "issued_at": t})


def only(mini: MiniNetwork, *insts: str) -> None:
    names = {witness_name(NETWORK, i) for i in insts}
    mini.log.cosigners = [c for c in mini.log.cosigners if c.name in names]
    assert len(mini.log.cosigners) == len(insts)


def test_a_final_checkpoint_under_a_quorum_lowered_by_governance_passes_the_audit(tmp_path):
    mini = MiniNetwork(tmp_path, quorum=2)
    gov = lambda inst, kind, **body: Statement(NETWORK, kind, inst, body)  # noqa: E731
    mini.append("uni-1", [gov("uni-1", "governance.propose", proposal="quorum-1", action="quorum.set", params={"quorum": 1})])
    mini.append("ipk-1", [gov("ipk-1", "governance.approve", proposal="quorum-1")])
    assert mini.log.quorum == 1
    only(mini, "ipk-1")  # one institution besides the sequencer cosigns: final under quorum 1, not under the genesis' 2
    mini.append("olymp-1", [anchor(mini, 1)])
    final = mini.node.store.latest_final()
    assert final is not None and final[0] == mini.log.size
    result = audit(mini.node.store, mini.genesis)
    assert result.final_size == mini.log.size


def test_the_sequencers_own_cosignature_never_makes_a_checkpoint_final_for_the_audit(tmp_path):
    mini = MiniNetwork(tmp_path, quorum=2)
    mini.append("olymp-1", [anchor(mini, 1)])
    only(mini, "olymp-1", "ipk-1")  # two cosignatures, but one is the log signer's own witness
    mini.append("olymp-1", [anchor(mini, 2)])
    size = mini.log.size
    assert mini.node.store.latest_final()[0] < size  # the node did not take it as final
    from ledger.tlog.checkpoint import add_signatures
    from ledger.tlog.note import parse_signature_line

    note = add_signatures(mini.node.store.checkpoint(size), [parse_signature_line(line) for _, line in mini.node.store.cosignatures(size)])
    mini.node.store.set_final(size, note)  # a database that claims it was
    with pytest.raises(ReplayError, match="final checkpoint"):
        audit(mini.node.store, mini.genesis)
