"""Ledger entries: what each leaf of the log holds, and how institutions sign them.

An entry is a *statement* (what is claimed: kind, acting institution, body) plus
an *auth* block (who signed it). Leaf data is the RFC 8785 canonical JSON of the
whole entry; see ``docs/formats.md`` for the exact shape.

Signing is per batch (one Ed25519 signature for many entries): the submitting
institution builds an RFC 9162 tree over the statement hashes of its batch and
signs ``eduledger/batch/v1`` + network + institution + batch size + batch root.
Each entry carries its index in the batch and the inclusion proof, so every leaf
verifies on its own (a mirror needs nothing else), while ingest verifies one
signature per batch. A batch of one has an empty proof.

Entries carry no personal data: institutions, keys, digests, codes and times.
Genesis entries (block 0) carry no auth: the genesis file is their authority.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from ledger.errors import MalformedError, RootMismatchError, SignatureError
from ledger.model import statuslist
from ledger.tlog import _hashing, ed25519, merkle
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.encoding import HEX64, b64d, b64d_memo, b64e, hex32
from ledger.tlog.timefmt import parse_time

FORMAT_VERSION = 1
MAX_ENTRY_BYTES = 16 * 1024
MAX_BATCH = 10_000
BATCH_CONTEXT = "eduledger/batch/v1"

_ID = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,62}[a-z0-9]\Z")
_CODE = re.compile(r"\A[a-z0-9][a-z0-9_.-]{0,63}\Z")
_NETWORK = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._/-]{0,127}\Z")

INSTITUTION_TYPES = frozenset({"school", "olympiad-organiser", "training-institute", "university", "network-operator"})
REVOCATION_REASONS = frozenset({"issued-in-error", "fraud", "withdrawn", "superseded", "key-compromise", "other"})
KEY_REVOCATION_REASONS = frozenset({"compromised", "retired", "other"})


def _text(body: Mapping[str, Any], name: str, *, max_len: int = 200) -> str:
    v = body.get(name)
    if not isinstance(v, str) or not v.strip() or len(v) > max_len:
        raise MalformedError(f"{name} must be a non-empty string of at most {max_len} characters")
    return v


def _ident(body: Mapping[str, Any], name: str) -> str:
    v = body.get(name)
    if not isinstance(v, str) or not _ID.match(v):
        raise MalformedError(f"{name} must be an identifier of 3-64 characters: a-z, 0-9, '.', '-'")
    return v


def _code(body: Mapping[str, Any], name: str, allowed: frozenset[str] | None = None) -> str:
    v = body.get(name)
    if not isinstance(v, str) or not _CODE.match(v):
        raise MalformedError(f"{name} must be a short lowercase code")
    if allowed is not None and v not in allowed:
        raise MalformedError(f"{name} must be one of {', '.join(sorted(allowed))}")
    return v


def _key(body: Mapping[str, Any], name: str) -> bytes:
    return ed25519.check_public_key(b64d(body.get(name), name, size=ed25519.PUBLIC_KEY_SIZE))


def _exact_fields(body: Mapping[str, Any], required: set[str], optional: frozenset[str] = frozenset()) -> None:
    if body.keys() == required:
        return
    keys = set(body)
    if missing := required - keys:
        raise MalformedError(f"missing field(s): {', '.join(sorted(missing))}")
    if extra := keys - required - optional:
        raise MalformedError(f"unknown field(s): {', '.join(sorted(extra))}")


def _check_register(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"id", "name", "type", "signing_key", "witness_vkey"})
    _ident(b, "id")
    _text(b, "name")
    _code(b, "type", INSTITUTION_TYPES)
    _key(b, "signing_key")
    _text(b, "witness_vkey", max_len=300)


def _check_key_add(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"key", "valid_from"})
    _key(b, "key")
    parse_time(b["valid_from"], "valid_from")


def _check_key_rotate(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"old", "new", "valid_from"})
    if _key(b, "old") == _key(b, "new"):
        raise MalformedError("a rotation needs a new key different from the old one")
    parse_time(b["valid_from"], "valid_from")


def _check_key_revoke(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"key", "valid_until", "reason"})
    _key(b, "key")
    parse_time(b["valid_until"], "valid_until")
    _code(b, "reason", KEY_REVOCATION_REASONS)


def _index(body: Mapping[str, Any], name: str, bound: int) -> int:
    v = body.get(name)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < bound:
        raise MalformedError(f"{name} must be an integer from 0 to {bound - 1}")
    return v


def _check_anchor(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"digest", "type", "issued_at"}, _STATUS_SLOT)
    hex32(b.get("digest"), "digest")
    _code(b, "type")
    parse_time(b["issued_at"], "issued_at")
    if "status_list" in b or "status_index" in b:  # the credential's slot in its issuer's status lists
        _index(b, "status_list", statuslist.MAX_LISTS)
        _index(b, "status_index", statuslist.LIST_BITS)


_STATUS_SLOT = frozenset({"status_list", "status_index"})
_PROOF_FIELDS = {"type", "cryptosuite", "created", "verificationMethod", "proofPurpose", "proofValue"}


def _check_status_publish(b: Mapping[str, Any]) -> None:
    """A status list of the institution: its bits and the Data Integrity proof of the credential nodes rebuild."""
    _exact_fields(b, {"list", "id", "valid_from", "encoded_list", "proof"})
    _index(b, "list", statuslist.MAX_LISTS)
    _text(b, "id", max_len=300)
    parse_time(b["valid_from"], "valid_from")
    statuslist.decode_bits(b["encoded_list"])
    proof = b["proof"]
    if not isinstance(proof, Mapping):
        raise MalformedError("proof must be an object")
    _exact_fields(proof, _PROOF_FIELDS)
    for name in _PROOF_FIELDS:
        _text(proof, name, max_len=300)


def _check_revoke(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"digest", "reason"})
    hex32(b.get("digest"), "digest")
    _code(b, "reason", REVOCATION_REASONS)


def _check_supersede(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"digest", "by"})
    if hex32(b.get("digest"), "digest") == hex32(b.get("by"), "by"):
        raise MalformedError("a credential cannot supersede itself")


GOVERNANCE_ACTIONS = frozenset({"institution.add", "institution.suspend", "institution.rotate", "quorum.set", "sequencer.handover"})


def check_governance_params(action: str, params: Any) -> None:
    """Shape of a governance action's params (entry parsing; the rules live in ledger.model.governance)."""
    if action not in GOVERNANCE_ACTIONS:
        raise MalformedError(f"action must be one of {', '.join(sorted(GOVERNANCE_ACTIONS))}")
    if not isinstance(params, Mapping):
        raise MalformedError("params must be an object")
    match action:
        case "institution.add":
            _check_register(params)
        case "institution.suspend":
            _exact_fields(params, {"id"})
            _ident(params, "id")
        case "institution.rotate":
            _exact_fields(params, {"id", "signing_key", "witness_vkey"})
            _ident(params, "id")
            _key(params, "signing_key")
            _text(params, "witness_vkey", max_len=300)
        case "quorum.set":
            _exact_fields(params, {"quorum"})
            q = params["quorum"]
            if not isinstance(q, int) or isinstance(q, bool) or q < 1:
                raise MalformedError("quorum must be a positive integer")
        case "sequencer.handover":
            _exact_fields(params, {"to"})
            _ident(params, "to")


def _check_propose(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"proposal", "action", "params"})
    _ident(b, "proposal")
    check_governance_params(b.get("action"), b.get("params"))


def _check_approve(b: Mapping[str, Any]) -> None:
    _exact_fields(b, {"proposal"})
    _ident(b, "proposal")


BODY_CHECKS = {
    "institution.register": _check_register,
    "key.add": _check_key_add,
    "key.rotate": _check_key_rotate,
    "key.revoke": _check_key_revoke,
    "credential.anchor": _check_anchor,
    "credential.revoke": _check_revoke,
    "credential.supersede": _check_supersede,
    "status.publish": _check_status_publish,
    # Governance by k-of-n approvals (ledger/model/governance.py).
    "governance.propose": _check_propose,
    "governance.approve": _check_approve,
}
KINDS = frozenset(BODY_CHECKS)


@dataclass(frozen=True)
class Statement:
    """What an entry claims. Its canonical JSON is what the batch tree commits to."""

    network: str
    kind: str
    institution: str
    body: Mapping[str, Any]

    def __post_init__(self) -> None:
        if not isinstance(self.network, str) or not _NETWORK.match(self.network):
            raise MalformedError("network must be a name like edu.example/network")
        if not isinstance(self.kind, str) or self.kind not in BODY_CHECKS:
            raise MalformedError(f"unknown entry kind {self.kind!r}; known: {', '.join(sorted(KINDS))}")
        if not isinstance(self.institution, str) or not _ID.match(self.institution):
            raise MalformedError("institution must be an identifier of 3-64 characters: a-z, 0-9, '.', '-'")
        if not isinstance(self.body, Mapping):
            raise MalformedError("body must be an object")
        BODY_CHECKS[self.kind](self.body)

    def to_json(self) -> dict[str, Any]:
        return {"v": FORMAT_VERSION, "network": self.network, "kind": self.kind, "institution": self.institution, "body": dict(self.body)}

    @cached_property
    def canonical(self) -> bytes:
        return canonical_bytes(self.to_json(), validated=True)  # every field checked in __post_init__

    @cached_property
    def statement_hash(self) -> bytes:
        """Leaf hash of the statement in its batch tree (computed once per object)."""
        return merkle.leaf_hash(self.canonical)


_ANCHOR_CANONICAL = '{"body":{"digest":"%s","issued_at":"%s","type":"%s"},"institution":"%s","kind":"credential.anchor","network":"%s","v":1}'
_SLOT_ANCHOR_CANONICAL = (
    '{"body":{"digest":"%s","issued_at":"%s","status_index":%d,"status_list":%d,"type":"%s"},'
    '"institution":"%s","kind":"credential.anchor","network":"%s","v":1}'
)


@lru_cache(maxsize=256)
def _names_ok(network: str, institution: str) -> bool:
    return bool(_NETWORK.match(network) and _ID.match(institution))


def statement_fast(network: object, kind: object, institution: object, body: object) -> Statement:
    """``Statement(network, kind, institution, body)``, several times cheaper for credential anchors.

    Accepts exactly what the constructor accepts and raises the same errors (anything
    the fast path does not take goes through the constructor). An anchor's canonical
    bytes are spelled out: its strings, once checked (hex digest, lowercase code, RFC
    3339 time, identifiers), hold no character JSON escapes, and its members are in
    RFC 8785 order. tests/model/test_submission.py checks both against the constructor and
    rfc8785."""
    if (
        kind == "credential.anchor"
        and type(body) is dict
        and (len(body) == 3 or (len(body) == 5 and type(body.get("status_list")) is int and type(body.get("status_index")) is int))
        and "digest" in body
        and "type" in body
        and "issued_at" in body
        and type(network) is str
        and type(institution) is str
        and _names_ok(network, institution)
    ):
        d, t, at = body["digest"], body["type"], body["issued_at"]
        if type(d) is str and HEX64.match(d) and type(t) is str and _CODE.match(t):
            parse_time(at, "issued_at")
            if len(body) == 3:
                canonical = _ANCHOR_CANONICAL % (d, at, t, institution, network)
            else:
                sl, si = body["status_list"], body["status_index"]
                if not (0 <= sl < statuslist.MAX_LISTS and 0 <= si < statuslist.LIST_BITS):
                    return Statement(network, kind, institution, body)  # type: ignore[arg-type]  # raises the error
                canonical = _SLOT_ANCHOR_CANONICAL % (d, at, si, sl, t, institution, network)
            st = object.__new__(Statement)
            st.__dict__.update(network=network, kind=kind, institution=institution, body=body, canonical=canonical.encode("ascii"))
            return st
    return Statement(network, kind, institution, body)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Auth:
    """The institution signature that authorises an entry, shared by its batch."""

    key: bytes
    batch_size: int
    batch_index: int
    batch_proof: tuple[bytes, ...]
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "key": b64e(self.key),
            "batch": {"size": self.batch_size, "index": self.batch_index, "proof": [b64e(h) for h in self.batch_proof]},
            "sig": b64e(self.signature),
        }


@dataclass(frozen=True)
class Entry:
    statement: Statement
    auth: Auth | None
    _bytes: bytes = field(default=b"", repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        j = self.statement.to_json()
        if self.auth is not None:
            j["auth"] = self.auth.to_json()
        return j

    def to_bytes(self) -> bytes:
        """Leaf data: canonical JSON of the entry."""
        return self._bytes or _entry_bytes(self.statement, self.auth)

    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.to_bytes())

    def batch_root(self) -> bytes:
        """The batch root this entry's proof folds to (what the institution signed)."""
        if self.auth is None:
            raise ValueError("genesis entries have no batch")
        a = self.auth
        return _fold(self.statement.statement_hash, a.batch_index, a.batch_size, a.batch_proof)


def checked_entry(statement: Statement, key: bytes, size: int, index: int, proof: tuple[bytes, ...], signature: bytes, data: bytes) -> Entry:
    """``Entry(statement, Auth(key, size, index, proof, signature), data)`` for values a parser has
    already checked, without the frozen dataclasses' per-field ``__init__`` (a fifth of the cost;
    the submission fast path makes one per entry)."""
    auth = object.__new__(Auth)
    auth.__dict__.update(key=key, batch_size=size, batch_index=index, batch_proof=proof, signature=signature)
    entry = object.__new__(Entry)
    entry.__dict__.update(statement=statement, auth=auth, _bytes=data)
    return entry


def _entry_bytes(statement: Statement, auth: Auth | None) -> bytes:
    """RFC 8785 bytes of the entry, from the statement's canonical bytes (computed once, for its hash)."""
    if auth is None:
        return statement.canonical
    return compose_entry(statement.canonical, auth.batch_index, auth.batch_size, _quoted([b64e(h) for h in auth.batch_proof]), b64e(auth.key), b64e(auth.signature))


def compose_entry(statement: bytes, index: int, size: int, proof: str, key: str, sig: str) -> bytes:
    """The entry's canonical bytes from its statement's and the auth's base64 spellings.

    ``proof`` is the JSON list's inside: the proof hashes' base64 strings, quoted and
    joined by commas. The entry is the statement's members plus ``auth``, which sorts
    before all of them (auth < body < institution < kind < network < v), so its
    canonical form is ``{"auth":`` + canonical(auth) + ``,`` + the statement's form
    without its ``{``. canonical(auth) is spelled out here: its members are integers
    and canonical base64 strings (callers pass only strings that decoded and
    re-encoded to themselves), whose characters JSON never escapes.
    tests/model/test_entries.py checks this against rfc8785."""
    auth = '{"auth":{"batch":{"index":%d,"proof":[%s],"size":%d},"key":"%s","sig":"%s"},' % (index, proof, size, key, sig)
    return auth.encode("ascii") + statement[1:]


def _quoted(strings: Sequence[str]) -> str:
    return ",".join(['"' + h + '"' for h in strings])


def _fold(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Root that an inclusion proof leads to (shape checked by merkle's rules)."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise MalformedError(f"batch proof has {len(proof)} hashes, want {inner + border}")
    if not 0 <= index < size or len(leaf) != 32 or any(len(p) != 32 for p in proof):
        raise MalformedError(f"batch index {index} of size {size} with a {len(leaf)}-byte leaf: not a batch proof")
    return _hashing.fold_inclusion(leaf, index, size, proof)  # native when built: one call, no Python per level


def batch_message(network: str, institution: str, batch_size: int, batch_root: bytes) -> bytes:
    """The exact bytes an institution signs for a batch."""
    return f"{BATCH_CONTEXT}\n{network}\n{institution}\n{batch_size}\n{b64e(batch_root)}\n".encode()


def sign_batch(statements: Sequence[Statement], signer: Any) -> list[Entry]:
    """Sign statements of one institution as one batch; ``signer`` has ``.sign`` and ``.public_key``."""
    if not statements:
        raise ValueError("empty batch")
    if len(statements) > MAX_BATCH:
        raise ValueError(f"a batch holds at most {MAX_BATCH} entries")
    first = statements[0]
    if any(s.network != first.network or s.institution != first.institution for s in statements):
        raise ValueError("a batch is signed by one institution for one network")
    from ledger.tlog.tree import Tree  # local: tree imports merkle only, keeps this module light

    tree = Tree(s.statement_hash for s in statements)
    root = tree.root()
    sig = signer.sign(batch_message(first.network, first.institution, len(statements), root))
    n = len(statements)
    return [
        Entry(s, Auth(bytes(signer.public_key), n, i, tuple(tree.inclusion_proof(i)), sig)) for i, s in enumerate(statements)
    ]


def verify_batch_signature(entries: Sequence[Entry]) -> None:
    """Check the auth of entries that claim to form one batch, with one signature check.

    Per-entry checks stay: every entry's proof must lead to the same root, and all
    must name the same key, size, signature, network and institution. When the
    whole batch is present, the batch tree is rebuilt once (n hashes) and each
    entry's proof compared with it, instead of folding every proof (n log n).
    Raises SignatureError (or MalformedError for inconsistent batches).
    """
    if not entries:
        raise MalformedError("empty batch")
    first = entries[0]
    a0 = first.auth
    if a0 is None:
        raise SignatureError("entry has no institution signature")
    net, inst = first.statement.network, first.statement.institution
    for e in entries:
        a = e.auth
        if a is None:
            raise SignatureError("entry has no institution signature")
        if a.key != a0.key or a.signature != a0.signature or a.batch_size != a0.batch_size or e.statement.network != net or e.statement.institution != inst:
            raise MalformedError("entries of one batch must share key, signature, size, network and institution")
    # Every entry's proof must lead to the root the signature covers. The first entry's
    # proof gives that root; the rest are folded against it in one batch (nodes shared by
    # several proofs are hashed once), and only then is the one signature checked.
    root = first.batch_root()
    claims = [(e.statement.statement_hash, e.auth.batch_index, list(e.auth.batch_proof)) for e in entries]  # type: ignore[union-attr]
    try:
        merkle.verify_inclusion_batch(claims, a0.batch_size, root)
    except MalformedError as e:
        raise MalformedError(f"batch proof of entry {_batch_item(e, entries)}: {e}") from None
    except RootMismatchError as e:
        raise SignatureError(f"entry {_batch_item(e, entries)} of the batch does not belong to the signed batch root") from None
    ed25519.verify(a0.key, a0.signature, batch_message(net, inst, a0.batch_size, root))


def _batch_item(e: Exception, entries: Sequence[Entry]) -> int:
    """The batch index of the entry a merkle.verify_inclusion_batch error names."""
    for note in getattr(e, "__notes__", ()):
        if note.startswith("batch item "):
            return entries[int(note.removeprefix("batch item "))].auth.batch_index  # type: ignore[union-attr]
    return -1


def verify_entry_signature(entry: Entry) -> None:
    """Check one entry's auth on its own (mirrors and verifiers)."""
    verify_batch_signature([entry])


def _statement_from_json(j: Mapping[str, Any]) -> Statement:
    if type(j.get("v")) is not int or j["v"] != FORMAT_VERSION:
        raise MalformedError(f"unsupported entry version {j.get('v')!r}, want {FORMAT_VERSION}")
    return Statement(network=j.get("network"), kind=j.get("kind"), institution=j.get("institution"), body=j.get("body"))  # type: ignore[arg-type]


def _auth_from_json(a: object, memo: dict[str, bytes] | None = None) -> Auth:
    if not isinstance(a, dict) or set(a) != {"key", "batch", "sig"}:
        raise MalformedError("auth must have exactly key, batch and sig")
    b = a["batch"]
    if not isinstance(b, dict) or set(b) != {"size", "index", "proof"}:
        raise MalformedError("auth.batch must have exactly size, index and proof")
    size, index, proof = b["size"], b["index"], b["proof"]
    if not (isinstance(size, int) and not isinstance(size, bool) and 1 <= size <= MAX_BATCH):
        raise MalformedError(f"auth.batch.size must be 1..{MAX_BATCH}")
    if not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < size):
        raise MalformedError("auth.batch.index must be below the batch size")
    if not isinstance(proof, list) or len(proof) > 64:
        raise MalformedError("auth.batch.proof must be a list of hashes")
    memo = {} if memo is None else memo
    # Entries of one batch repeat the key, the signature and most proof hashes.
    key = b64d_memo(memo, a["key"], "auth.key", size=32)
    ed25519.check_public_key(key)
    get = memo.get
    hashes = []
    for h in proof:
        raw = get(h) if type(h) is str else None
        hashes.append(raw if raw is not None and len(raw) == 32 else b64d_memo(memo, h, "auth.batch.proof", size=32))
    sig = b64d_memo(memo, a["sig"], "auth.sig", size=64)
    return Auth(key=key, batch_size=size, batch_index=index, batch_proof=tuple(hashes), signature=sig)


_ENTRY_FIELDS = frozenset({"v", "network", "kind", "institution", "body", "auth"})


def entry_from_json(j: object, *, allow_genesis: bool = False, memo: dict[str, bytes] | None = None) -> Entry:
    """Build an Entry from parsed JSON (a submission); MalformedError on any defect.

    ``memo`` may be shared by the entries of one submission (see ``_auth_from_json``)."""
    if not isinstance(j, dict):
        raise MalformedError("an entry is a JSON object")
    if extra := j.keys() - _ENTRY_FIELDS:
        raise MalformedError(f"unknown entry field(s): {', '.join(sorted(extra))}")
    statement = _statement_from_json(j)
    if "auth" not in j:
        if not allow_genesis:
            raise MalformedError("entry has no auth (only genesis entries may omit it)")
        return Entry(statement, None)
    auth = _auth_from_json(j["auth"], memo)
    # Every field was checked to have exactly one spelling (the base64 strings decode and
    # re-encode to themselves), so composing from the submitted strings gives the canonical
    # bytes of the entry without encoding the hashes again.
    a = j["auth"]
    data = compose_entry(statement.canonical, auth.batch_index, auth.batch_size, _quoted(a["batch"]["proof"]), a["key"], a["sig"])
    return Entry(statement, auth, data)


def parse_entry(data: bytes, *, allow_genesis: bool = True, memo: dict[str, bytes] | None = None) -> Entry:
    """Parse leaf data; it must be exactly the canonical JSON of a valid entry."""
    import json

    if len(data) > MAX_ENTRY_BYTES:
        raise MalformedError(f"entry has {len(data)} bytes, limit {MAX_ENTRY_BYTES}")
    try:
        j = json.loads(data)
    except (ValueError, RecursionError):
        raise MalformedError("entry is not JSON") from None
    entry = entry_from_json(j, allow_genesis=allow_genesis, memo=memo)
    if entry.to_bytes() != data:
        raise MalformedError("entry bytes are not in RFC 8785 canonical form")
    return Entry(entry.statement, entry.auth, data)
