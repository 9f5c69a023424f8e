"""The verification report: numbered steps, each with a status and a sentence a person understands.

Steps (``STEPS``), in the order they run. The log signature is checked before
anything inside the checkpoint is used (signature first, then parse), so the
inclusion proof is folded only against a root the trust file vouches for:

=====  =============  =================================================================
 1     well-formed    strict JSON, the bundle's fields, the credential's shape and kind
 2     digest         SHA-256 of the RFC 8785 credential = the anchored digest
 3     log-signature  the checkpoint is signed by the trust file's log key, for its network
 4     cosignatures   distinct trusted institutions' cosignatures meet the quorum
 5     consistency    the checkpoint agrees with every checkpoint of the log seen before
 6     inclusion      the anchor (and every key and status entry) is in the checkpoint's tree
 7     issuer         institution in the roster; its key valid at the issue time
 8     status         not revoked or superseded as of the newest checkpoint known
 9     validity       validFrom <= now < validUntil
=====  =============  =================================================================

A failed step skips the steps that depend on it (``DEPENDS``); independent
steps still run, so a report can say "the receipt is genuine, the credential was
altered" or "expired, and also revoked".

With ``--online`` the report also says what the node's check came to
(:class:`OnlineCheck`, ``Report.online``): ``passed``; ``failed`` — the node's
answers prove or show something wrong, and the step they concern (5 or 8) has
failed; ``error`` — the node's view could not be had (unreachable, halted,
lagging, unavailable), no step is blamed, and the report is not ok (its status is
``incomplete``); ``skipped`` — an earlier step failed, so the node's answers were
not checked.

**Verified facts** (``Report.facts``, :class:`Facts`): what the issuer certified, in one structure for
every presenter (the CLI's text leads with it, ``--json`` and ``POST /api/v1/verify`` carry it as
``facts``, the web pages show it in large type): holder, achievement title, kind, place and stage
(olympiads), hours (training), date and issue date, issuer name and id. It is set only when steps 1 to 7
passed (a warning counts as passed), that is when the credential is, byte for byte, the one its issuer
anchored on a log the trust file vouches for; otherwise it is None and ``holder``/``title`` are only
what the file claims. A revoked, superseded or expired credential keeps its facts: the status says what
became of them. Nothing else in a file is confirmed: a diploma PDF's printed page is the holder's to
print, so a PDF's report also carries ``Report.printed`` (:class:`PrintedCheck`): the notice that only
the facts are confirmed and the page must match them, and what comparing the page's text layer with the
facts found (``verifier/facts.py``). A page whose text differs is a warning, never a failure, and a page
whose text agrees is never a confirmation: whoever made the PDF wrote its text layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PASSED, FAILED, SKIPPED, WARNING = "passed", "failed", "skipped", "warning"
#: OnlineCheck.status when the node's view could not be had: not the bundle's fault, yet no verdict.
ERROR = "error"

# OnlineCheck.code, by the status it goes with.
CONSISTENT = "consistent"  # passed: the node's newest checkpoint extends the bundle's
FORK = "fork"  # failed (5): a proof verified against the node's signed root shows another root
REFUSED = "refused"  # failed (5): the node would not give the consistency proof
INVALID_PROOF = "invalid-proof"  # failed (5): the node's consistency proof does not verify
INVALID_CHECKPOINT = "invalid-checkpoint"  # failed (5): the trust file does not vouch for the node's checkpoint
INVALID_STATUS = "invalid-status"  # failed (8): the node's status entries or answers do not verify
UNREACHABLE = "unreachable"  # error: no answer (connection, timeout, TLS)
HALTED = "halted"  # error: HTTP 503, the node stopped serving log data (storage or fork alert)
LAGGING = "lagging"  # error: the node's newest checkpoint is smaller than the bundle's
UNAVAILABLE = "unavailable"  # error: any other HTTP error (not a node, busy, a proxy's error page)
NOT_CHECKED = "not-checked"  # skipped
#: The codes that mean "the node's view could not be had" (status ERROR).
ENVIRONMENT = frozenset({UNREACHABLE, HALTED, LAGGING, UNAVAILABLE})

# PrintedCheck.status: what comparing a PDF's printed text with the verified facts found.
DIFFERS = "differs"  # a warning: the page names another holder, title or place than the verified facts
NOT_COMPARED = "not-compared"  # no text layer, one that could not be read within the limits, or no verified facts
NO_DIFFERENCE_FOUND = "no-difference-found"  # never a confirmation: the text layer is the PDF maker's to write
#: What a PDF's report says, whatever the comparison found.
PDF_NOTICE = ("only the verified facts are confirmed: the printed page of this PDF is not verified, "
              "and must show the same holder, achievement, place and date")

STEPS: tuple[tuple[int, str, str], ...] = (
    (1, "well-formed", "the file is a well-formed credential bundle"),
    (2, "digest", "the credential is exactly the one anchored on the ledger"),
    (3, "log-signature", "the checkpoint is signed by the network's log key"),
    (4, "cosignatures", "enough institutions cosigned the checkpoint"),
    (5, "consistency", "the checkpoint is consistent with checkpoints seen before"),
    (6, "inclusion", "the ledger entries are included in the log"),
    (7, "issuer", "the issuer is registered and its key was valid at issue time"),
    (8, "status", "the credential is not revoked or superseded"),
    (9, "validity", "the credential is within its validity dates"),
)
STEP_NUMBERS = {name: number for number, name, _ in STEPS}
#: step -> the steps whose failure makes it meaningless.
DEPENDS: Mapping[int, tuple[int, ...]] = {2: (1,), 3: (1,), 4: (3,), 5: (4,), 6: (4,), 7: (2, 6), 8: (7,), 9: (1,)}


class Step(NamedTuple):  # a tuple: a cohort of 100,000 bundles makes 900,000 of them
    number: int
    name: str
    status: str
    message: str
    evidence: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"step": self.number, "name": self.name, "status": self.status, "message": self.message}
        if self.evidence:
            out["evidence"] = dict(self.evidence)
        return out


class AskedCheck(NamedTuple):
    """A check beyond the nine steps, made only when asked: ``--holder-email`` (``Report.holder_check``,
    ``verifier/holder.py``) or ``--check-proof`` (``Report.proof_check``, ``verifier/dataintegrity.py``).
    ``status``: ``passed``; ``failed`` (another holder, or a proof that does not verify: the report is not
    ok); ``warning`` (the credential names no e-mail, or carries no proof: issued before either); or
    ``skipped`` (the steps it depends on failed)."""

    status: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "message": self.message}


class OnlineCheck(NamedTuple):
    """What ``--online`` came to: ``status`` is passed, failed, error or skipped, ``code`` says
    why (the constants above), ``message`` in a sentence; ``node`` is the node's URL."""

    node: str
    status: str
    code: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"node": self.node, "status": self.status, "code": self.code, "message": self.message}


class Facts(NamedTuple):
    """What the issuer certified, from the verified credential (``verifier.facts.facts_of``).

    ``holder``, ``title`` (the achievement's name), ``kind`` (``verifier.credentials.KINDS``);
    ``issuer`` is the institution's name in the trust file's roster (the credential's own
    ``issuer.name`` where there is no roster, as on the e-portfolio's QR page), ``issuer_id`` its
    ledger id; ``date`` (YYYY-MM-DD) the activity's end date (``activityEndDate``: an olympiad's
    day, a programme's last day) or, when the credential has none, the issue date ``issued_on``.
    ``place`` (``1``, ``2``, ``3``, ``winner``, ``prize-winner``, ``participant``) and ``stage``
    (``school`` … ``international``) for olympiads, ``hours`` for teacher training; None otherwise."""

    holder: str
    title: str
    kind: str
    issuer: str
    issuer_id: str
    date: str
    issued_on: str
    place: str | None = None
    stage: str | None = None
    hours: int | None = None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class Difference(NamedTuple):
    """One way the printed page differs from the verified facts: ``field`` is ``holder``, ``title`` or
    ``place``; ``verified`` the fact; ``printed`` what the page says instead (for a place), or None when
    the verified value is simply not on the page."""

    field: str
    verified: str
    printed: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self._asdict()


class PrintedCheck(NamedTuple):
    """A diploma PDF's printed text against the verified facts (``verifier/facts.py``): ``status`` is
    ``differs`` (a warning, with ``differences``), ``not-compared`` or ``no-difference-found`` (which
    confirms nothing); ``message`` says so in a sentence. ``notice`` is what every PDF's report says."""

    status: str
    message: str
    differences: tuple[Difference, ...] = ()
    notice: str = PDF_NOTICE

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "notice": self.notice, "message": self.message, "differences": [d.to_json() for d in self.differences]}


@dataclass
class Report:
    """What ``verify`` found. ``ok`` is True when no step failed (warnings allowed) and an
    online check, if one was asked for, could be made."""

    steps: list[Step] = field(default_factory=list)
    kind: str | None = None
    credential_id: str | None = None
    digest: str | None = None
    issuer: str | None = None
    holder: str | None = None
    title: str | None = None
    index: int | None = None
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    status_as_of: int | None = None
    superseded_by: str | None = None
    online: OnlineCheck | None = None  # None: no online check was asked for
    holder_check: AskedCheck | None = None  # None: no e-mail was given to check the holder against
    proof_check: AskedCheck | None = None  # None: the Data Integrity proof was not asked to be checked
    facts: Facts | None = None  # None: steps 1-7 did not all pass, nothing the file says is confirmed
    printed: PrintedCheck | None = None  # None: not a PDF (nothing printed to compare)

    @property
    def ok(self) -> bool:
        return (
            bool(self.steps)
            and all(s.status in (PASSED, WARNING) for s in self.steps)
            and not self.incomplete
            and not self.other_holder
            and not self.bad_proof
        )

    @property
    def bad_proof(self) -> bool:
        """The proof was asked to be checked and does not verify."""
        return self.proof_check is not None and self.proof_check.status == FAILED

    @property
    def other_holder(self) -> bool:
        """An e-mail was given and the credential was issued to another address."""
        return self.holder_check is not None and self.holder_check.status == FAILED

    @property
    def printed_differs(self) -> bool:
        """A PDF whose printed text names another holder, title or place than the verified facts (a warning)."""
        return self.printed is not None and self.printed.status == DIFFERS

    @property
    def incomplete(self) -> bool:
        """An online check was asked for and the node's view could not be had."""
        return self.online is not None and self.online.status == ERROR

    @property
    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def status(self) -> str:
        """verified, revoked, superseded, expired, not-yet-valid, fork or failed (after the first failed
        step), other-holder (no step failed, but the credential was issued to another e-mail address
        than the one given), or incomplete (no step failed, but the online check asked for could not be made)."""
        f = self.first_failure
        if f is None:
            if not self.steps:
                return "failed"
            if self.bad_proof:
                return "invalid-proof"
            if self.other_holder:
                return "other-holder"
            return "incomplete" if self.incomplete else "verified"
        # What the node's answers did, when they are what failed: only evidence is a fork; a node
        # that refuses or garbles an answer has proved nothing about the credential.
        blamed = self.online.code if self.online is not None and self.online.status == FAILED else None
        if blamed is not None and f.name in ("consistency", "status"):
            return "fork" if blamed == FORK else "failed"
        if f.name == "status":
            if (f.evidence or {}).get("trust_file_error"):  # the trust file's status list, not the credential, is bad
                return "failed"
            return "superseded" if self.superseded_by else "revoked"
        if f.name == "validity":
            return "expired" if (f.evidence or {}).get("expired") else "not-yet-valid"
        if f.name == "consistency":
            return "fork"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        """The report as JSON; ``online`` only when an online check was asked for (the node's
        ``POST /api/v1/verify`` reports, made offline, keep their shape); ``facts`` always (null when
        not verified); ``printed`` only for a PDF."""
        out = {
            "ok": self.ok,
            "status": self.status,
            "kind": self.kind,
            "credential_id": self.credential_id,
            "digest": self.digest,
            "issuer": self.issuer,
            "holder": self.holder,
            "title": self.title,
            "index": self.index,
            "checkpoint": {"size": self.checkpoint_size, "root": self.checkpoint_root} if self.checkpoint_size is not None else None,
            "status_as_of": self.status_as_of,
            "superseded_by": self.superseded_by,
            "facts": self.facts.to_json() if self.facts is not None else None,
            "steps": [s.to_json() for s in self.steps],
        }
        if self.printed is not None:
            out["printed"] = self.printed.to_json()
        if self.online is not None:
            out["online"] = self.online.to_json()
        if self.holder_check is not None:
            out["holder_check"] = self.holder_check.to_json()
        if self.proof_check is not None:
            out["proof_check"] = self.proof_check.to_json()
        return out

    def __str__(self) -> str:
        f = self.first_failure
        if f is None:
            if self.bad_proof:
                return f"not verified: {self.proof_check.message}"  # type: ignore[union-attr]
            if self.other_holder:
                return f"not verified for this person: {self.holder_check.message}"  # type: ignore[union-attr]
            if self.incomplete:
                return f"not verified: the online check could not be made ({self.online.message})"  # type: ignore[union-attr]
            if self.printed_differs:
                return f"verified, but {self.printed.message}"  # type: ignore[union-attr]
            return "verified" if self.steps else "not verified"
        return f"step {f.number} ({f.name}) failed: {f.message}"
