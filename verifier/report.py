"""The verification report: numbered steps, each with a status and a sentence a person understands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASSED, FAILED, SKIPPED, WARNING = "passed", "failed", "skipped", "warning"

STEPS = (
    (1, "well-formed", "the file is a well-formed credential bundle"),
    (2, "digest", "the credential's canonical digest matches the ledger entry"),
    (3, "inclusion", "the ledger entry is included in the log"),
    (4, "log-signature", "the checkpoint is signed by the network's log key"),
    (5, "cosignatures", "enough institutions cosigned the checkpoint"),
    (6, "issuer", "the issuer is registered and its key was valid at issue time"),
    (7, "status", "the credential is not revoked or superseded"),
    (8, "validity", "the credential is within its validity dates"),
)


@dataclass
class Step:
    number: int
    name: str
    status: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"step": self.number, "name": self.name, "status": self.status, "message": self.message}


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    credential_id: str | None = None
    digest: str | None = None
    issuer: str | None = None
    holder: str | None = None
    title: str | None = None
    checkpoint_size: int | None = None
    superseded_by: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.status in (PASSED, WARNING) for s in self.steps)

    @property
    def first_failure(self) -> Step | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    @property
    def status(self) -> str:
        """'verified', 'revoked', 'superseded', 'expired' or 'failed'."""
        if self.ok:
            return "verified"
        f = self.first_failure
        if f is not None and f.name == "status":
            return "superseded" if self.superseded_by else "revoked"
        if f is not None and f.name == "validity" and "expired" in f.message:
            return "expired"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": self.status,
            "credential_id": self.credential_id,
            "digest": self.digest,
            "issuer": self.issuer,
            "holder": self.holder,
            "title": self.title,
            "checkpoint_size": self.checkpoint_size,
            "superseded_by": self.superseded_by,
            "steps": [s.to_json() for s in self.steps],
        }

    def __str__(self) -> str:
        f = self.first_failure
        if f is None:
            return "verified"
        return f"step {f.number} ({f.name}) failed: {f.message}"
