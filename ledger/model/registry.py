"""The network's state derived by replaying entries: institutions, key history, credential status.

Pure: entries and times in, state out. The node replays the log through it on
start and checks every submission against it; the verifier replays the key and
status entries a bundle carries through the same code, so both sides apply
exactly the same rules.

Key validity is a half-open interval ``[valid_from, valid_until)``. A key that
is rotated or revoked later stays valid for what it signed inside its interval:
a credential issued before a rotation keeps verifying. A compromised key is
revoked with ``valid_until`` set back to the compromise time, which invalidates
exactly what was signed after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

from ledger.errors import AuthorizationError, ConflictError, MalformedError
from ledger.model import statuslist
from ledger.model.entries import Entry
from ledger.model.governance import Governance, Proposal
from ledger.tlog.encoding import b64d
from ledger.tlog.timefmt import format_time, parse_time

# How far in the future an issue time may be relative to the sequencing time.
CLOCK_SKEW = 300


@dataclass
class KeyPeriod:
    key: bytes
    valid_from: int
    valid_until: int | None = None

    def valid_at(self, t: int) -> bool:
        return self.valid_from <= t and (self.valid_until is None or t < self.valid_until)


@dataclass
class Institution:
    id: str
    name: str
    type: str
    witness_vkey: str
    keys: list[KeyPeriod] = field(default_factory=list)
    registered_index: int = 0

    def key(self, key: bytes) -> KeyPeriod | None:
        for k in self.keys:  # a plain loop: this runs for every appended entry
            if k.key == key:
                return k
        return None


class Anchor(NamedTuple):
    """A credential anchored on the ledger (a tuple: one is made for every anchor appended)."""

    index: int
    institution: str
    type: str
    issued_at: int
    key: bytes


class Revocation(NamedTuple):
    index: int
    reason: str


class Supersession(NamedTuple):
    index: int
    by: str


R = TypeVar("R", Anchor, Revocation, Supersession)


class Records(Mapping[str, R]):
    """Credential records by digest, read as ``Anchor`` / ``Revocation`` / ``Supersession``.

    Stored as plain tuples of strings, ints and bytes, which CPython's cyclic
    garbage collector stops tracking: a ledger holds one record per credential,
    millions of them, and every full collection would otherwise walk them all
    (on a 100,000-entry ingest that was a third of the time). Written only by
    the registry (``_put``; the anchor path writes ``_rows`` directly)."""

    def __init__(self, record: type[R]) -> None:
        self._record = record
        self._rows: dict[str, tuple] = {}

    def __getitem__(self, digest: str) -> R:
        return self._record._make(self._rows[digest])

    def __contains__(self, digest: object) -> bool:
        return digest in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _put(self, digest: str, *fields: object) -> None:
        self._rows[digest] = fields


class Registry:
    """Replays entries in log order and answers who may sign what, when."""

    def __init__(self, network: str, sequencer: str, quorum: int = 1) -> None:
        self.network = network
        self.sequencer = sequencer
        # Governance state (ledger/model/governance.py), seeded from the genesis quorum.
        self.governance = Governance(quorum=quorum, sequencer=sequencer)
        # Who signed the log's checkpoints, by tree size: (first size, institution), in order.
        # The verifier excludes that institution's witness from the quorum for those sizes.
        self.sequencer_history: list[tuple[int, str]] = [(0, sequencer)]
        self.institutions: dict[str, Institution] = {}
        self.anchors: Records[Anchor] = Records(Anchor)
        self.revocations: Records[Revocation] = Records(Revocation)
        self.supersessions: Records[Supersession] = Records(Supersession)
        # Bitstring status lists (ledger/model/statuslist.py), per institution and list number: the slots
        # anchors took, the bits set by revocations and supersessions, the index of the latest publication.
        self.status_slots: dict[str, tuple[int, int]] = {}
        self.status_used: dict[str, dict[int, set[int]]] = {}
        self.status_bits: dict[str, dict[int, set[int]]] = {}
        self.status_published: dict[tuple[str, int], int] = {}
        self._key_owner: dict[bytes, str] = {}
        # Indices of each institution's key.* entries (for the key history in bundles).
        self.key_events: dict[str, list[int]] = {}
        # (institution, key, now, Institution, KeyPeriod) of the last anchor's signer check.
        self._signer_memo: tuple[str, bytes, int, Institution, KeyPeriod] | None = None

    # --- queries --------------------------------------------------------------------

    def key_valid_at(self, institution: str, key: bytes, t: int) -> bool:
        inst = self.institutions.get(institution)
        period = inst.key(key) if inst else None
        return bool(period and period.valid_at(t))

    def status_list_bits(self, institution: str, number: int) -> frozenset[int]:
        """The set bits of the institution's status list ``number`` as the ledger has them now."""
        return frozenset(self.status_bits.get(institution, {}).get(number, ()))

    def status(self, digest_hex: str) -> str:
        """'unknown', 'valid', 'revoked' or 'superseded'."""
        if digest_hex not in self.anchors:
            return "unknown"
        if digest_hex in self.revocations:
            return "revoked"
        if digest_hex in self.supersessions:
            return "superseded"
        return "valid"

    # --- applying entries -----------------------------------------------------------

    def check(self, entry: Entry, now: int) -> None:
        """Raise AuthorizationError/ConflictError if ``entry`` may not be appended at ``now``."""
        self._apply(entry, index=-1, now=now, commit=False)

    def apply(self, entry: Entry, index: int, now: int) -> None:
        """Apply an entry that is (being) appended at ``index``, sequenced at ``now``.

        Runs every check of ``check`` first and changes nothing when one fails."""
        s, a = entry.statement, entry.auth
        if s.kind == "credential.anchor" and a is not None:  # most entries: skip the kind dispatch
            # A cohort is thousands of anchors by one institution with one key at one
            # sequencing time: the signer check is remembered until any other kind of
            # entry is applied (only those change institutions, keys or governance).
            memo = self._signer_memo
            if memo is not None and memo[0] == s.institution and memo[1] == a.key and memo[2] == now and s.network == self.network:
                inst, period = memo[3], memo[4]
            else:
                inst, period = self._signer(entry, now)
                self._signer_memo = (s.institution, a.key, now, inst, period)
            self._anchor(s.body, inst, period, a.key, index, now, True)
            return
        self._apply(entry, index=index, now=now, commit=True)

    def apply_genesis(self, entry: Entry, index: int, created: int) -> None:
        self._signer_memo = None
        s = entry.statement
        if entry.auth is not None or s.kind != "institution.register":
            raise MalformedError("genesis entries are unsigned institution registrations")
        self._register(s.body, index, created, commit=True)
        self.governance.members[s.body["id"]] = s.body["witness_vkey"]

    def _signer(self, entry: Entry, now: int) -> tuple[Institution, KeyPeriod]:
        """The registered institution and key period that sign ``entry``, valid at ``now``."""
        s, a = entry.statement, entry.auth
        if s.network != self.network:
            raise AuthorizationError(f"entry is for network {s.network!r}, this is {self.network!r}")
        if a is None:
            raise AuthorizationError("entry is not signed by an institution")
        inst = self.institutions.get(s.institution)
        if inst is None:
            raise AuthorizationError(f"institution {s.institution!r} is not registered on this network")
        period = inst.key(a.key)
        if period is None:
            raise AuthorizationError(f"the signing key is not a key of {s.institution}")
        if not period.valid_at(now):
            raise AuthorizationError(
                f"the signing key of {s.institution} is not valid at {format_time(now)} "
                f"(valid from {format_time(period.valid_from)}"
                + (f" until {format_time(period.valid_until)})" if period.valid_until is not None else ")")
            )
        return inst, period

    def _apply(self, entry: Entry, *, index: int, now: int, commit: bool) -> None:
        self._signer_memo = None
        s, a = entry.statement, entry.auth
        inst, period = self._signer(entry, now)
        b = s.body
        match s.kind:
            case "institution.register":
                if s.institution != self.sequencer:
                    raise AuthorizationError("only the network's sequencing institution may register institutions")
                self._register(b, index, now, commit=commit)
            case "key.add":
                key = b64d(b["key"], "key", size=32)
                self._check_new_key(key)
                if commit:
                    inst.keys.append(KeyPeriod(key, parse_time(b["valid_from"])))
                    self._key_owner[key] = inst.id
                    self.key_events.setdefault(inst.id, []).append(index)
            case "key.rotate":
                old, new = b64d(b["old"], "old", size=32), b64d(b["new"], "new", size=32)
                at = parse_time(b["valid_from"])
                old_period = inst.key(old)
                if old_period is None or not old_period.valid_at(at):
                    raise AuthorizationError("the key being rotated is not a valid key of the institution at the rotation time")
                self._check_new_key(new)
                if commit:
                    old_period.valid_until = at
                    inst.keys.append(KeyPeriod(new, at))
                    self._key_owner[new] = inst.id
                    self.key_events.setdefault(inst.id, []).append(index)
            case "key.revoke":
                key = b64d(b["key"], "key", size=32)
                target = inst.key(key)
                if target is None:
                    raise AuthorizationError("the key being revoked is not a key of the institution")
                until = parse_time(b["valid_until"])
                if commit:
                    target.valid_until = until if target.valid_until is None else min(target.valid_until, until)
                    self.key_events.setdefault(inst.id, []).append(index)
            case "credential.anchor":
                self._anchor(b, inst, period, a.key, index, now, commit)  # type: ignore[union-attr]
            case "credential.revoke":
                self._own_anchor(inst.id, b["digest"])
                if b["digest"] in self.revocations:
                    raise ConflictError(f"credential {b['digest']} is already revoked")
                if commit:
                    self.revocations._put(b["digest"], index, b["reason"])
                    self._set_status_bit(b["digest"])
            case "credential.supersede":
                self._own_anchor(inst.id, b["digest"])
                self._own_anchor(inst.id, b["by"])
                if b["digest"] in self.supersessions:
                    raise ConflictError(f"credential {b['digest']} is already superseded")
                if commit:
                    self.supersessions._put(b["digest"], index, b["by"])
                    self._set_status_bit(b["digest"])
            case "status.publish":
                number = b["list"]
                if not b["id"].endswith(f"/status/{inst.id}/{number}"):
                    raise AuthorizationError(f"the status list's id must be <network URL>/status/{inst.id}/{number}")
                published, ledger_bits = statuslist.decode_bits(b["encoded_list"]), self.status_list_bits(inst.id, number)
                if published != ledger_bits:
                    raise ConflictError(
                        f"status list {inst.id}/{number} does not match the ledger: it marks {len(published)} credential(s), "
                        f"the ledger has {len(ledger_bits)} revoked or superseded; build it again from the ledger"
                    )
                if commit:
                    self.status_published[(inst.id, number)] = index
            case "governance.propose":
                p = self.governance.propose(inst.id, b, index)
                self._check_action(p.action, p.params, now)
                if commit:
                    self.governance.proposals[p.id] = p
                    self._maybe_enact(p, index, now)
            case "governance.approve":
                p = self.governance.approve(inst.id, b)
                if self.governance.reaches_quorum(p.approvals | {inst.id}):
                    self._check_action(p.action, p.params, now)
                if commit:
                    p.approvals.add(inst.id)
                    self._maybe_enact(p, index, now)
            case _:  # pragma: no cover - Statement refuses unknown kinds
                raise MalformedError(f"unknown kind {s.kind}")

    def _anchor(self, b: Mapping[str, Any], inst: Institution, period: KeyPeriod, key: bytes, index: int, now: int, commit: bool) -> None:
        issued_at = parse_time(b["issued_at"])
        if issued_at > now + CLOCK_SKEW:
            raise AuthorizationError(f"issue time {b['issued_at']} is in the future")
        if not period.valid_at(issued_at):
            raise AuthorizationError(f"the signing key was not valid at the issue time {b['issued_at']}")
        rows = self.anchors._rows
        if (prior := rows.get(b["digest"])) is not None:
            raise ConflictError(f"credential {b['digest']} is already anchored at index {prior[0]}")
        number = b.get("status_list")
        if number is not None:
            used = self.status_used.setdefault(inst.id, {}).setdefault(number, set())
            if b["status_index"] in used:
                raise ConflictError(f"status list slot {number}/{b['status_index']} of {inst.id} is already taken")
        if commit:
            rows[b["digest"]] = (index, inst.id, b["type"], issued_at, key)
            if number is not None:
                used.add(b["status_index"])
                self.status_slots[b["digest"]] = (number, b["status_index"])

    def _set_status_bit(self, digest: str) -> None:
        slot = self.status_slots.get(digest)
        if slot is not None:
            inst = self.anchors._rows[digest][1]
            self.status_bits.setdefault(inst, {}).setdefault(slot[0], set()).add(slot[1])

    # --- governance (ledger/model/governance.py) --------------------------------------------

    def members(self) -> dict[str, str]:
        """Member institutions whose witnesses count towards finality: founders and those
        added by governance, minus the suspended; id -> witness vkey. An institution
        registered directly by the sequencer issues credentials but does not cosign
        (else the sequencer alone could create its own quorum)."""
        g = self.governance
        return {i: v for i, v in sorted(g.members.items()) if i not in g.suspended}

    def finality_witnesses(self) -> dict[str, str]:
        """The witnesses whose cosignatures make a checkpoint final: the members *other than the
        sequencing institution*. The log's signer never counts towards its own quorum: with it, a
        cloned or lying sequencer plus k-1 others could finalise two forks, since any two quorums
        that include the sequencer's witness may overlap only in it (docs/network.md, threat model)."""
        return {i: v for i, v in self.members().items() if i != self.governance.sequencer}

    def _check_action(self, action: str, params: dict, now: int) -> None:
        """Would the action apply now? Checked when proposed and again when it takes effect."""
        g = self.governance
        if action == "institution.add":
            self._register(params, -1, now, commit=False)
            return
        target = params.get("id") or params.get("to")
        if action != "quorum.set" and target not in self.members():
            raise AuthorizationError(f"{target!r} is not an active member institution of this network")
        if action == "institution.suspend" and target == g.sequencer:
            raise AuthorizationError("the sequencing institution cannot be suspended; hand the role over first")
        if action == "institution.suspend" and len(self.finality_witnesses()) - 1 < g.quorum:
            raise AuthorizationError(
                f"suspending {target} would leave fewer institutions besides the sequencer than the quorum {g.quorum}"
            )
        if action == "institution.rotate":
            self._check_new_key(b64d(params["signing_key"], "signing_key", size=32))
        if action == "quorum.set" and params["quorum"] > len(self.finality_witnesses()):
            raise AuthorizationError(
                f"quorum {params['quorum']} exceeds the {len(self.finality_witnesses())} member institutions besides the "
                "sequencer (the sequencer's own witness never counts towards finality)"
            )
        if action == "sequencer.handover" and len(self.members()) - 1 < g.quorum:
            raise AuthorizationError(f"after a handover to {target} fewer than {g.quorum} other institutions could cosign")

    def _maybe_enact(self, p: Proposal, index: int, now: int) -> None:
        g = self.governance
        if p.enacted_index is not None or not g.reaches_quorum(p.approvals):
            return
        prm = p.params
        match p.action:
            case "institution.add":
                self._register(prm, index, now, commit=True)
                g.members[prm["id"]] = prm["witness_vkey"]
            case "institution.suspend":
                g.suspended.add(prm["id"])
                for k in self.institutions[prm["id"]].keys:
                    if k.valid_until is None or k.valid_until > now:
                        k.valid_until = max(now, k.valid_from)
            case "institution.rotate":
                inst = self.institutions[prm["id"]]
                for k in inst.keys:
                    if k.valid_until is None or k.valid_until > now:
                        k.valid_until = max(now, k.valid_from)
                new = b64d(prm["signing_key"], "signing_key", size=32)
                inst.keys.append(KeyPeriod(new, now))
                inst.witness_vkey = prm["witness_vkey"]
                g.members[inst.id] = prm["witness_vkey"]
                self._key_owner[new] = inst.id
                self.key_events.setdefault(inst.id, []).append(index)
            case "quorum.set":
                g.quorum = prm["quorum"]
            case "sequencer.handover":
                g.sequencer = prm["to"]
                self.sequencer = prm["to"]
                self.sequencer_history.append((index + 1, prm["to"]))
        p.enacted_index = index

    def _own_anchor(self, institution: str, digest: str) -> None:
        anchor = self.anchors.get(digest)
        if anchor is None:
            raise AuthorizationError(f"credential {digest} is not anchored on the ledger")
        if anchor.institution != institution:
            raise AuthorizationError(f"credential {digest} was issued by {anchor.institution}, not {institution}")

    def _check_new_key(self, key: bytes) -> None:
        if key in self._key_owner:
            raise ConflictError(f"key is already registered to {self._key_owner[key]}")

    def _register(self, b: dict, index: int, now: int, *, commit: bool) -> None:
        if b["id"] in self.institutions:
            raise ConflictError(f"institution {b['id']!r} is already registered")
        key = b64d(b["signing_key"], "signing_key", size=32)
        self._check_new_key(key)
        if commit:
            self.institutions[b["id"]] = Institution(
                b["id"], b["name"], b["type"], b["witness_vkey"], [KeyPeriod(key, now)], registered_index=index
            )
            self._key_owner[key] = b["id"]
