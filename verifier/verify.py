"""Verify a credential bundle offline against a trust policy.

``verify(bundle_bytes, trust, *, now) -> Report``. Pure: bytes, a policy and a
time in; a report out. Never raises for bad input and never loops on it: every
problem becomes a failed step with a sentence. The steps (see report.STEPS):

1. well-formed: strict JSON (size, depth, duplicate keys, safe numbers), the
   bundle's fields, each receipt a C2SP tlog-proof carrying a parseable entry.
2. digest: SHA-256 of the RFC 8785 credential equals the anchor entry's digest.
3. inclusion: every carried entry's leaf hash is proven in the checkpoint's tree.
4. log signature: the checkpoint note verifies with the trust file's log key and
   names the trust file's network (checked over the exact bytes before parsing).
5. cosignatures: distinct trusted witnesses meet the trust file's quorum.
6. issuer: the anchor entry's institution signature verifies, the institution is
   in the trust roster, and the signing key was valid at the issue time, using
   the roster's key intervals updated by the issuer's key entries in the bundle
   (a key rotated or revoked later does not invalidate earlier credentials).
7. status: no revocation or supersession by the issuer among the bundle's status
   entries, as of its checkpoint (``--online`` refreshes this from a node).
8. validity: ``validFrom <= now`` and, if present, ``now < validUntil``.

Verified checkpoints are cached by their exact bytes (``CheckpointCache``), so a
cohort of bundles under one checkpoint costs one signature check per checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger import merkle
from ledger.canonical import canonical_digest
from ledger.checkpoint import VerifiedCheckpoint, verify_checkpoint
from ledger.encoding import b64d
from ledger.entries import Entry, parse_entry, verify_entry_signature
from ledger.errors import EduledgerError, InconsistencyError, MalformedError, RootMismatchError
from ledger.timefmt import format_time, parse_time
from ledger.tlog_proof import TlogProof, parse_tlog_proof
from verifier import safejson
from verifier.report import FAILED, PASSED, SKIPPED, STEPS, WARNING, Report, Step
from verifier.trust import TrustPolicy

BUNDLE_FORMAT = "eduledger-bundle/v1"
MAX_BUNDLE_BYTES = 512 * 1024
MAX_CARRIED = 256


class CheckpointCache:
    """Checkpoints already verified under one trust policy, by their exact bytes."""

    def __init__(self, trust: TrustPolicy, limit: int = 1024) -> None:
        self.trust = trust
        self.limit = limit
        self._ok: dict[bytes, VerifiedCheckpoint] = {}

    def log_signature(self, note: bytes) -> VerifiedCheckpoint:
        """Step 4: the log signature and origin (no quorum)."""
        hit = self._ok.get(note)
        if hit is not None:
            return hit
        vc = verify_checkpoint(note, log=self.trust.log, origin=self.trust.network)
        return vc

    def quorum(self, note: bytes) -> VerifiedCheckpoint:
        """Step 5: the full check including the cosignature quorum; cached when it passes."""
        hit = self._ok.get(note)
        if hit is not None:
            return hit
        vc = verify_checkpoint(note, log=self.trust.log, witnesses=self.trust.witnesses, quorum=self.trust.quorum, origin=self.trust.network)
        if len(self._ok) >= self.limit:
            self._ok.pop(next(iter(self._ok)))
        self._ok[note] = vc
        return vc


class _Failed(Exception):
    def __init__(self, message: str) -> None:
        self.message = message


def _proofs(doc: dict[str, Any], key: str) -> list[TlogProof]:
    items = doc.get(key, [])
    if not isinstance(items, list) or len(items) > MAX_CARRIED:
        raise MalformedError(f"'{key}' must be a list of at most {MAX_CARRIED} proofs")
    return [parse_tlog_proof(p) for p in items]


def verify(bundle: bytes, trust: TrustPolicy, *, now: int, cache: CheckpointCache | None = None) -> Report:
    """Run the numbered steps over ``bundle``; see the module docstring."""
    report = Report()
    cache = cache if cache is not None and cache.trust is trust else CheckpointCache(trust)
    state: dict[str, Any] = {}
    checks: list[Callable[[], str]] = [
        lambda: _well_formed(bundle, report, state),
        lambda: _digest(report, state),
        lambda: _inclusion(state),
        lambda: _log_signature(state, cache),
        lambda: _cosignatures(state, cache, trust),
        lambda: _issuer(report, state, trust),
        lambda: _status(report, state),
        lambda: _validity(state, now),
    ]
    failed = False
    for (number, name, _), check in zip(STEPS, checks):
        if failed:
            report.steps.append(Step(number, name, SKIPPED, "not checked because an earlier step failed"))
            continue
        try:
            message = check()
            status = WARNING if message.startswith("warning: ") else PASSED
            report.steps.append(Step(number, name, status, message.removeprefix("warning: ")))
        except _Failed as f:
            report.steps.append(Step(number, name, FAILED, f.message))
            failed = True
        except EduledgerError as e:
            report.steps.append(Step(number, name, FAILED, str(e)))
            failed = True
        except (RecursionError, ValueError, TypeError, KeyError, AttributeError, UnicodeError) as e:
            # Defence in depth: a shape the parser let through must still fail cleanly.
            report.steps.append(Step(number, name, FAILED, f"the bundle is malformed ({type(e).__name__})"))
            failed = True
    return report


# --- the steps -----------------------------------------------------------------------


def _entry_of(p: TlogProof, what: str) -> Entry:
    if p.extra is None:
        raise MalformedError(f"the {what} proof does not carry its entry")
    return parse_entry(p.extra, allow_genesis=False)


def _well_formed(bundle: bytes, report: Report, state: dict[str, Any]) -> str:
    if not isinstance(bundle, (bytes, bytearray)):
        raise MalformedError("a bundle is bytes")
    doc = safejson.loads(bytes(bundle), max_bytes=MAX_BUNDLE_BYTES)
    if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
        raise MalformedError(f"not a credential bundle (format must be {BUNDLE_FORMAT})")
    if extra := set(doc) - {"format", "credential", "receipt", "issuer_keys", "status"}:
        raise MalformedError(f"unknown bundle field(s): {', '.join(sorted(extra))}")
    cred = doc.get("credential")
    if not isinstance(cred, dict):
        raise MalformedError("the bundle has no credential object")
    receipt = parse_tlog_proof(doc.get("receipt"))
    anchor = _entry_of(receipt, "receipt")
    if anchor.statement.kind != "credential.anchor":
        raise MalformedError("the receipt's entry is not a credential anchor")
    keys, status = _proofs(doc, "issuer_keys"), _proofs(doc, "status")
    for p in keys + status:
        if p.checkpoint != receipt.checkpoint:
            raise MalformedError("all proofs of a bundle must be under the same checkpoint")
    report.credential_id = str(cred.get("id")) if cred.get("id") is not None else None
    issuer = cred.get("issuer")
    report.issuer = str(issuer.get("name")) if isinstance(issuer, dict) and issuer.get("name") else anchor.statement.institution
    subject = cred.get("credentialSubject")
    if isinstance(subject, dict):
        report.holder = str(subject.get("name") or "") or None
    report.title = str(cred.get("name") or "") or None
    state.update(doc=doc, cred=cred, receipt=receipt, anchor=anchor, keys=keys, status=status)
    return f"bundle with {len(keys)} issuer key entries and {len(status)} status entries"


def _digest(report: Report, state: dict[str, Any]) -> str:
    digest = canonical_digest(state["cred"]).hex()
    report.digest = digest
    anchored = state["anchor"].statement.body["digest"]
    if digest != anchored:
        raise _Failed(f"the credential was altered: its digest {digest[:16]}… is not the anchored {anchored[:16]}…")
    return f"digest {digest} matches the anchor"


def _inclusion(state: dict[str, Any]) -> str:
    from ledger.checkpoint import parse_checkpoint
    from ledger.note import parse_note

    receipt: TlogProof = state["receipt"]
    cp = parse_checkpoint(parse_note(receipt.checkpoint).text)  # signature is step 4; here only size and root
    state["size"] = cp.size
    for p, what in [(receipt, "anchor")] + [(k, "issuer key") for k in state["keys"]] + [(s, "status") for s in state["status"]]:
        try:
            merkle.verify_inclusion(merkle.leaf_hash(p.extra or b""), p.index, cp.size, list(p.proof), cp.root)
        except RootMismatchError:
            raise _Failed(f"the {what} entry at index {p.index} is not in the log of size {cp.size}: the inclusion proof leads to another root") from None
        except MalformedError as e:
            raise _Failed(f"the {what} inclusion proof is malformed: {e}") from None
    return f"entry {receipt.index} is in the log of size {cp.size}"


def _log_signature(state: dict[str, Any], cache: CheckpointCache) -> str:
    vc = cache.log_signature(state["receipt"].checkpoint)
    if vc.checkpoint.size != state["size"]:  # pragma: no cover - same bytes parsed twice
        raise _Failed("checkpoint changed between steps")
    return f"checkpoint of size {vc.checkpoint.size} is signed by the log key of {vc.checkpoint.origin}"


def _cosignatures(state: dict[str, Any], cache: CheckpointCache, trust: TrustPolicy) -> str:
    vc = cache.quorum(state["receipt"].checkpoint)
    state["vc"] = vc
    return f"cosigned by {len(vc.cosigners)} of {len(trust.witnesses)} institutions (quorum {trust.quorum})"


def _issuer(report: Report, state: dict[str, Any], trust: TrustPolicy) -> str:
    anchor: Entry = state["anchor"]
    inst_id = anchor.statement.institution
    roster = trust.institution(inst_id)
    if roster is None:
        raise _Failed(f"the issuer {inst_id} is not an institution of this network's trust file")
    verify_entry_signature(anchor)
    periods = {k.key: [k.valid_from, k.valid_until] for k in roster.keys}
    for p in sorted(state["keys"], key=lambda p: p.index):
        e = _entry_of(p, "issuer key")
        s = e.statement
        if s.institution != inst_id or not s.kind.startswith("key."):
            raise _Failed(f"issuer key entry {p.index} is not a key entry of {inst_id}")
        verify_entry_signature(e)
        b = s.body
        if s.kind == "key.add":
            periods.setdefault(b64d(b["key"], "key", size=32), [parse_time(b["valid_from"]), None])
        elif s.kind == "key.rotate":
            at = parse_time(b["valid_from"])
            old = periods.get(b64d(b["old"], "old", size=32))
            if old is not None:
                old[1] = at if old[1] is None else min(old[1], at)
            periods.setdefault(b64d(b["new"], "new", size=32), [at, None])
        elif s.kind == "key.revoke":
            target = periods.get(b64d(b["key"], "key", size=32))
            until = parse_time(b["valid_until"])
            if target is not None:
                target[1] = until if target[1] is None else min(target[1], until)
    issued_at = parse_time(anchor.statement.body["issued_at"])
    key = anchor.auth.key if anchor.auth else b""
    period = periods.get(key)
    if period is None:
        raise _Failed(f"the anchor was signed with a key that {inst_id} never registered")
    start, end = period
    if issued_at < start:
        raise _Failed(f"the issuer's key was not yet valid at the issue time {format_time(issued_at)} (valid from {format_time(start)})")
    if end is not None and issued_at >= end:
        raise _Failed(f"the issuer's key was no longer valid at the issue time {format_time(issued_at)} (valid until {format_time(end)})")
    report.issuer = roster.name
    return f"issued by {roster.name} ({inst_id}) on {format_time(issued_at)} with a key valid then"


def _status(report: Report, state: dict[str, Any]) -> str:
    anchor: Entry = state["anchor"]
    digest = anchor.statement.body["digest"]
    for p in state["status"]:
        e = _entry_of(p, "status")
        s = e.statement
        if s.body.get("digest") != digest:
            raise _Failed(f"status entry {p.index} concerns another credential")
        if s.institution != anchor.statement.institution:
            continue  # only the issuer may revoke; the ledger refuses others, so ignore such an entry
        verify_entry_signature(e)
        if s.kind == "credential.revoke":
            raise _Failed(f"the credential was revoked by its issuer (reason: {s.body['reason']}, ledger index {p.index})")
        if s.kind == "credential.supersede":
            report.superseded_by = s.body["by"]
            raise _Failed(f"the credential was superseded by a corrected one (digest {s.body['by']}, ledger index {p.index})")
    vc = state.get("vc")
    size = vc.checkpoint.size if vc else state["size"]
    report.checkpoint_size = size
    return f"not revoked or superseded as of the checkpoint of size {size}"


def _validity(state: dict[str, Any], now: int) -> str:
    cred = state["cred"]
    vf, vu = cred.get("validFrom"), cred.get("validUntil")
    if vf is None:
        return "warning: the credential states no validFrom date"
    start = _rfc3339(vf, "validFrom")
    if now < start:
        raise _Failed(f"the credential is not valid before {vf}")
    if vu is not None:
        end = _rfc3339(vu, "validUntil")
        if now >= end:
            raise _Failed(f"the credential expired on {vu}")
        return f"valid from {vf} until {vu}"
    return f"valid from {vf}, no expiry"


def _rfc3339(value: object, field: str) -> int:
    """VC 2.0 dates are xsd:dateTimeStamp; accept the UTC 'Z' form with optional fractions."""
    if isinstance(value, str) and "." in value and value.endswith("Z"):
        value = value.split(".", 1)[0] + "Z"
    return parse_time(value, field)


def verify_consistency_of(seen: bytes, new: bytes, proof: list[bytes], trust: TrustPolicy) -> None:
    """A verifier that saw checkpoint ``seen`` is shown ``new`` of the same log:
    raise InconsistencyError (both checkpoints as evidence) unless ``new`` extends ``seen``."""
    a = verify_checkpoint(seen, log=trust.log, origin=trust.network).checkpoint
    b = verify_checkpoint(new, log=trust.log, origin=trust.network).checkpoint
    old, fresh = (a, b) if a.size <= b.size else (b, a)
    old_note, new_note = (seen, new) if a.size <= b.size else (new, seen)
    try:
        merkle.verify_consistency(old.size, fresh.size, old.root, fresh.root, proof)
    except (RootMismatchError, MalformedError) as e:
        raise InconsistencyError(
            f"fork: the checkpoints of size {old.size} and {fresh.size} are not consistent ({e})",
            old=old_note.decode("utf-8", "replace"),
            new=new_note.decode("utf-8", "replace"),
            proof=proof,
        ) from None
