"""Submissions: what institutions POST to ``/api/v1/ledger/entries``, parsed into checked entries.

Two equivalent forms (docs/formats.md, "Submissions"):

* ``{"entries": [entry, ...]}``: whole entries, each with its ``auth`` (batch index,
  inclusion proof, key, signature), exactly as they will stand in the log;
* ``{"batches": [batch, ...]}``: compact institution-signed batches, each
  ``{"v": 1, "network", "institution", "key", "sig", "statements": [{"kind", "body"}, ...]}``.
  The node rebuilds the batch tree over the statements itself, checks the one
  signature over its root, and derives every entry's index and proof from that
  tree, so the entries it appends are byte for byte those of the first form
  (``ledger.model.entries.sign_batch``). A batch is a fifth of the bytes of its entries
  and needs no proof parsing: this is the fast path for cohorts.

Either way every entry is checked on its own (statement fields, kind rules) and
every signature is checked before anything is queued; the registry rules are
applied later, in log order, by the sequencer. Errors name the entry or the
batch and statement they are about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.errors import AuthorizationError, MalformedError, SignatureError
from ledger.model.compose import compose_batch
from ledger.model.entries import (
    FORMAT_VERSION,
    MAX_BATCH,
    Entry,
    Statement,
    batch_message,
    checked_entry,
    entry_from_json,
    statement_fast,
    verify_batch_signature,
)
from ledger.tlog import ed25519
from ledger.tlog.encoding import b64d, b64e

__all__ = ["MAX_SUBMISSION", "batch_entries", "parse_submission", "results_from_json", "to_submission"]

#: Most entries in one submission, whichever form it takes.
MAX_SUBMISSION = 10_000

_BATCH_FIELDS = frozenset({"v", "network", "institution", "key", "sig", "statements"})


def parse_submission(payload: object, network: str) -> list[Entry]:
    """Checked entries of a parsed submission for ``network``, in submission order.

    MalformedError for a payload that does not parse, AuthorizationError for
    entries of another network or without a signature, SignatureError when a
    batch signature or proof does not verify."""
    if not isinstance(payload, dict) or len(payload) != 1 or not isinstance(next(iter(payload.values())), list):
        raise MalformedError('a submission is a JSON object {"entries": [entry, ...]} or {"batches": [batch, ...]}')
    if "batches" in payload:
        return _parse_batches(payload["batches"], network)
    if "entries" not in payload:
        raise MalformedError('a submission is a JSON object {"entries": [entry, ...]} or {"batches": [batch, ...]}')
    return _parse_entries(payload["entries"], network)


def _parse_entries(raw: list, network: str) -> list[Entry]:
    if not raw:
        raise MalformedError("a submission needs at least one entry")
    if len(raw) > MAX_SUBMISSION:
        raise MalformedError(f"a submission holds at most {MAX_SUBMISSION} entries")
    entries = []
    memo: dict[str, bytes] = {}
    for i, j in enumerate(raw):
        try:
            entries.append(entry_from_json(j, memo=memo))
        except MalformedError as e:
            raise MalformedError(f"entry {i}: {e}") from None
    check_signatures(entries, network)
    return entries


def check_signatures(entries: Sequence[Entry], network: str) -> None:
    """One signature check per (key, signature) group; every entry's proof checked."""
    groups: dict[tuple[bytes, bytes], list[Entry]] = {}
    for e in entries:
        if e.auth is None:
            raise AuthorizationError("every submitted entry must be signed by an institution")
        if e.statement.network != network:
            raise AuthorizationError(f"entry is for network {e.statement.network!r}, this node serves {network!r}")
        groups.setdefault((e.auth.key, e.auth.signature), []).append(e)
    for group in groups.values():
        try:
            verify_batch_signature(group)
        except SignatureError as e:
            raise SignatureError(f"institution signature check failed: {e}") from None


def _parse_batches(raw: list, network: str) -> list[Entry]:
    if not raw:
        raise MalformedError("a submission needs at least one batch")
    total = 0
    out: list[Entry] = []
    for i, b in enumerate(raw):
        n = len(b.get("statements", ())) if isinstance(b, dict) and isinstance(b.get("statements"), list) else 0
        total += n
        if total > MAX_SUBMISSION:
            raise MalformedError(f"a submission holds at most {MAX_SUBMISSION} entries")
        try:
            out.extend(batch_entries(b, network))
        except (MalformedError, SignatureError, AuthorizationError) as e:
            raise type(e)(f"batch {i}: {e}") from None
    return out


def batch_entries(j: object, network: str) -> list[Entry]:
    """The entries of one compact batch, after checking it (see the module docstring).

    Steps: (1) the batch's own fields; (2) every statement, as ``Statement`` checks
    it; (3) the batch tree over the statement hashes and the one signature over its
    root (``ledger.model.entries.batch_message``); (4) each entry's auth from that tree."""
    # 1. The batch fields.
    if not isinstance(j, dict) or j.keys() != _BATCH_FIELDS:
        got = sorted(j) if isinstance(j, dict) else type(j).__name__
        raise MalformedError(f"a batch is an object with exactly {', '.join(sorted(_BATCH_FIELDS))}; got {got}")
    if type(j["v"]) is not int or j["v"] != FORMAT_VERSION:
        raise MalformedError(f"unsupported batch version {j['v']!r}, want {FORMAT_VERSION}")
    net, inst, statements = j["network"], j["institution"], j["statements"]
    if net != network:
        raise AuthorizationError(f"batch is for network {net!r}, this node serves {network!r}")
    if not isinstance(statements, list) or not 1 <= len(statements) <= MAX_BATCH:
        raise MalformedError(f"statements must be a list of 1 to {MAX_BATCH} statements")
    key_s, sig_s = j["key"], j["sig"]
    key = ed25519.check_public_key(b64d(key_s, "key", size=ed25519.PUBLIC_KEY_SIZE))
    sig = b64d(sig_s, "sig", size=ed25519.SIGNATURE_SIZE)
    # 2. Every statement, as Statement checks it (network and institution included).
    parsed: list[Statement] = []
    append = parsed.append
    for i, s in enumerate(statements):
        if type(s) is not dict or len(s) != 2 or "kind" not in s or "body" not in s:
            raise MalformedError(f"statement {i}: a statement is an object with exactly kind and body")
        try:
            statement = statement_fast(net, s["kind"], inst, s["body"])
            statement.canonical  # noqa: B018 - computed here so a value JSON cannot carry is refused with its position
            append(statement)
        except MalformedError as e:
            raise MalformedError(f"statement {i}: {e}") from None
    # 3. The batch tree over the statement hashes, every entry's proof and bytes (one native
    #    call), and the one signature over the root. Nothing is kept if the signature fails.
    n = len(parsed)
    root, hashes, proofs, datas = compose_batch([s.canonical for s in parsed], key_s, sig_s)
    try:
        ed25519.verify(key, sig, batch_message(net, inst, n, root))
    except SignatureError as e:
        raise SignatureError(f"institution signature check failed: {e}") from None
    # 4. The entries.
    entries = []
    for i, (s, h, proof, data) in enumerate(zip(parsed, hashes, proofs, datas)):
        s.__dict__["statement_hash"] = h  # the cached property, computed in the native call above
        entries.append(checked_entry(s, key, n, i, proof, sig, data))
    return entries


def to_submission(entries: Sequence[Entry]) -> dict[str, Any]:
    """The JSON an institution (or a forwarding node) posts for ``entries``.

    Compact batches when the entries are whole signed batches in order (what
    ``sign_batch`` returns), else the entries themselves."""
    batches: list[dict[str, Any]] = []
    i = 0
    while i < len(entries):
        a = entries[i].auth
        if a is None or a.batch_index != 0 or i + a.batch_size > len(entries):
            return {"entries": [e.to_json() for e in entries]}
        group = entries[i : i + a.batch_size]
        s0 = group[0].statement
        for k, e in enumerate(group):
            ea = e.auth
            if (
                ea is None
                or ea.batch_index != k
                or ea.batch_size != a.batch_size
                or ea.key != a.key
                or ea.signature != a.signature
                or e.statement.network != s0.network
                or e.statement.institution != s0.institution
            ):
                return {"entries": [e.to_json() for e in entries]}
        batches.append(
            {
                "v": FORMAT_VERSION,
                "network": s0.network,
                "institution": s0.institution,
                "key": b64e(a.key),
                "sig": b64e(a.signature),
                "statements": [{"kind": e.statement.kind, "body": dict(e.statement.body)} for e in group],
            }
        )
        i += a.batch_size
    return {"batches": batches}


def results_from_json(items: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Receipts and Rejections from the ``results`` of a node's answer to a submission."""
    from ledger.model.receipts import Receipt, Rejection

    out: list[Receipt | Rejection] = []
    for item in items:
        if item["accepted"]:
            out.append(Receipt(item["index"], b64d(item["leaf_hash"], "leaf_hash", size=32), item.get("duplicate", False)))
        else:
            out.append(Rejection(item["position"], AuthorizationError(item.get("error") or "refused")))
    return out
