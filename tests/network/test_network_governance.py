"""Governance on the ledger: changes take effect only with k-of-n institution approvals,
applied identically by every replay (ledger/model/governance.py, ledger/model/registry.py)."""

from __future__ import annotations

import pytest

from ledger.errors import AuthorizationError, ConflictError, MalformedError
from ledger.model.entries import parse_entry
from ledger.model.registry import Registry
from ledger.tlog.encoding import b64e
from ledger.tlog.note import Verifier
from tests.fixtures_network import LedgerFixture
from tests.keyutil import RawSigner


@pytest.fixture
def fx():
    f = LedgerFixture(quorum=2)
    f.registry = Registry(f.network, f.genesis.sequencer, f.genesis.quorum)
    for n, e in enumerate(f.genesis.entries()):
        f.registry.apply_genesis(e, n, f.genesis.created)
    return f


def propose(fx, inst, pid, action, **params):
    return fx.append(inst, [fx.statement("governance.propose", inst, proposal=pid, action=action, params=params)])[0]


def approve(fx, inst, pid):
    return fx.append(inst, [fx.statement("governance.approve", inst, proposal=pid)])[0]


def new_member(fx, inst_id="school-9"):
    signing, witness = RawSigner(), RawSigner()
    vkey = Verifier.cosignature(f"{fx.network}/witness/{inst_id}", witness.public_key).vkey
    return signing, dict(id=inst_id, name="School 9", type="school", signing_key=b64e(signing.public_key), witness_vkey=vkey)


def replay(fx) -> Registry:
    """A second node replaying the same log from scratch."""
    r = Registry(fx.network, fx.genesis.sequencer, fx.genesis.quorum)
    for n, data in enumerate(fx.datas):
        e = parse_entry(data)
        r.apply_genesis(e, n, fx.genesis.created) if e.auth is None else r.apply(e, n, fx.now)
    return r


def test_adding_an_institution_takes_effect_only_when_the_quorum_approves(fx):
    signing, params = new_member(fx)
    propose(fx, "ipk-1", "add-school-9", "institution.add", **params)
    assert "school-9" not in fx.registry.institutions  # one approval of two
    at = approve(fx, "uni-1", "add-school-9")
    assert "school-9" in fx.registry.institutions and "school-9" in fx.registry.members()
    assert fx.registry.governance.proposals["add-school-9"].enacted_index == at
    # The new member can now sign entries and vote.
    fx.append("school-9", [fx.statement("governance.propose", "school-9", proposal="quorum-3", action="quorum.set", params={"quorum": 3})], signer=signing)
    other = replay(fx)
    assert other.members() == fx.registry.members() and other.governance.quorum == fx.registry.governance.quorum == 2


def test_quorum_change_suspension_and_key_rotation_apply_identically_on_replay(fx):
    # Three members, olymp-1 sequencing: only ipk-1 and uni-1 count towards finality.
    assert sorted(fx.registry.finality_witnesses()) == ["ipk-1", "uni-1"]
    with pytest.raises(AuthorizationError, match="besides the sequencer"):
        propose(fx, "olymp-1", "quorum-3", "quorum.set", quorum=3)
    with pytest.raises(AuthorizationError, match="fewer institutions besides the sequencer than the quorum"):
        propose(fx, "olymp-1", "suspend-uni", "institution.suspend", id="uni-1")
    propose(fx, "uni-1", "quorum-1", "quorum.set", quorum=1)
    assert fx.registry.governance.quorum == 2  # one of two approvals under quorum 2
    approve(fx, "ipk-1", "quorum-1")
    assert fx.registry.governance.quorum == 1
    propose(fx, "olymp-1", "suspend-uni", "institution.suspend", id="uni-1")  # quorum 1: the proposer's approval enacts it
    assert "uni-1" not in fx.registry.members() and sorted(fx.registry.finality_witnesses()) == ["ipk-1"]
    with pytest.raises(AuthorizationError, match="besides the sequencer than the quorum"):
        propose(fx, "olymp-1", "suspend-ipk", "institution.suspend", id="ipk-1")  # would leave no witness at all
    with pytest.raises(AuthorizationError, match="not valid"):
        fx.append("uni-1", [fx.statement("governance.approve", "uni-1", proposal="quorum-1")])
    new_signing, params = new_member(fx, "ipk-1")
    propose(fx, "ipk-1", "rotate-ipk", "institution.rotate", id="ipk-1", signing_key=params["signing_key"], witness_vkey=params["witness_vkey"])
    assert fx.registry.members()["ipk-1"] == params["witness_vkey"]
    with pytest.raises(AuthorizationError):
        fx.append("ipk-1", [fx.statement("governance.approve", "ipk-1", proposal="x-none")])  # old key ended
    other = replay(fx)
    assert other.members() == fx.registry.members() and other.governance.quorum == 1


def test_the_sequencer_witness_never_counts_and_the_role_moves_with_a_handover(fx):
    assert "olymp-1" in fx.registry.members() and "olymp-1" not in fx.registry.finality_witnesses()
    propose(fx, "ipk-1", "hand", "sequencer.handover", to="uni-1")
    approve(fx, "olymp-1", "hand")
    assert sorted(fx.registry.finality_witnesses()) == ["ipk-1", "olymp-1"]


def test_sequencer_handover_changes_who_may_register(fx):
    propose(fx, "ipk-1", "hand", "sequencer.handover", to="uni-1")
    approve(fx, "olymp-1", "hand")
    assert fx.registry.sequencer == "uni-1"


def test_refusals_duplicates_unknown_proposals_and_non_members(fx):
    propose(fx, "olymp-1", "quorum-1", "quorum.set", quorum=1)
    with pytest.raises(ConflictError):
        approve(fx, "olymp-1", "quorum-1")  # the proposer already approved
    with pytest.raises(AuthorizationError):
        approve(fx, "ipk-1", "nope")
    with pytest.raises(ConflictError):
        propose(fx, "ipk-1", "quorum-1", "quorum.set", quorum=2)
    with pytest.raises(AuthorizationError):
        propose(fx, "ipk-1", "quorum-9", "quorum.set", quorum=9)
    with pytest.raises(MalformedError):
        fx.statement("governance.propose", "ipk-1", proposal="bad", action="log.rewrite", params={})
    approve(fx, "ipk-1", "quorum-1")
    with pytest.raises(ConflictError, match="already took effect"):
        approve(fx, "uni-1", "quorum-1")
