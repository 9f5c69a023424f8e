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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PASSED, FAILED, SKIPPED, WARNING = "passed", "failed", "skipped", "warning"

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


@dataclass
class Report:
    """What ``verify`` found. ``ok`` is True when no step failed (warnings allowed)."""

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

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.status in (PASSED, WARNING) for s in self.steps)

    @property
    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def status(self) -> str:
        """verified, revoked, superseded, expired, not-yet-valid, fork or failed (after the first failed step)."""
        f = self.first_failure
        if f is None:
            return "verified" if self.steps else "failed"
        if f.name == "status":
            return "superseded" if self.superseded_by else "revoked"
        if f.name == "validity":
            return "expired" if (f.evidence or {}).get("expired") else "not-yet-valid"
        if f.name == "consistency":
            return "fork"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        return {
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
            "steps": [s.to_json() for s in self.steps],
        }

    def __str__(self) -> str:
        f = self.first_failure
        if f is None:
            return "verified" if self.steps else "not verified"
        return f"step {f.number} ({f.name}) failed: {f.message}"
