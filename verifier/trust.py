"""The trust policy: what a verifier believes, fixed by the verifier and never by a bundle.

A trust file (``eduledger-trust/v1``, written by ``eduledger network export-trust``)::

    {"format": "eduledger-trust/v1",
     "network": "demo.eduledger.example/network",      checkpoint origin = log key name
     "genesis_hash": "<64 hex: SHA-256 of the canonical genesis file>",
     "log": "<C2SP vkey of the log key, Ed25519 (0x01)>",
     "sequencer": "olymp-centre",
     "sequencers": [{"from_size": 0, "institution": "olymp-centre"}, ...],   only after a handover
     "witnesses": {"<institution id>": "<C2SP vkey, cosignature/v1 (0x04)>", ...},
     "quorum": 2,                                       cosignatures needed, 1 <= quorum <= witnesses
     "as_of": "2026-11-22T18:00:00Z", "roster_size": 1234,   when / at which log size the roster was read
     "institutions": [{"id": "...", "name": "...", "type": "school",
                       "keys": [{"key": "<base64 Ed25519>", "valid_from": "<RFC 3339>",
                                 "valid_until": "<RFC 3339>" | null}]}],
     "status_lists": [<status list credential, exactly as nodes serve it at <network URL>/status/<id>/<n>>, ...]}

``status_lists`` (absent from files exported before it: :attr:`TrustPolicy.status_lists` is None) carries every
institution's current status lists as of ``as_of`` / ``roster_size``, so an offline verifier sees a revocation
made after a bundle (``verifier/verify.py``, step 8). A list is believed only once its Data Integrity proof
verifies with a key the roster says its institution held at the list's ``validFrom``
(:meth:`TrustPolicy.status_list_bits`); parsing only checks its shape and bounds (at most ``MAX_STATUS_LISTS``
lists, each ``encodedList`` at most ``statuslist.MAX_ENCODED`` characters), so a file with thousands of lists
loads fast and only the lists a verification needs are authenticated.

The roster is the institutions' key history as the exporting node's
:class:`~ledger.model.registry.Registry` derived it. A verifier seeds a Registry with
it (:meth:`TrustPolicy.registry_for`) and replays the key entries a bundle
proves on top, so the node and the verifier apply one implementation of the
rules. A bundle can add proven key history for a rostered institution; it can
never add an institution, a witness, or change the quorum.

Finality (docs/network.md): a checkpoint of tree size ``n`` counts towards the quorum only the
cosignatures of witnesses *other than the institution that sequenced at size n*
(:meth:`TrustPolicy.finality_witnesses`): the log's signer never supplies its own quorum.
``sequencers`` names the sequencing institution for each range of sizes, so checkpoints
before and after a handover verify; without it the ``sequencer`` held the role from size 0.

Constructing a policy with impossible values (quorum above the number of
witnesses, a quorum of 0 — the "empty AllOf" that would trust the log alone —,
a witness key listed twice) is refused: ``ValueError`` from code,
``MalformedError`` from a file.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ledger.errors import MalformedError, SignatureError
from ledger.model import statuslist
from ledger.model.entries import Statement
from ledger.model.registry import Institution, KeyPeriod, Registry
from ledger.tlog.encoding import HEX64, b64d, b64e
from ledger.tlog.note import SIG_COSIGNATURE_V1, SIG_ED25519, Verifier
from ledger.tlog.timefmt import format_time, parse_time
from verifier import safejson

__all__ = ["FORMAT", "MAX_STATUS_LISTS", "KeyValidity", "RosterEntry", "StatusListCredential", "TrustPolicy", "load_trust"]

FORMAT = "eduledger-trust/v1"
MAX_TRUST_BYTES = 4 << 20
#: Most status lists a trust file carries: 4,096 credentials each, 16 million credentials in all.
MAX_STATUS_LISTS = 4096
_ID = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,62}[a-z0-9]\Z")
_LIST_ID = re.compile(r"/status/([a-z0-9][a-z0-9.-]{1,62}[a-z0-9])/(0|[1-9][0-9]{0,6})\Z")


@dataclass(frozen=True)
class KeyValidity:
    """One signing key of an institution and its half-open validity ``[valid_from, valid_until)``."""

    key: bytes
    valid_from: int
    valid_until: int | None = None

    def valid_at(self, t: int) -> bool:
        return self.valid_from <= t and (self.valid_until is None or t < self.valid_until)


@dataclass(frozen=True)
class RosterEntry:
    id: str
    name: str
    type: str
    keys: tuple[KeyValidity, ...]


@dataclass(frozen=True)
class StatusListCredential:
    """One status list of a trust file: the status list credential exactly as nodes serve it
    (``verifier/statuslist.py``), its shape checked; authenticated by :meth:`TrustPolicy.status_list_bits`."""

    institution: str
    number: int
    valid_from: int
    credential: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, c: object) -> "StatusListCredential":
        """MalformedError unless ``c`` is exactly the credential a node rebuilds from a ``status.publish`` entry."""
        from verifier.statuslist import list_credential

        url = c.get("id") if isinstance(c, dict) else None
        m = _LIST_ID.search(url) if isinstance(url, str) and len(url) <= 1000 else None
        if m is None:
            raise MalformedError("each status list is a status list credential whose id is <network URL>/status/<institution>/<list>")
        institution, number = m.group(1), int(m.group(2))
        name = f"status list {institution}/{number}"
        subject, proofs = c.get("credentialSubject"), c.get("proof")  # type: ignore[union-attr]
        if not isinstance(subject, dict) or not isinstance(proofs, list) or len(proofs) != 1 or not isinstance(proofs[0], dict):
            raise MalformedError(f"{name} needs a credentialSubject and exactly one proof")
        encoded = subject.get("encodedList")
        if not isinstance(encoded, str) or len(encoded) > statuslist.MAX_ENCODED:
            raise MalformedError(f"{name}: encodedList must be a text of at most {statuslist.MAX_ENCODED} characters")
        valid_from = parse_time(c.get("validFrom"), f"{name}: validFrom")  # type: ignore[union-attr]
        body = {"id": url, "list": number, "valid_from": c["validFrom"], "encoded_list": encoded, "proof": proofs[0]}  # type: ignore[index]
        if list_credential(institution, body) != c:
            raise MalformedError(f"{name} is not a status list credential as nodes serve it (a field is added, missing or changed)")
        return cls(institution, number, valid_from, c)  # type: ignore[arg-type]

    def authenticated_bits(self, keys: Iterable[KeyValidity]) -> frozenset[int]:
        """The list's set bits, once its proof verifies with one of ``keys`` (the institution's, from the roster)
        valid at its ``validFrom`` and its issuer is the institution's did:web. SignatureError / MalformedError."""
        from verifier.dataintegrity import proof_of, verify_proof
        from verifier.didweb import institution_of_did, method_key

        cred = self.credential
        if institution_of_did(cred.get("issuer")) != self.institution:
            raise SignatureError(f"its issuer is not the did:web of {self.institution}")
        owner, key = method_key(proof_of(cred)["verificationMethod"])
        if owner != self.institution:
            raise SignatureError(f"its proof names a key of {owner}, not of {self.institution}")
        if not any(k.key == key and k.valid_at(self.valid_from) for k in keys):
            raise SignatureError(
                f"its proof's key was not a signing key of {self.institution} at its validFrom {format_time(self.valid_from)}, according to the roster"
            )
        verify_proof(cred, key)
        return statuslist.decode_bits(cred["credentialSubject"]["encodedList"])


class _RosterRegistry(Registry):
    """A Registry seeded from a trust roster instead of genesis entries.

    Seeding writes the institution's key periods directly: they are the result
    of entries the exporting node already replayed, not entries to replay again.
    """

    @classmethod
    def seeded(cls, policy: "TrustPolicy", institution: str) -> "Registry":
        reg = cls(policy.network, policy.sequencer)
        entry = policy.roster[institution]
        reg.institutions[institution] = Institution(
            entry.id,
            entry.name,
            entry.type,
            policy.witnesses[institution].vkey if institution in policy.witnesses else "",
            [KeyPeriod(k.key, k.valid_from, k.valid_until) for k in entry.keys],
        )
        # Every rostered key's owner, so a bundle cannot re-add another institution's key.
        reg._key_owner = dict(policy._key_owner)
        return reg


@dataclass(frozen=True)
class TrustPolicy:
    network: str
    genesis_hash: bytes
    log: Verifier
    witnesses: Mapping[str, Verifier]
    quorum: int
    sequencer: str
    roster: Mapping[str, RosterEntry]
    as_of: int | None = None
    roster_size: int | None = None
    #: (first tree size, sequencing institution), from size 0, sizes increasing; () means ((0, sequencer),)
    sequencers: tuple[tuple[int, str], ...] = ()
    #: (institution, list number) -> the list as of ``as_of``; None: the file carries no lists (exported before them)
    status_lists: Mapping[tuple[str, int], StatusListCredential] | None = None
    _key_owner: Mapping[bytes, str] = field(default_factory=dict, repr=False, compare=False)
    # (institution, list) -> its authenticated bits, or (error type, message): each list's proof checked once.
    _lists_checked: dict[tuple[str, int], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.genesis_hash, bytes) or len(self.genesis_hash) != 32:
            raise ValueError("genesis_hash is a 32-byte SHA-256")
        if self.log.sig_type != SIG_ED25519 or self.log.name != self.network:
            raise ValueError(f"the log key must be an Ed25519 key named after the network {self.network!r}")
        witnesses = dict(self.witnesses)
        roster = dict(self.roster)
        if any(w.sig_type != SIG_COSIGNATURE_V1 for w in witnesses.values()):
            raise ValueError("witness keys must be cosignature/v1 (type 0x04) keys")
        if len({w.key_id for w in witnesses.values()}) != len(witnesses) or len({w.name for w in witnesses.values()}) != len(witnesses):
            raise ValueError("a witness key is listed twice: each institution's cosignature may count once")
        if isinstance(self.quorum, bool) or not isinstance(self.quorum, int) or not 1 <= self.quorum <= len(witnesses):
            raise ValueError(f"quorum must be between 1 and the {len(witnesses)} witnesses, got {self.quorum!r}")
        if unknown := sorted(set(witnesses) - set(roster)):
            raise ValueError(f"witness(es) {', '.join(unknown)} are not institutions of the roster")
        if self.sequencer not in roster:
            raise ValueError(f"the sequencer {self.sequencer!r} is not an institution of the roster")
        sequencers = tuple((int(n), str(i)) for n, i in self.sequencers) or ((0, self.sequencer),)
        if sequencers[0][0] != 0 or any(b[0] <= a[0] for a, b in zip(sequencers, sequencers[1:])):
            raise ValueError("sequencers must start at size 0 with strictly increasing sizes")
        if unknown := sorted({i for _, i in sequencers} - set(roster)):
            raise ValueError(f"sequencer(s) {', '.join(unknown)} are not institutions of the roster")
        if sequencers[-1][1] != self.sequencer:
            raise ValueError(f"the last sequencer of the history is {sequencers[-1][1]!r}, not {self.sequencer!r}")
        object.__setattr__(self, "sequencers", sequencers)
        owners: dict[bytes, str] = {}
        for inst_id, entry in roster.items():
            if inst_id != entry.id or not _ID.match(entry.id):
                raise ValueError(f"roster id {inst_id!r} is not an institution identifier")
            if not entry.keys:
                raise ValueError(f"institution {inst_id} has no signing key")
            for k in entry.keys:
                if k.key in owners:
                    raise ValueError(f"a signing key is listed for both {owners[k.key]} and {inst_id}")
                owners[k.key] = inst_id
        if self.status_lists is not None:
            lists = dict(self.status_lists)
            if len(lists) > MAX_STATUS_LISTS:
                raise ValueError(f"{len(lists)} status lists, more than the {MAX_STATUS_LISTS} a trust file may carry")
            for key, listed in lists.items():
                if key != (listed.institution, listed.number):
                    raise ValueError(f"status list {listed.institution}/{listed.number} is filed under {key}")
                if listed.institution not in roster:
                    raise ValueError(f"status list {listed.institution}/{listed.number} is of an institution not in the roster")
            object.__setattr__(self, "status_lists", MappingProxyType(lists))
        object.__setattr__(self, "witnesses", MappingProxyType(witnesses))
        object.__setattr__(self, "roster", MappingProxyType(roster))
        object.__setattr__(self, "_key_owner", MappingProxyType(owners))

    # --- queries ---------------------------------------------------------------------

    @property
    def witness_verifiers(self) -> tuple[Verifier, ...]:
        return tuple(self.witnesses.values())

    def sequencer_at(self, size: int) -> str:
        """The institution that sequenced the log at tree size ``size`` (and signed its checkpoint)."""
        current = self.sequencers[0][1]
        for first, institution in self.sequencers:
            if first > size:
                break
            current = institution
        return current

    def finality_witnesses(self, size: int) -> tuple[Verifier, ...]:
        """The witnesses whose cosignatures count for a checkpoint of ``size``: all but the sequencer's."""
        signer = self.sequencer_at(size)
        return tuple(w for inst, w in self.witnesses.items() if inst != signer)

    def institution(self, institution_id: str) -> RosterEntry | None:
        return self.roster.get(institution_id)

    def status_list_bits(self, institution: str, number: int) -> frozenset[int] | None:
        """The set bits of ``institution``'s status list ``number`` as the trust file has it, or None when it
        has no such list. The list is believed only if its proof verifies with a key the roster says the
        institution held at the list's ``validFrom`` (SignatureError, MalformedError otherwise: the file was
        altered or damaged). Checked once per list; correctness never depends on the memo."""
        listed = self.status_lists.get((institution, number)) if self.status_lists is not None else None
        if listed is None:
            return None
        hit = self._lists_checked.get((institution, number))
        if hit is None:
            try:
                hit = listed.authenticated_bits(self.roster[institution].keys)
            except (SignatureError, MalformedError) as e:
                hit = (type(e), f"status list {institution}/{number}: {e}")
            self._lists_checked[(institution, number)] = hit
        if isinstance(hit, tuple):
            raise hit[0](hit[1])
        return hit

    def check_status_lists(self) -> None:
        """Authenticate every status list (:meth:`status_list_bits`); raise for the first that does not verify."""
        for institution, number in sorted(self.status_lists or ()):
            self.status_list_bits(institution, number)

    def registry_for(self, institution: str) -> Registry:
        """A fresh :class:`Registry` holding the roster's view of ``institution`` (KeyError if absent)."""
        if institution not in self.roster:
            raise KeyError(institution)
        return _RosterRegistry.seeded(self, institution)

    # --- the file --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "network": self.network,
            "genesis_hash": self.genesis_hash.hex(),
            "log": self.log.vkey,
            "sequencer": self.sequencer,
            "witnesses": {i: w.vkey for i, w in sorted(self.witnesses.items())},
            "quorum": self.quorum,
            **({"sequencers": [{"from_size": n, "institution": i} for n, i in self.sequencers]} if len(self.sequencers) > 1 else {}),
            "as_of": format_time(self.as_of) if self.as_of is not None else None,
            "roster_size": self.roster_size,
            "institutions": [
                {
                    "id": r.id,
                    "name": r.name,
                    "type": r.type,
                    "keys": [
                        {
                            "key": b64e(k.key),
                            "valid_from": format_time(k.valid_from),
                            "valid_until": format_time(k.valid_until) if k.valid_until is not None else None,
                        }
                        for k in r.keys
                    ],
                }
                for _, r in sorted(self.roster.items())
            ],
            **({"status_lists": [dict(c.credential) for _, c in sorted(self.status_lists.items())]} if self.status_lists is not None else {}),
        }

    def to_bytes(self) -> bytes:
        """The trust file; MalformedError if it would exceed what a verifier reads (``MAX_TRUST_BYTES``)."""
        data = (json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
        if len(data) > MAX_TRUST_BYTES:
            raise MalformedError(f"the trust file would be {len(data)} bytes, more than the {MAX_TRUST_BYTES} a verifier reads")
        return data

    @classmethod
    def from_bytes(cls, data: bytes) -> "TrustPolicy":
        """Parse a trust file strictly; MalformedError says what is wrong with it."""
        j = safejson.loads(data, max_bytes=MAX_TRUST_BYTES)
        if not isinstance(j, dict) or j.get("format") != FORMAT:
            raise MalformedError(f"not a trust file (format must be {FORMAT})")
        fields = {
            "format", "network", "genesis_hash", "log", "sequencer", "sequencers", "witnesses", "quorum", "as_of", "roster_size", "institutions",
            "status_lists",
        }  # fmt: skip
        if extra := sorted(set(j) - fields):
            raise MalformedError(f"trust file has unknown field(s): {', '.join(extra)}")
        if missing := sorted(fields - {"as_of", "roster_size", "sequencers", "status_lists"} - set(j)):
            raise MalformedError(f"trust file is missing: {', '.join(missing)}")
        try:
            gh = j["genesis_hash"]
            if not isinstance(gh, str) or not HEX64.match(gh):
                raise MalformedError("genesis_hash must be 64 lowercase hex characters")
            if not isinstance(j["witnesses"], dict) or not isinstance(j["institutions"], list):
                raise MalformedError("witnesses must be an object and institutions a list")
            roster = {}
            for i in j["institutions"]:
                entry = _roster_entry(i)
                if entry.id in roster:
                    raise MalformedError(f"institution {entry.id} is listed twice")
                roster[entry.id] = entry
            history = j.get("sequencers", [])
            if not isinstance(history, list) or not all(
                isinstance(h, dict) and set(h) == {"from_size", "institution"} and type(h["from_size"]) is int and h["from_size"] >= 0
                for h in history
            ):
                raise MalformedError("sequencers must be a list of {from_size, institution}")
            size = j.get("roster_size")
            if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
                raise MalformedError("roster_size must be a log size")
            lists = _status_lists(j["status_lists"]) if "status_lists" in j else None
            return cls(
                network=_str(j["network"], "network"),
                genesis_hash=bytes.fromhex(gh),
                log=Verifier.from_vkey(j["log"]),
                witnesses={_str(k, "witness institution"): Verifier.from_vkey(v) for k, v in j["witnesses"].items()},
                quorum=j["quorum"],
                sequencer=_str(j["sequencer"], "sequencer"),
                sequencers=tuple((h["from_size"], _str(h["institution"], "sequencer")) for h in history),
                roster=roster,
                as_of=parse_time(j["as_of"], "as_of") if j.get("as_of") is not None else None,
                roster_size=size,
                status_lists=lists,
            )
        except ValueError as e:  # the constructor's invariants, reported as a bad file
            raise MalformedError(f"trust file is not usable: {e}") from None

    # --- building from a node's state ------------------------------------------------

    @classmethod
    def from_registry(
        cls,
        registry: Any,
        *args: Any,
        network: str | None = None,
        genesis_hash: bytes | None = None,
        log_vkey: str | None = None,
        quorum: int | None = None,
        witnesses: Mapping[str, str] | Iterable[str] | None = None,
        as_of: int | None = None,
        roster_size: int | None = None,
    ) -> "TrustPolicy":
        """The policy a node exports from its replayed :class:`Registry`.

        ``witnesses``: institution id -> witness vkey, or the ids whose
        registered witness keys count (default: every registered institution).
        ``from_registry(genesis, registry)`` (the e-portfolio's spelling) is
        :meth:`from_genesis`.
        """
        from ledger.model.genesis import Genesis

        if isinstance(registry, Genesis):
            return cls.from_genesis(registry, *args, as_of=as_of, roster_size=roster_size)
        if args:
            raise TypeError("from_registry takes the registry and keyword arguments")
        if network is None or genesis_hash is None or log_vkey is None or quorum is None:
            raise TypeError("from_registry needs network, genesis_hash, log_vkey and quorum")
        insts = registry.institutions
        if witnesses is None:
            chosen = {i: inst.witness_vkey for i, inst in insts.items()}
        elif isinstance(witnesses, Mapping):
            chosen = dict(witnesses)
        else:
            chosen = {i: insts[i].witness_vkey for i in witnesses}
        return cls(
            network=network,
            genesis_hash=genesis_hash,
            log=Verifier.from_vkey(log_vkey),
            witnesses={i: Verifier.from_vkey(v) for i, v in chosen.items()},
            quorum=quorum,
            sequencer=registry.sequencer,
            sequencers=tuple(getattr(registry, "sequencer_history", ())),
            roster={
                i: RosterEntry(inst.id, inst.name, inst.type, tuple(KeyValidity(k.key, k.valid_from, k.valid_until) for k in inst.keys))
                for i, inst in insts.items()
            },
            as_of=int(time.time()) if as_of is None else as_of,
            roster_size=roster_size,
        )

    @classmethod
    def export(cls, genesis: Any, registry: Registry, entry: Callable[[int], bytes], *, size: int, as_of: int | None = None) -> "TrustPolicy":
        """The trust file a node exports (``eduledger network export-trust``, ``GET /api/v1/trust``):
        :meth:`from_genesis` with ``registry``'s roster at log size ``size``, and every institution's current
        status lists, each the credential nodes serve, rebuilt from its latest ``status.publish`` entry
        (``entry(index)``: that leaf's bytes) and parsed as a verifier parses it."""
        from ledger.model.entries import parse_entry
        from verifier.statuslist import list_credential

        published = sorted(registry.status_published.items())  # a copy: a serving node's registry moves on
        if len(published) > MAX_STATUS_LISTS:
            raise MalformedError(f"the network has {len(published)} status lists, more than the {MAX_STATUS_LISTS} a trust file may carry")
        lists = {}
        for (institution, number), index in published:
            lists[(institution, number)] = StatusListCredential.parse(list_credential(institution, parse_entry(entry(index)).statement.body))
        policy = cls.from_genesis(genesis, registry, as_of=as_of, roster_size=size)
        return dataclasses.replace(policy, status_lists=lists)

    @classmethod
    def from_genesis(cls, genesis: Any, registry: Registry | None = None, *, as_of: int | None = None, roster_size: int | None = None) -> "TrustPolicy":
        """The policy of a network: the genesis file's log key, founders' witness keys and quorum
        (exactly what the node counts), and ``registry``'s roster (the genesis roster if None)."""
        if registry is None:
            registry = Registry(genesis.network, genesis.sequencer)
            for n, e in enumerate(genesis.entries()):
                registry.apply_genesis(e, n, genesis.created)
            roster_size = len(genesis.founders) if roster_size is None else roster_size
        return cls.from_registry(
            registry,
            network=genesis.network,
            genesis_hash=genesis.hash(),
            log_vkey=genesis.log_vkey,
            quorum=genesis.quorum,
            witnesses={f.id: f.witness_vkey for f in genesis.founders},
            as_of=as_of,
            roster_size=roster_size,
        )


def _str(v: object, name: str) -> str:
    if not isinstance(v, str) or not v:
        raise MalformedError(f"{name} must be a non-empty string")
    return v


def _status_lists(items: object) -> dict[tuple[str, int], StatusListCredential]:
    if not isinstance(items, list):
        raise MalformedError("status_lists must be a list of status list credentials")
    if len(items) > MAX_STATUS_LISTS:
        raise MalformedError(f"status_lists holds {len(items)} lists, more than the {MAX_STATUS_LISTS} a trust file may carry")
    lists: dict[tuple[str, int], StatusListCredential] = {}
    for item in items:
        listed = StatusListCredential.parse(item)
        key = (listed.institution, listed.number)
        if key in lists:
            raise MalformedError(f"status list {key[0]}/{key[1]} is listed twice")
        lists[key] = listed
    return lists


def _roster_entry(i: object) -> RosterEntry:
    if not isinstance(i, dict) or set(i) != {"id", "name", "type", "keys"}:
        raise MalformedError("each institution has exactly id, name, type and keys")
    # The entry rules validate id, name and type exactly as the ledger does.
    keys = i["keys"]
    if not isinstance(keys, list) or not keys:
        raise MalformedError(f"institution {i['id']!r} needs a list of keys")
    validities = []
    for k in keys:
        if not isinstance(k, dict) or set(k) != {"key", "valid_from", "valid_until"}:
            raise MalformedError("each key has exactly key, valid_from and valid_until")
        validities.append(
            KeyValidity(
                b64d(k["key"], "key", size=32),
                parse_time(k["valid_from"], "valid_from"),
                None if k["valid_until"] is None else parse_time(k["valid_until"], "valid_until"),
            )
        )
    # The ledger's own entry rules check id, name and type (one definition of a valid institution).
    reg = {"id": i["id"], "name": i["name"], "type": i["type"], "signing_key": b64e(validities[0].key), "witness_vkey": "-"}
    Statement("trust.file", "institution.register", i["id"], reg)
    return RosterEntry(i["id"], i["name"], i["type"], tuple(validities))


def load_trust(path: str) -> TrustPolicy:
    with open(path, "rb") as f:
        return TrustPolicy.from_bytes(f.read(MAX_TRUST_BYTES + 1))
