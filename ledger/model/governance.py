"""Governance on the ledger: membership, keys, quorum and the sequencer role change
only by k-of-n institution approvals recorded as entries.

Two entry kinds (ledger.model.entries), each signed by an institution like any entry:

* ``governance.propose`` ``{"proposal": <id>, "action": <action>, "params": {...}}``
  — the proposer's own approval counts;
* ``governance.approve`` ``{"proposal": <id>}``.

A proposal takes effect at the index of the entry that brings its approvals
(distinct, active institutions) to the quorum in force at that moment. The
effect is applied inside the registry replay (ledger.model.registry), so every node
that replays the log — sequencer, replicas, the audit — derives the same state
at the same index; nothing is decided outside the log.

Actions and params:

``institution.add``      ``{id, name, type, signing_key, witness_vkey}`` (as institution.register)
``institution.suspend``  ``{id}``: every key of the institution ends now; its witness no longer counts
``institution.rotate``   ``{id, signing_key, witness_vkey}``: the signing key in force ends now, the new
                         one starts; the witness key is replaced
``quorum.set``           ``{quorum}``: 1 <= quorum <= active institutions
``sequencer.handover``   ``{to}``: the sequencing institution becomes ``to`` (registry rules follow at
                         once; the node-level switch of the log key is an operator step, docs/network.md)

The shape of each action's params is checked when the entry is parsed
(``ledger.model.entries.check_governance_params``). The pure core: this module holds state and checks, and takes ``now`` and
indices explicitly. Programmer mistakes raise ValueError; refused entries raise
AuthorizationError/ConflictError/MalformedError like every registry rule.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import AuthorizationError, ConflictError


@dataclass
class Proposal:
    id: str
    action: str
    params: dict[str, Any]
    proposer: str
    index: int
    approvals: set[str] = field(default_factory=set)
    enacted_index: int | None = None


@dataclass
class Governance:
    """Governance state replayed from the log: quorum, sequencer, suspended members, proposals."""

    quorum: int
    sequencer: str
    suspended: set[str] = field(default_factory=set)
    members: dict[str, str] = field(default_factory=dict)  # id -> witness vkey
    proposals: dict[str, Proposal] = field(default_factory=dict)

    def _check_member(self, institution: str) -> None:
        if institution not in self.members or institution in self.suspended:
            raise AuthorizationError(f"{institution} is not an active member institution and has no vote")

    def propose(self, institution: str, body: Mapping[str, Any], index: int) -> Proposal:
        self._check_member(institution)
        pid = body["proposal"]
        if pid in self.proposals:
            raise ConflictError(f"proposal {pid!r} already exists (index {self.proposals[pid].index})")
        return Proposal(pid, body["action"], dict(body["params"]), institution, index, {institution})

    def approve(self, institution: str, body: Mapping[str, Any]) -> Proposal:
        self._check_member(institution)
        p = self.proposals.get(body["proposal"])
        if p is None:
            raise AuthorizationError(f"no proposal {body['proposal']!r} on this ledger")
        if p.enacted_index is not None:
            raise ConflictError(f"proposal {p.id!r} already took effect at index {p.enacted_index}")
        if institution in p.approvals:
            raise ConflictError(f"{institution} already approved proposal {p.id!r}")
        return p

    def reaches_quorum(self, approvals: set[str]) -> bool:
        return len((approvals & set(self.members)) - self.suspended) >= self.quorum


__all__ = ["Governance", "Proposal"]
