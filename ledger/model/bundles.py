"""Credential bundles: the one file a holder keeps (pure; assembled by the node, read by the verifier).

::

    {"format": "eduledger-bundle/v1",
     "credential": {... exactly as issued ...},
     "receipt": "<C2SP tlog-proof of the credential.anchor entry>",
     "issuer_keys": ["<tlog-proof of each key.add / key.rotate / key.revoke entry of the issuer>", ...],
     "status": ["<tlog-proof of each credential.revoke / credential.supersede entry for this digest,
                 and of the replacing credential's anchor>", ...]}

Each proof is C2SP ``tlog-proof`` text (see :mod:`ledger.tlog.tlog_proof`) whose
``extra`` line carries the entry's exact leaf bytes, all against the same
cosigned checkpoint: the bundle's receipt and its "as of" for key history and
status. The key history and status are a snapshot as of that checkpoint: a
revocation appended later is not in it (``eduledger verify --online`` asks a
node for newer status). Nothing in a bundle sets the rules: the verifier takes
keys and quorum from its trust file, and the proofs only say what the log holds.

:func:`build_bundle` assembles a bundle from a node's state; :func:`parse_bundle`
turns untrusted parsed JSON back into typed parts (shape only: proofs and
signatures are the verifier's job).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.errors import ConflictError, MalformedError, NotFoundError
from ledger.model.entries import Entry, parse_entry
from ledger.model.registry import Registry
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.note import parse_note
from ledger.tlog.tlog_proof import TlogProof, parse_tlog_proof
from ledger.tlog.tree import Tree

__all__ = ["FORMAT", "MAX_CARRIED", "Bundle", "ProvenEntry", "build_bundle", "parse_bundle"]

FORMAT = "eduledger-bundle/v1"
#: At most this many key-history and status proofs each (a bound for untrusted input).
MAX_CARRIED = 256
KEY_KINDS = frozenset({"key.add", "key.rotate", "key.revoke"})
STATUS_KINDS = frozenset({"credential.revoke", "credential.supersede", "credential.anchor"})


# --- assembling -----------------------------------------------------------------------


def build_bundle(
    credential: dict[str, Any] | None = None,
    *,
    tree: Tree,
    registry: Registry,
    anchor_index: int | None = None,
    entry_at: Callable[[int], bytes] | None = None,
    checkpoint_note: bytes | None = None,
    size: int | None = None,
    index: int | None = None,
    store: Any = None,
    checkpoint: bytes | None = None,
) -> dict[str, Any]:
    """The bundle of ``credential``, anchored at ``anchor_index``, proven under ``checkpoint_note``.

    ``checkpoint_note`` should be a final (quorum-cosigned) checkpoint covering
    the anchor; ``size``, when given, must be its size; ``tree`` must hold at
    least that many leaves with the same root; ``entry_at(i)`` returns leaf
    bytes; ``registry`` is the node's replayed state (key history indices,
    revocations, supersessions; entries beyond the checkpoint are left out).
    ``index``/``store``/``checkpoint`` are the e-portfolio's spelling of
    ``anchor_index``/``entry_at`` (``store.entry``)/``checkpoint_note``.

    Raises NotFoundError if the checkpoint does not cover the anchor yet,
    ConflictError if the entry does not anchor this credential or the tree does
    not match the checkpoint.
    """
    if credential is None or not isinstance(credential, dict):
        raise TypeError("build_bundle needs the credential (a dict)")
    anchor_index = anchor_index if anchor_index is not None else index
    note = checkpoint_note if checkpoint_note is not None else checkpoint
    if entry_at is None and store is not None:
        entry_at = store.entry
    if anchor_index is None or entry_at is None or note is None:
        raise TypeError("build_bundle needs anchor_index, entry_at and checkpoint_note")
    cp = parse_checkpoint(parse_note(note).text)
    if size is not None and size != cp.size:
        raise ValueError(f"size {size} is not the checkpoint's size {cp.size}")
    size = cp.size
    if not 0 <= anchor_index < size:
        raise NotFoundError(f"the checkpoint of size {size} does not cover entry {anchor_index} yet; wait for the next final checkpoint")
    if tree.size < size or tree.root(size) != cp.root:
        raise ConflictError(f"the tree does not match the checkpoint of size {size}")
    anchor = parse_entry(entry_at(anchor_index))
    digest = canonical_digest(credential).hex()
    if anchor.statement.kind != "credential.anchor" or anchor.statement.body["digest"] != digest:
        raise ConflictError(f"entry {anchor_index} does not anchor this credential")
    issuer = anchor.statement.institution
    key_events = sorted(i for i in getattr(registry, "key_events", {}).get(issuer, []) if i < size)
    status: list[int] = []
    if (rev := registry.revocations.get(digest)) is not None and rev.index < size:
        status.append(rev.index)
    if (sup := registry.supersessions.get(digest)) is not None and sup.index < size:
        status.append(sup.index)
        replacement = registry.anchors.get(sup.by)
        if replacement is not None and replacement.index < size:
            status.append(replacement.index)  # the verifier replays the supersession, which needs the new anchor

    def proof(i: int) -> str:
        return TlogProof(i, tuple(tree.inclusion_proof(i, size)), note, entry_at(i)).to_text()

    return {
        "format": FORMAT,
        "credential": credential,
        "receipt": proof(anchor_index),
        "issuer_keys": [proof(i) for i in key_events],
        "status": [proof(i) for i in sorted(status)],
    }


# --- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProvenEntry:
    """An entry a bundle claims is in the log: its index, exact leaf bytes, parsed form and proof."""

    index: int
    data: bytes
    entry: Entry
    proof: tuple[bytes, ...]
    checkpoint: bytes


@dataclass(frozen=True)
class Bundle:
    credential: dict[str, Any]
    receipt: ProvenEntry
    issuer_keys: tuple[ProvenEntry, ...]
    status: tuple[ProvenEntry, ...]

    @property
    def checkpoint(self) -> bytes:
        return self.receipt.checkpoint


def _proven(text: object, what: str, kinds: frozenset[str], parse: Callable[[bytes], Entry], memo: dict[str, bytes] | None) -> ProvenEntry:
    p = parse_tlog_proof(text, memo=memo)
    if p.extra is None:
        raise MalformedError(f"the {what} proof does not carry its entry (no extra line)")
    try:
        entry = parse(p.extra)
    except MalformedError as e:
        raise MalformedError(f"the {what} entry at index {p.index} does not parse: {e}") from None
    if entry.statement.kind not in kinds:
        raise MalformedError(f"the {what} entry at index {p.index} is a {entry.statement.kind} entry")
    return ProvenEntry(p.index, p.extra, entry, p.proof, p.checkpoint)


def _proof_list(doc: dict[str, Any], key: str) -> Sequence[object]:
    items = doc[key]
    if not isinstance(items, list) or len(items) > MAX_CARRIED:
        raise MalformedError(f"{key} must be a list of at most {MAX_CARRIED} proofs")
    return items


def parse_bundle(doc: object, *, parse: Callable[[bytes], Entry] | None = None, memo: dict[str, bytes] | None = None) -> Bundle:
    """Typed parts of a parsed bundle; MalformedError on any shape problem.

    ``parse`` turns leaf bytes into an Entry (default: :func:`ledger.model.entries.parse_entry`
    without genesis entries; the verifier passes a memoised one); ``memo`` is a shared
    base64 memo for the proof hashes (ledger.tlog.encoding.b64d_memo).
    """
    parse = parse or (lambda data: parse_entry(data, allow_genesis=False))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MalformedError(f"not a credential bundle (format must be {FORMAT})")
    fields = {"format", "credential", "receipt", "issuer_keys", "status"}
    if extra := sorted(set(doc) - fields):
        raise MalformedError(f"unknown bundle field(s): {', '.join(extra)}")
    if missing := sorted(fields - set(doc)):
        raise MalformedError(f"the bundle is missing: {', '.join(missing)}")
    if not isinstance(doc["credential"], dict):
        raise MalformedError("the bundle's credential must be an object")
    receipt = _proven(doc["receipt"], "receipt", frozenset({"credential.anchor"}), parse, memo)
    keys = tuple(_proven(t, "issuer key", KEY_KINDS, parse, memo) for t in _proof_list(doc, "issuer_keys"))
    status = tuple(_proven(t, "status", STATUS_KINDS, parse, memo) for t in _proof_list(doc, "status"))
    seen = {receipt.index}
    for p in keys + status:
        if p.checkpoint != receipt.checkpoint:
            raise MalformedError("all proofs of a bundle must be against the same checkpoint")
        if p.index in seen:
            raise MalformedError(f"entry {p.index} appears twice in the bundle")
        seen.add(p.index)
    return Bundle(doc["credential"], receipt, keys, status)
