"""Verify a credential bundle against a trust policy: ``verify(bundle_bytes, trust, *, now) -> Report``.

Pure: bytes, a policy and a time in, a report out; no files, no network, no
clock. It never raises for bad input and never loops on it: every problem is a
failed step with a sentence (see :mod:`verifier.report` for the nine steps).

What each step relies on, and why in this order:

1. **well-formed** — :func:`verifier.safejson.loads` (size, depth, duplicate
   keys, safe numbers), :func:`ledger.model.bundles.parse_bundle` (fields, C2SP
   tlog-proofs carrying canonical entries), :func:`verifier.credentials.parse_credential`.
2. **digest** — SHA-256 of the RFC 8785 credential equals the anchor entry's
   ``digest`` (the credential is exactly as issued).
3. **log-signature** — the checkpoint note verifies with the trust file's log
   key over its exact bytes *before* its text is used, and names the trust
   file's network (C2SP signed-note, tlog-checkpoint).
4. **cosignatures** — distinct trusted institution witnesses with valid
   cosignature/v1 lines meet the trust file's quorum (a witness listed twice
   counts once).
5. **consistency** — no checkpoint of the same size with another root has been
   seen by this verifier (``CheckpointCache``); with an online refresh, the
   node's newest checkpoint provably extends this one (RFC 9162 §2.1.4.2).
   A fork fails with both checkpoints as evidence; so does, without evidence, a
   node whose checkpoint the trust file does not vouch for, or that refuses the
   consistency proof, or whose proof does not verify (``StatusRefresh``).
6. **inclusion** — the anchor, and every key-history and status entry the
   bundle carries, is in the verified tree (RFC 9162 §2.1.3.2).
7. **issuer** — the credential's issuer is the anchor's institution, which is
   in the trust roster; the entry's batch signature verifies; a
   :class:`~ledger.model.registry.Registry` seeded from the roster replays the
   issuer's proven key entries and then the anchor, so the node's rules decide
   whether the key was valid at the issue time. A key rotated or revoked later
   keeps earlier credentials valid; a key revoked back to a compromise time
   invalidates what it signed after that time.
8. **status** — the proven revocation and supersession entries (the bundle's,
   plus an online refresh's) are replayed through the same Registry: revoked or
   superseded fails, with the replacing credential's digest. A node's status
   entry that does not verify fails too. When the node's view could not be had
   (unreachable, halted, lagging) the step warns and the report is *incomplete*:
   not ok, and no step is blamed (``Report.online``). Then the issuer's status
   list in the trust file (``TrustPolicy.status_list_bits``, authenticated by the
   roster's key) is read at the anchor's slot: a set bit fails — revoked after the
   bundle was made. Offline, a trust file older than the bundle, or than
   ``max_trust_age``, passes with a warning (its evidence says which); a trust
   file without status lists (exported before them) changes nothing.
9. **validity** — ``validFrom <= now < validUntil``.

With ``check_proof`` the report also says whether the credential's W3C Data
Integrity proof verifies (``Report.proof_check``; ``verifier/dataintegrity.py``):
the key it names must be the issuer's key valid at the issue time according to
the ledger (the registry of step 7), and the signature must verify. The anchor
already authenticates the credential's bytes, proof included, so this is what an
outside verifier would check, done here when asked (``--check-proof``, the web
page); a credential issued before proofs only warns.

When steps 1 to 7 pass, the report carries the credential's verified facts
(``Report.facts``, ``verifier/facts.py``): holder, title, place, date, issuer
(the trust file's name for it). Nothing else the file says is confirmed.

With ``holder_email`` the report also says whether the credential was issued to
that address (:class:`AskedCheck`, ``Report.holder_check``; ``verifier.holder``):
a credential naming another address is not ok (status ``other-holder``); one
naming no address warns, and the name is all there is to compare.

Costs are paid once per distinct thing (``CheckpointCache``): a checkpoint's
signatures once per distinct note, an institution's batch signature once per
batch, key-history entries parsed once; per bundle remain the JSON, one
credential digest and the inclusion proofs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ledger.errors import (
    AuthorizationError,
    ConflictError,
    EduledgerError,
    InconsistencyError,
    MalformedError,
    PolicyError,
    QuorumError,
    RootMismatchError,
    SignatureError,
)
from ledger.model.bundles import Bundle, ProvenEntry, parse_bundle
from ledger.model.entries import Entry, parse_entry, verify_entry_signature
from ledger.model.registry import Registry
from ledger.tlog import merkle
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.checkpoint import Checkpoint, VerifiedCheckpoint, parse_checkpoint, verify_checkpoint
from ledger.tlog.encoding import b64d, b64e
from ledger.tlog.note import parse_note, verify_note
from ledger.tlog.timefmt import format_time as _format_time
from ledger.tlog.timefmt import parse_time
from ledger.tlog.tlog_proof import TlogProof
from verifier import safejson
from verifier.credentials import ParsedCredential, parse_credential
from verifier.facts import facts_of
from verifier.holder import matches_email
from verifier.report import (
    CONSISTENT,
    DEPENDS,
    ENVIRONMENT,
    ERROR,
    FAILED,
    FORK,
    INVALID_CHECKPOINT,
    INVALID_PROOF,
    INVALID_STATUS,
    LAGGING,
    NOT_CHECKED,
    PASSED,
    REFUSED,
    SKIPPED,
    STEPS,
    UNREACHABLE,
    WARNING,
    AskedCheck,
    OnlineCheck,
    Report,
    Step,
)
from verifier.trust import TrustPolicy

__all__ = ["MAX_BUNDLE_BYTES", "CheckpointCache", "StatusRefresh", "verify", "verify_consistency_of"]

MAX_BUNDLE_BYTES = 512 * 1024
MAX_DEPTH = 32
#: Offline status older than this (by its checkpoint's newest cosignature) passes with a warning.
STATUS_MAX_AGE = 30 * 24 * 3600

format_time = lru_cache(maxsize=4096)(_format_time)  # a cohort repeats a few instants in every report


# --- what a verifier remembers ------------------------------------------------------------


class CheckpointCache:
    """What one verifier has already checked under one trust policy.

    * checkpoints, by their exact bytes: the log signature (step 3) and the
      quorum (step 4) are verified once per distinct note, failures included;
    * checkpoint roots by size: a second verified checkpoint of a size already
      seen with another root is a fork (step 5);
    * institution batch signatures, by (key, signature, network, institution,
      batch size, batch root): one Ed25519 check per batch, however many
      bundles carry entries of it;
    * parsed entries, by their bytes (an issuer's key history repeats across a cohort);
    * decoded base64 hashes, by their text (proofs of one cohort share the upper tree,
      entries of one batch their key, signature and batch proofs).

    Maps are bounded; correctness never depends on a hit.
    """

    def __init__(self, trust: TrustPolicy, *, limit: int = 65_536) -> None:
        self.trust = trust
        self.limit = limit
        self._signed: dict[bytes, Checkpoint | tuple[type[EduledgerError], str]] = {}
        # note -> (checkpoint, the witnesses that count under the current rule, met only the old rule?)
        self._cosigned: dict[bytes, tuple[VerifiedCheckpoint, frozenset[str], bool] | tuple[type[EduledgerError], str]] = {}
        self._roots: dict[int, tuple[bytes, bytes]] = {}
        self._batches: set[tuple[bytes, ...]] = set()
        self._entries: OrderedDict[bytes, Entry] = OrderedDict()
        self._b64: dict[str, bytes] = {}
        self.signature_checks = 0  # checkpoint notes actually verified (for tests and benchmarks)

    def _put(self, table: dict, key: Any, value: Any) -> None:
        if len(table) >= self.limit:
            table.clear()
        table[key] = value

    @staticmethod
    def _raise(hit: tuple[type[EduledgerError], str]) -> None:
        raise hit[0](hit[1])  # a fresh exception each time: re-raising one object grows its traceback

    def log_signed(self, note: bytes) -> Checkpoint:
        """Step 3: the log key's signature over ``note``, then its body, for the trust file's network."""
        hit = self._signed.get(note)
        if hit is None:
            self.signature_checks += 1
            try:
                cp = parse_checkpoint(verify_note(note, [self.trust.log]).text)
                if cp.origin != self.trust.network:
                    raise PolicyError(f"the checkpoint is for log {cp.origin!r}, the trust file for {self.trust.network!r}")
                hit = cp
            except (SignatureError, PolicyError, MalformedError) as e:
                hit = (type(e), str(e))
            self._put(self._signed, note, hit)
        if isinstance(hit, tuple):
            self._raise(hit)
        return hit  # type: ignore[return-value]

    def cosigned(self, note: bytes) -> VerifiedCheckpoint:
        """Step 4: the full C2SP check with the trust file's witnesses and quorum, counting only the
        institutions other than the one that sequenced at the checkpoint's size (the log's signer never
        supplies its own quorum). A checkpoint that reaches the quorum only with the sequencer's own
        cosignature (the rule before 2026-12) passes here; :meth:`counted` tells it apart."""
        return self._cosigned_hit(note)[0]

    def counted(self, note: bytes) -> tuple[frozenset[str], bool]:
        """(witness names that count under the current rule, met the quorum only under the old rule)."""
        hit = self._cosigned_hit(note)
        return hit[1], hit[2]

    def _cosigned_hit(self, note: bytes) -> tuple[VerifiedCheckpoint, frozenset[str], bool]:
        hit = self._cosigned.get(note)
        if hit is None:
            try:
                vc = verify_checkpoint(note, log=self.trust.log, witnesses=self.trust.witness_verifiers, quorum=0, origin=self.trust.network)
                sequencer = self.trust.sequencer_at(vc.checkpoint.size)
                own = self.trust.witnesses.get(sequencer)
                counted = frozenset(vc.cosigners - ({own.name} if own is not None else set()))
                if len(counted) >= self.trust.quorum:
                    hit = (vc, counted, False)
                elif len(vc.cosigners) >= self.trust.quorum:
                    hit = (vc, counted, True)
                else:
                    raise QuorumError(
                        f"checkpoint has {len(counted)} valid cosignatures from trusted institutions other than the "
                        f"sequencer {sequencer}, need {self.trust.quorum}"
                    )
            except (SignatureError, PolicyError, MalformedError, QuorumError) as e:
                hit = (type(e), str(e))
            self._put(self._cosigned, note, hit)
        if isinstance(hit[0], type):
            self._raise(hit)  # type: ignore[arg-type]
        return hit  # type: ignore[return-value]

    def observe(self, cp: Checkpoint, note: bytes) -> int:
        """Step 5: remember a verified checkpoint; InconsistencyError if its size was seen with another root."""
        prior = self._roots.get(cp.size)
        if prior is not None and prior[0] != cp.root:
            raise InconsistencyError(
                f"two checkpoints of log size {cp.size} with different roots: the log has forked",
                old=prior[1].decode("utf-8", "replace"),
                new=note.decode("utf-8", "replace"),
            )
        if prior is None:
            self._put(self._roots, cp.size, (cp.root, note))
        return len(self._roots)

    def entry_signature(self, entry: Entry) -> None:
        """The institution's batch signature on ``entry`` (SignatureError / MalformedError)."""
        a = entry.auth
        if a is None:
            raise SignatureError("the entry carries no institution signature")
        s = entry.statement
        key = (a.key, a.signature, s.network.encode(), s.institution.encode(), a.batch_size.to_bytes(4, "big"), entry.batch_root())
        if key in self._batches:
            return
        verify_entry_signature(entry)
        if len(self._batches) >= self.limit:
            self._batches.clear()
        self._batches.add(key)

    def b64_memo(self) -> dict[str, bytes]:
        """The shared base64 memo (ledger.tlog.encoding.b64d_memo), emptied when it reaches the limit."""
        if len(self._b64) >= self.limit:
            self._b64.clear()
        return self._b64

    def entry(self, data: bytes) -> Entry:
        """Leaf bytes -> Entry (canonical, signed entries only), memoised."""
        hit = self._entries.get(data)
        if hit is not None:
            self._entries.move_to_end(data)
            return hit
        entry = parse_entry(data, allow_genesis=False, memo=self.b64_memo())
        self._entries[data] = entry
        if len(self._entries) > 4096:
            self._entries.popitem(last=False)
        return entry


@dataclass(frozen=True)
class StatusRefresh:
    """Newer status fetched from a node (``--online``), verified like the bundle itself.

    ``checkpoint``: the node's newest checkpoint note; ``consistency``: the RFC
    9162 proof between the bundle's checkpoint and it (smaller size first);
    ``old_root``: the node's root at the bundle's size, as its consistency
    endpoint states it (with it, a proof is checked against the node's signed
    root alone, so a fork is told apart from a proof that proves nothing);
    ``entries``: tlog-proofs (entry bytes in ``extra``) of the status entries for
    the digest, against ``checkpoint``. ``node``: the node's URL, for the report.

    ``problem`` (a code of :mod:`verifier.report`) and ``error`` (a sentence) say
    what went wrong while fetching. ``unreachable``, ``halted``, ``lagging`` and
    ``unavailable`` are the environment's fault: no step is blamed, but the report
    is incomplete (not ok), and whatever did arrive (a checkpoint and its
    consistency proof) is still checked, so a proven fork is never lost.
    ``refused`` and ``invalid-proof`` fail step 5, ``invalid-status`` step 8 (a
    checkpoint the trust file does not vouch for fails step 5 too:
    ``invalid-checkpoint``). An ``error`` without a ``problem`` is ``unreachable``.
    """

    checkpoint: bytes = b""
    consistency: tuple[bytes, ...] = ()
    entries: tuple[TlogProof, ...] = ()
    error: str | None = None
    node: str = ""
    old_root: bytes | None = None
    problem: str | None = None

    @property
    def code(self) -> str | None:
        """``problem``, or ``unreachable`` for an ``error`` without one; None when nothing went wrong."""
        return self.problem or (UNREACHABLE if self.error is not None else None)


def verify_consistency_of(
    seen_checkpoint: bytes,
    new_checkpoint: bytes,
    proof: Sequence[bytes],
    *,
    trust: TrustPolicy | None = None,
    prefix_root: bytes | None = None,
) -> None:
    """Raise InconsistencyError, with both checkpoints and the proof as evidence, unless
    the larger checkpoint extends the smaller one (RFC 9162 §2.1.4.2).

    With ``trust``, both notes' log signatures are verified first (SignatureError);
    without, the caller vouches that they were (e.g. through a CheckpointCache).

    ``prefix_root`` is the larger tree's root at the smaller size, as the proof's
    supplier states it. The proof is then checked against the larger checkpoint's
    signed root alone: if it does not verify it proves nothing, and
    RootMismatchError or MalformedError is raised (never a fork: anyone can send
    garbage); if it verifies and ``prefix_root`` is not the smaller checkpoint's
    root, the two signed trees cannot both be the log (InconsistencyError, its
    ``proof`` the prefix root followed by the consistency proof). Without it, any
    proof that fails to connect the two roots is reported as a fork.
    """
    checkpoints = []
    for note in (seen_checkpoint, new_checkpoint):
        if trust is not None:
            cp = parse_checkpoint(verify_note(note, [trust.log]).text)
        else:
            cp = parse_checkpoint(parse_note(note).text)
        checkpoints.append(cp)
    a, b = checkpoints
    if a.origin != b.origin:
        raise PolicyError(f"the checkpoints belong to two logs, {a.origin!r} and {b.origin!r}")
    (old, old_note), (new, new_note) = sorted([(a, seen_checkpoint), (b, new_checkpoint)], key=lambda x: x[0].size)
    if prefix_root is not None and old.size < new.size:
        merkle.verify_consistency(old.size, new.size, prefix_root, new.root, list(proof))  # authenticates prefix_root
        if prefix_root != old.root:
            raise InconsistencyError(
                f"the checkpoint of log size {new.size} has root {b64e(prefix_root)} at size {old.size}, "
                f"the checkpoint of size {old.size} has root {b64e(old.root)}: the log has forked",
                old=old_note.decode("utf-8", "replace"),
                new=new_note.decode("utf-8", "replace"),
                proof=[prefix_root, *proof],
            )
        return
    try:
        merkle.verify_consistency(old.size, new.size, old.root, new.root, list(proof))
    except (RootMismatchError, MalformedError) as e:
        raise InconsistencyError(
            f"the checkpoint of log size {new.size} does not extend the checkpoint of size {old.size}: the log has forked ({e})",
            old=old_note.decode("utf-8", "replace"),
            new=new_note.decode("utf-8", "replace"),
            proof=list(proof),
        ) from None


# --- the run ----------------------------------------------------------------------------


class _Fail(Exception):
    """A failed step; ``online``: the OnlineCheck code when the node's answer is what failed it."""

    def __init__(self, message: str, evidence: dict[str, Any] | None = None, *, online: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.evidence = evidence
        self.online = online


_FAILURE_PREFIX = {
    "well-formed": "the file is not a well-formed credential bundle",
    "digest": "the credential's digest cannot be computed",
    "log-signature": "the checkpoint is not signed by the trust file's log key",
    "cosignatures": "the checkpoint's cosignatures do not meet the trust file's quorum",
    "consistency": "the checkpoint is not consistent with the log",
    "inclusion": "an inclusion proof does not verify",
    "issuer": "the issuer or its key is not valid",
    "status": "the credential's status cannot be established",
    "validity": "the credential's dates cannot be read",
}


def verify(
    bundle_bytes: bytes,
    trust: TrustPolicy,
    *,
    now: int,
    seen: CheckpointCache | None = None,
    refresh: StatusRefresh | None = None,
    holder_email: str | None = None,
    check_proof: bool = False,
    max_trust_age: int = STATUS_MAX_AGE,
) -> Report:
    """Run the numbered steps over ``bundle_bytes`` (see the module docstring).

    ``seen`` carries what this verifier already checked (pass one cache for a
    whole cohort); it must have been made for ``trust``. ``refresh`` adds newer
    status from a node. ``holder_email``: also check the credential was issued
    to this address. ``max_trust_age``: seconds after the trust file's ``as_of``
    past which status from its lists passes with a warning (0: never warn).
    Bad input never raises; wrong argument types do.
    """
    if not isinstance(bundle_bytes, (bytes, bytearray, memoryview)):
        raise TypeError(f"bundle_bytes must be bytes, not {type(bundle_bytes).__name__}")
    if not isinstance(trust, TrustPolicy):
        raise TypeError("trust must be a TrustPolicy")
    if isinstance(now, bool) or not isinstance(now, int):
        raise TypeError("now must be Unix seconds (int)")
    if seen is None:
        seen = CheckpointCache(trust)
    elif seen.trust is not trust:
        raise ValueError("this CheckpointCache was made for another trust policy")
    if holder_email is not None and not isinstance(holder_email, str):
        raise TypeError("holder_email must be a str")
    if isinstance(max_trust_age, bool) or not isinstance(max_trust_age, int) or max_trust_age < 0:
        raise ValueError("max_trust_age must be seconds (int, 0 or more)")
    run = _Run(bytes(bundle_bytes), trust, now, seen, refresh)
    run.max_trust_age = max_trust_age
    report = run.run()
    if check_proof:
        report.proof_check = run.check_proof()
    if holder_email is not None:
        report.holder_check = run.check_holder(holder_email)
    return report


#: (number, name, the _Run method that checks it, the steps it depends on), in order.
_PLAN = tuple((number, name, "_" + name.replace("-", "_"), DEPENDS.get(number, ())) for number, name, _ in STEPS)


class _Run:
    def __init__(self, data: bytes, trust: TrustPolicy, now: int, seen: CheckpointCache, refresh: StatusRefresh | None) -> None:
        self.data, self.trust, self.now, self.seen, self.refresh = data, trust, now, seen, refresh
        self.report = Report()
        self.bundle: Bundle
        self.cred: ParsedCredential
        self.cp: Checkpoint
        self.vc: VerifiedCheckpoint
        self.fresh: VerifiedCheckpoint | None = None
        # What --online came to, once decided; an environment problem is decided before any step.
        self.online: OnlineCheck | None = None
        if refresh is not None and refresh.code in ENVIRONMENT:
            self.online = OnlineCheck(refresh.node, ERROR, refresh.code, refresh.error or refresh.code)  # type: ignore[arg-type]
        self.registry: Registry
        self.plain = False
        self.max_trust_age = STATUS_MAX_AGE

    def run(self) -> Report:
        passed: set[int] = set()
        steps = self.report.steps
        for number, name, method, depends in _PLAN:
            blocked = next((d for d in depends if d not in passed), None)
            if blocked is not None:
                step = Step(number, name, SKIPPED, f"not checked because step {blocked} ({STEPS[blocked - 1][1]}) did not pass")
            else:
                step = self._step(number, name, method)
            if step.status in (PASSED, WARNING):
                passed.add(number)
            steps.append(step)
        if self.refresh is not None:
            self.report.online = self.online or self._online_outcome()
        if passed.issuperset(range(1, 8)):
            # The credential is, byte for byte, the one its issuer anchored in a log the trust file vouches for:
            # what it says is what the issuer certified (verifier/report.py, "Verified facts").
            self.report.facts = facts_of(self.cred, self.bundle.credential, issuer=self.report.issuer)
        return self.report

    def check_holder(self, email: str) -> AskedCheck:
        """Whether the credential was issued to ``email`` (a malformed address is ``failed``)."""
        if next(s.status for s in self.report.steps if s.name == "well-formed") != PASSED:
            return AskedCheck(SKIPPED, "the holder was not checked because the file is not a well-formed credential bundle")
        cred = self.cred
        try:
            match = matches_email(cred.holder_identities, email)
        except MalformedError as e:
            return AskedCheck(FAILED, f"the e-mail address given cannot be checked: {e}")
        if match is None:
            return AskedCheck(WARNING, f"the credential names no e-mail address (issued before holders were identified): compare the name, {cred.holder_name}")
        if match:
            return AskedCheck(PASSED, "issued to the person with this e-mail address")
        return AskedCheck(FAILED, "issued to someone else: the credential names another e-mail address")

    def check_proof(self) -> AskedCheck:
        """The Data Integrity proof, checked with the key the ledger says the issuer held at the issue time."""
        from verifier.dataintegrity import proof_of, verify_proof
        from verifier.didweb import method_key

        steps = {s.name: s.status for s in self.report.steps}
        if any(steps.get(n) not in (PASSED, WARNING) for n in ("well-formed", "digest", "issuer")):
            return AskedCheck(SKIPPED, "the proof was not checked because the credential, its digest or its issuer did not verify")
        cred = self.bundle.credential
        if "proof" not in cred:
            return AskedCheck(WARNING, "the credential carries no Data Integrity proof (issued before proofs): its ledger anchor is its proof")
        try:
            institution, key = method_key(proof_of(cred)["verificationMethod"])
            if institution != self.cred.institution:
                raise SignatureError(f"the proof names a key of {institution}, not of the issuer {self.cred.institution}")
            period = self.registry.institutions[institution].key(key)
            if period is None or not period.valid_at(self.cred.valid_from):
                raise SignatureError("the proof's key was not the issuer's signing key at the issue time, according to the ledger")
            verify_proof(cred, key)
        except (MalformedError, SignatureError) as e:
            return AskedCheck(FAILED, f"the Data Integrity proof does not verify: {e}")
        return AskedCheck(PASSED, "the issuer's Data Integrity proof (eddsa-rdfc-2022) verifies with its key valid at the issue time")

    def _online_outcome(self) -> OnlineCheck:
        node = self.refresh.node  # type: ignore[union-attr]
        if self.fresh is not None:
            size = self.fresh.checkpoint.size
            return OnlineCheck(node, PASSED, CONSISTENT, f"the node's newest checkpoint (log size {size}) extends the bundle's")
        return OnlineCheck(node, SKIPPED, NOT_CHECKED, "the node's answers were not checked because an earlier step did not pass")

    def _step(self, number: int, name: str, method: str) -> Step:
        try:
            status, message, *evidence = getattr(self, method)()  # a warning may carry evidence
            return Step(number, name, status, message, *evidence)
        except _Fail as f:
            if f.online is not None:
                self.online = OnlineCheck(self.refresh.node, FAILED, f.online, f.message)  # type: ignore[union-attr]
            return Step(number, name, FAILED, f.message, f.evidence)
        except EduledgerError as e:
            return Step(number, name, FAILED, f"{_FAILURE_PREFIX[name]}: {e}")
        except Exception as e:  # noqa: BLE001 - no input may crash a verifier; tests assert this line is never reached
            return Step(number, name, FAILED, f"the verifier could not check this step ({type(e).__name__}: {e}); treat the file as not verified")

    # --- 1 -------------------------------------------------------------------------------

    def _well_formed(self) -> tuple[str, str]:
        try:
            doc, self.plain = safejson.loads_plain(self.data, max_bytes=MAX_BUNDLE_BYTES, max_depth=MAX_DEPTH)
            self.bundle = b = parse_bundle(doc, parse=self.seen.entry, memo=self.seen.b64_memo())
            self.cred = c = parse_credential(b.credential)
        except MalformedError as e:
            raise _Fail(f"the file is not a well-formed credential bundle: {e}") from None
        r = self.report
        r.kind, r.credential_id, r.holder, r.title, r.issuer, r.index = c.kind, c.id, c.holder_name, c.title, c.issuer_name, b.receipt.index
        return PASSED, (
            f"a well-formed bundle: {c.kind} credential “{c.title}” for {c.holder_name} from {c.issuer_name}, "
            f"with {len(b.issuer_keys)} issuer key entries and {len(b.status)} status entries"
        )

    # --- 2 -------------------------------------------------------------------------------

    def _digest(self) -> tuple[str, str]:
        # A document without floats or astral characters is already in the fast
        # canonicaliser's domain (safejson says so): skip walking it again.
        digest = canonical_digest(self.bundle.credential, validated=self.plain).hex()
        self.report.digest = digest
        anchored = self.bundle.receipt.entry.statement.body["digest"]
        if digest != anchored:
            raise _Fail(
                f"the credential was altered after it was issued: its SHA-256 is {digest[:16]}…, the ledger entry anchors {anchored[:16]}…",
                {"digest": digest, "anchored": anchored},
            )
        return PASSED, f"the credential is exactly the one anchored by ledger entry {self.bundle.receipt.index} (SHA-256 {digest[:16]}…)"

    # --- 3, 4, 5 ---------------------------------------------------------------------------

    def _log_signature(self) -> tuple[str, str]:
        note = self.bundle.checkpoint
        try:
            self.cp = cp = self.seen.log_signed(note)
        except SignatureError as e:
            origin = _unverified_origin(note)
            if origin is not None and origin != self.trust.network:
                raise _Fail(
                    f"the checkpoint is for network {origin!r} but the trust file is for {self.trust.network!r}: "
                    "the bundle belongs to another network, or this is the wrong trust file"
                ) from None
            raise _Fail(f"the checkpoint is not signed by the log key in the trust file ({e})") from None
        except PolicyError as e:
            raise _Fail(f"the checkpoint is signed by the log key but {e}") from None
        self.report.checkpoint_size, self.report.checkpoint_root = cp.size, b64e(cp.root)
        return PASSED, f"the checkpoint of log size {cp.size} is signed by the log key of {self.trust.network}"

    def _cosignatures(self) -> tuple[str, str]:
        try:
            self.vc = vc = self.seen.cosigned(self.bundle.checkpoint)
        except QuorumError as e:
            raise _Fail(f"too few institutions cosigned the checkpoint: {e}") from None
        except SignatureError as e:
            raise _Fail(f"a trusted institution's cosignature does not verify: {e}") from None
        counted, legacy = self.seen.counted(self.bundle.checkpoint)
        names = sorted(i for i, w in self.trust.witnesses.items() if w.name in counted)
        sequencer = self.trust.sequencer_at(vc.checkpoint.size)
        if vc.cosigned_at:
            self.report.status_as_of = max(vc.cosigned_at.values())
        others = len(self.trust.witnesses) - (sequencer in self.trust.witnesses)
        if legacy:
            return WARNING, (
                f"only {len(names)} of the {others} institutions besides the sequencer {sequencer} cosigned it"
                f"{' (' + ', '.join(names) + ')' if names else ''}; the trust file requires {self.trust.quorum}: it met the quorum "
                "only by counting the sequencer's own cosignature (the rule before 2026-12); verify with --online for a "
                "checkpoint that meets today's rule"
            )
        return PASSED, (
            f"{len(names)} of the {others} institutions besides the sequencer {sequencer} cosigned it ({', '.join(names)}); "
            f"the trust file requires {self.trust.quorum}"
        )

    def _consistency(self) -> tuple[str, str]:
        note = self.bundle.checkpoint
        try:
            sizes = self.seen.observe(self.cp, note)
        except InconsistencyError as e:
            raise _Fail(f"fork: {e}", {"old": e.old, "new": e.new}) from None
        offline = f"no conflicting checkpoint of this log seen ({sizes} distinct log sizes seen by this verifier)"
        r = self.refresh
        if r is None or not r.checkpoint:  # offline, or the node's checkpoint never came (self.online says why)
            return PASSED, offline
        who = f"the node {r.node}" if r.node else "the node"
        try:
            fresh = self.seen.cosigned(r.checkpoint)
            if self.seen.counted(r.checkpoint)[1]:
                raise QuorumError("its cosignatures meet the quorum only by counting the sequencer's own")
        except EduledgerError as e:
            raise _Fail(
                f"the newest checkpoint of {who} is not one the trust file vouches for ({e}), so it shows nothing about this one",
                {"node": r.node},
                online=INVALID_CHECKPOINT,
            ) from None
        size = fresh.checkpoint.size
        if size < self.cp.size:  # nothing to prove against: the environment's fault, not the bundle's
            message = f"{who} is behind this bundle: its newest checkpoint is of log size {size}, the bundle's of log size {self.cp.size}"
            self.online = OnlineCheck(r.node, ERROR, LAGGING, message)
            return PASSED, offline
        evidence = {"node": r.node, "new": r.checkpoint.decode("utf-8", "replace")}
        if r.code in (REFUSED, INVALID_PROOF):
            raise _Fail(f"{who} did not prove that its newest checkpoint (log size {size}) extends this one: {r.error}", evidence, online=r.code)
        try:
            self.seen.observe(fresh.checkpoint, r.checkpoint)
            verify_consistency_of(note, r.checkpoint, r.consistency, prefix_root=r.old_root)
        except InconsistencyError as e:
            raise _Fail(f"fork: {e}", {"old": e.old, "new": e.new, "proof": [b64e(h) for h in e.proof]}, online=FORK) from None
        except EduledgerError as e:  # the proof does not verify against the node's own signed root: no evidence either way
            raise _Fail(
                f"the consistency proof of {who} from log size {self.cp.size} to {size} does not verify against its own signed "
                f"checkpoint ({e}): the node has not shown that its log extends this checkpoint",
                {**evidence, "proof": [b64e(h) for h in r.consistency]},
                online=INVALID_PROOF,
            ) from None
        self.fresh = fresh
        return PASSED, f"the node's newest checkpoint (log size {size}) is consistent with this one"

    # --- 6 -------------------------------------------------------------------------------

    def _inclusion(self) -> tuple[str, str]:
        b, cp = self.bundle, self.cp
        carried = [("the credential's anchor", b.receipt)]
        carried += [("an issuer key entry", p) for p in b.issuer_keys] + [("a status entry", p) for p in b.status]
        for what, p in carried:
            _prove(what, p.index, p.data, p.proof, cp)
        extra = f", with {len(b.issuer_keys)} issuer key and {len(b.status)} status entries" if len(carried) > 1 else ""
        return PASSED, f"ledger entry {b.receipt.index} anchoring the credential is in the log of size {cp.size}{extra}"

    # --- 7 -------------------------------------------------------------------------------

    def _issuer(self) -> tuple[str, str]:
        anchor = self.bundle.receipt.entry
        inst = anchor.statement.institution
        if self.cred.institution != inst:
            raise _Fail(f"the credential names the issuer {self.cred.institution}, but its ledger entry was made by {inst}")
        roster = self.trust.roster.get(inst)
        if roster is None:
            when = f" of {format_time(self.trust.as_of)}" if self.trust.as_of is not None else ""
            raise _Fail(f"{inst} is not an institution of {self.trust.network} according to the trust file{when}")
        issued_at = parse_time(anchor.statement.body["issued_at"], "issued_at")
        if self.cred.valid_from != issued_at:
            raise _Fail(f"the credential's validFrom {format_time(self.cred.valid_from)} is not the issue time {format_time(issued_at)} on the ledger")
        self._signed(anchor, "the issuer's signature on the ledger entry")
        self.registry = reg = self.trust.registry_for(inst)
        for p in sorted(self.bundle.issuer_keys, key=lambda p: p.index):
            e = p.entry
            if e.statement.institution != inst:
                raise _Fail(f"key entry {p.index} belongs to {e.statement.institution}, not to the issuer {inst}")
            self._signed(e, f"the signature on key entry {p.index}")
            if _reflected_in_roster(reg, e):
                continue
            try:
                reg.apply(e, p.index, _signer_time(reg, e))
            except (AuthorizationError, ConflictError) as err:
                raise _Fail(f"the issuer's key entry {p.index} ({e.statement.kind}) breaks a ledger rule: {err}") from None
        try:
            reg.apply(anchor, self.bundle.receipt.index, issued_at)
        except (AuthorizationError, ConflictError) as err:
            raise _Fail(f"the issuer's key was not valid for this credential: {err}") from None
        period = reg.institutions[inst].key(anchor.auth.key)  # type: ignore[union-attr]
        until = f" until {format_time(period.valid_until)}" if period and period.valid_until is not None else ""
        since = format_time(period.valid_from) if period else "?"
        self.report.issuer = roster.name
        return PASSED, f"issued by {roster.name} ({inst}) on {format_time(issued_at)} with a signing key valid from {since}{until}"

    def _signed(self, entry: Entry, what: str, *, online: str | None = None) -> None:
        try:
            self.seen.entry_signature(entry)
        except (SignatureError, MalformedError) as e:
            raise _Fail(f"{what} does not verify: {e}", online=online) from None

    # --- 8 -------------------------------------------------------------------------------

    def _status(self) -> tuple[str, str]:
        digest = self.report.digest
        inst = self.bundle.receipt.entry.statement.institution
        entries: dict[int, ProvenEntry] = {p.index: p for p in self.bundle.status}
        as_of_size, as_of_time = self.cp.size, self.report.status_as_of
        from_node: set[int] = set()
        if self.fresh is not None and self.refresh is not None and self.online is None:
            fresh = self.fresh.checkpoint
            if self.refresh.code == INVALID_STATUS:
                raise _Fail(f"the node's status answers do not verify: {self.refresh.error}", online=INVALID_STATUS)
            for t in self.refresh.entries:
                try:
                    p = _fresh_entry(t, fresh, self.refresh.checkpoint, self.seen)
                except (_Fail, EduledgerError) as e:
                    raise _Fail(f"a status entry from the node does not verify: {getattr(e, 'message', e)}", online=INVALID_STATUS) from None
                prior = entries.get(p.index)
                if prior is not None and prior.data != p.data:
                    raise _Fail(f"the node's entry {p.index} differs from the bundle's: the log has forked", {"index": p.index}, online=FORK)
                if prior is None:
                    from_node.add(p.index)
                entries[p.index] = p
            as_of_size = fresh.size
            as_of_time = max(self.fresh.cosigned_at.values()) if self.fresh.cosigned_at else as_of_time
        replaced = {
            p.entry.statement.body["by"]
            for p in entries.values()
            if p.entry.statement.kind == "credential.supersede" and p.entry.statement.body["digest"] == digest
        }
        for p in entries.values():
            s = p.entry.statement
            blame = INVALID_STATUS if p.index in from_node else None  # the node's entry, not the bundle's
            if not ((s.kind != "credential.anchor" and s.body["digest"] == digest) or (s.kind == "credential.anchor" and s.body["digest"] in replaced)):
                raise _Fail(f"status entry {p.index} does not concern this credential", online=blame)
            if s.institution != inst:
                raise _Fail(f"status entry {p.index} was made by {s.institution}, not by the issuer {inst}", online=blame)
            self._signed(p.entry, f"the signature on status entry {p.index}", online=blame)
        reg = self.registry
        for index in sorted(entries):
            e = entries[index].entry
            now = parse_time(e.statement.body["issued_at"]) if e.statement.kind == "credential.anchor" else _signer_time(reg, e)
            try:
                reg.apply(e, index, now)
            except (AuthorizationError, ConflictError) as err:
                blame = INVALID_STATUS if index in from_node else None
                raise _Fail(f"status entry {index} ({e.statement.kind}) breaks a ledger rule: {err}", online=blame) from None
        self.report.status_as_of = as_of_time
        when = f", cosigned {format_time(as_of_time)}" if as_of_time is not None else ""
        state = reg.status(digest)  # type: ignore[arg-type]
        if state == "revoked":
            rev = reg.revocations[digest]  # type: ignore[index]
            raise _Fail(
                f"the issuer revoked this credential (reason: {rev.reason}) in ledger entry {rev.index}",
                {"revocation_index": rev.index, "reason": rev.reason},
            )
        if state == "superseded":
            sup = reg.supersessions[digest]  # type: ignore[index]
            self.report.superseded_by = sup.by
            raise _Fail(
                f"superseded in ledger entry {sup.index} by a corrected credential (SHA-256 {sup.by}): ask the holder for the new one",
                {"superseded_by": sup.by, "supersession_index": sup.index},
            )
        message = f"not revoked or superseded as of log size {as_of_size}{when}"
        listed, trust_warning, evidence = self._trust_list(inst, as_of_time)
        if listed:
            message += f", nor in its status list in the trust file of {_trust_date(self.trust)}"
        if self.online is not None and self.online.status == ERROR:
            # Not a pass: the report is incomplete (not ok) and eduledger verify exits 2.
            return WARNING, f"{message}; the online check could not be made: {self.online.message}"
        if self.fresh is not None:
            return PASSED, message
        warnings = [trust_warning] if trust_warning else []
        if not listed and as_of_time is not None and self.now - as_of_time > STATUS_MAX_AGE:
            days = (self.now - as_of_time) // 86400
            warnings.append(f"{days} days ago: a later revocation would not be in this bundle; check online for newer status")
        if warnings:
            return WARNING, f"{message}; " + "; ".join(warnings), evidence  # type: ignore[return-value]
        return PASSED, message

    def _trust_list(self, inst: str, bundle_time: int | None) -> tuple[bool, str | None, dict[str, Any] | None]:
        """The credential's bit in its issuer's status list in the trust file: set fails the step (the issuer
        revoked or superseded it after the bundle was made); unset returns (whether that list is newer status
        than the bundle's, a warning for an offline verdict, the warning's evidence). Lists are authenticated
        by the trust file's roster first; a credential without a slot, or a trust file exported before status
        lists, leaves the bundle's status alone."""
        t, body = self.trust, self.bundle.receipt.entry.statement.body
        number, index = body.get("status_list"), body.get("status_index")
        if number is None or t.status_lists is None:
            return False, None, None
        name, of = f"{inst}/{number}", f"the trust file of {_trust_date(t)}"
        try:
            bits = t.status_list_bits(inst, number)
        except (SignatureError, MalformedError) as e:
            raise _Fail(
                f"{of} carries a status list that cannot be trusted ({e}): the file was altered or damaged; export it again",
                {"trust_file_error": str(e), "status_list": name},
            ) from None
        if bits is not None and index in bits:
            raise _Fail(
                f"revoked after this bundle was made, according to {of}: the issuer's status list {name} marks it (index {index}) "
                "as revoked or superseded; verify with --online for the reason",
                {"status_list": name, "status_index": index, "trust_as_of": t.as_of},
            )
        evidence: dict[str, Any] = {"trust_as_of": t.as_of, "trust_size": t.roster_size, "status_list": name}
        if t.roster_size is not None:
            older = t.roster_size < self.cp.size
        else:
            older = t.as_of is not None and bundle_time is not None and t.as_of < bundle_time
        if older:
            size = f" (log size {t.roster_size})" if t.roster_size is not None else ""
            return False, (
                f"{of}{size} is older than this bundle (log size {self.cp.size}): it cannot show a revocation made after "
                "the bundle; use a newer trust file (eduledger network export-trust) or verify with --online"
            ), {**evidence, "trust_older_than_bundle": True}
        if bits is None:
            return False, f"{of} has no status list {name}, so it says nothing of this credential's status after the bundle", evidence
        age = self.now - t.as_of if t.as_of is not None else None
        if self.max_trust_age and (age is None or age > self.max_trust_age):
            old = f"is {age // 86400} days old" if age is not None else "does not say when it was exported"
            return True, (
                f"{of} {old}: a revocation after it would not be seen; use a newer trust file (eduledger network export-trust) "
                "or verify with --online"
            ), {**evidence, "trust_age_days": age // 86400 if age is not None else None}
        return True, None, None

    # --- 9 -------------------------------------------------------------------------------

    def _validity(self) -> tuple[str, str]:
        c = self.cred
        if self.now < c.valid_from:
            raise _Fail(f"the credential is not valid before {format_time(c.valid_from)}", {"expired": False})
        if c.valid_until is not None and self.now >= c.valid_until:
            raise _Fail(f"the credential expired on {format_time(c.valid_until)}", {"expired": True})
        if c.valid_until is None:
            return PASSED, f"valid from {format_time(c.valid_from)}, with no expiry date"
        return PASSED, f"valid from {format_time(c.valid_from)} until {format_time(c.valid_until)}"


# --- helpers ----------------------------------------------------------------------------


def _prove(what: str, index: int, data: bytes, proof: Sequence[bytes], cp: Checkpoint) -> None:
    try:
        merkle.verify_inclusion(merkle.leaf_hash(data), index, cp.size, proof, cp.root)
    except RootMismatchError:
        raise _Fail(f"{what} (entry {index}) is not in the log of size {cp.size}: its inclusion proof leads to another root") from None
    except MalformedError as e:
        raise _Fail(f"{what} (entry {index}) has a broken inclusion proof: {e}") from None


def _fresh_entry(t: TlogProof, cp: Checkpoint, note: bytes, seen: CheckpointCache) -> ProvenEntry:
    if t.checkpoint != note or t.extra is None:
        raise _Fail("the node's status proofs are not against its checkpoint")
    entry = seen.entry(t.extra)
    _prove("a status entry from the node", t.index, t.extra, t.proof, cp)
    return ProvenEntry(t.index, t.extra, entry, t.proof, t.checkpoint)


def _trust_date(trust: TrustPolicy) -> str:
    return format_time(trust.as_of) if trust.as_of is not None else "unknown date"


def _unverified_origin(note: bytes) -> str | None:
    """The origin line of a note that did not verify, only to word the error message."""
    first = note.split(b"\n", 1)[0]
    try:
        return first.decode("utf-8")[:200] or None
    except UnicodeDecodeError:
        return None


def _signer_time(reg: Registry, entry: Entry) -> int:
    """A time at which the entry's signing key was valid, for replaying an entry whose
    sequencing time the bundle cannot prove: the start of the key's period (0 if the key is
    unknown, which the Registry then refuses)."""
    inst = reg.institutions.get(entry.statement.institution)
    period = inst.key(entry.auth.key) if inst is not None and entry.auth is not None else None
    return period.valid_from if period is not None else 0


def _reflected_in_roster(reg: Registry, entry: Entry) -> bool:
    """Whether a key entry's effect is already in the roster the registry was seeded with
    (the trust file was exported after it): replaying it again would be refused as a duplicate."""
    inst = reg.institutions[entry.statement.institution]
    b = entry.statement.body
    match entry.statement.kind:
        case "key.add":
            return inst.key(b64d(b["key"], "key", size=32)) is not None
        case "key.rotate":
            return inst.key(b64d(b["new"], "new", size=32)) is not None
        case "key.revoke":
            period = inst.key(b64d(b["key"], "key", size=32))
            return period is not None and period.valid_until is not None and period.valid_until <= parse_time(b["valid_until"])
    return False
