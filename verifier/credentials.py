"""Credentials: W3C Verifiable Credentials 2.0 in the 1EdTech Open Badges 3.0 shape.

Each kind has its required fields, validated with clear messages. Fields that
Open Badges lacks (olympiad stage, place, organiser; teacher-training hours and
provider) go in the documented extension object ``eduledgerExtension`` under the
context ``https://eduledger.example/ns/v1``. No JSON-LD processing is needed:
the ledger anchors ``SHA-256(RFC 8785(credential))``.

The holder is named inside the credential (so a university can match the
applicant); the credential itself never goes on the ledger, only its digest,
and its random 128-bit id makes the digest unguessable.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from ledger.canonical import canonical_digest
from ledger.errors import MalformedError
from ledger.timefmt import format_time

CONTEXTS = [
    "https://www.w3.org/ns/credentials/v2",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
    "https://eduledger.example/ns/v1",
]
EXTENSION = "eduledgerExtension"

# kind -> (OB3 achievementType, required extension fields, optional extension fields)
KINDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "olympiad-diploma": ("Award", ("event", "subject", "stage", "place", "organiser"), ("grade", "points", "region")),
    "participation": ("Achievement", ("event", "subject"), ("stage", "organiser", "grade", "region")),
    "school-leaving": ("Diploma", ("school", "year"), ("grades", "honours")),
    "teacher-pd": ("Certificate", ("programme", "hours", "start", "end", "provider"), ("modules",)),
    "generic": ("Achievement", (), ("details",)),
}
STAGES = ("school", "municipal", "regional", "final", "international", "other")
PLACES = ("winner", "prize-winner", "participant", "1", "2", "3")
_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z")


def new_credential_id(random: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """``urn:eduledger:credential:<32 hex>``: 128 random bits."""
    return "urn:eduledger:credential:" + random(16).hex()


def _text(v: object, name: str, max_len: int = 300) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > max_len:
        raise MalformedError(f"{name} must be a non-empty text of at most {max_len} characters")
    return v.strip()


def _date(v: object, name: str) -> str:
    if not isinstance(v, str) or not _DATE.match(v):
        raise MalformedError(f"{name} must be a date YYYY-MM-DD")
    try:
        date.fromisoformat(v)
    except ValueError:
        raise MalformedError(f"{name} is not a real date: {v}") from None
    return v


def _check_extension(kind: str, ext: Mapping[str, Any]) -> dict[str, Any]:
    _, required, optional = KINDS[kind]
    if missing := [f for f in required if f not in ext or ext[f] in (None, "")]:
        raise MalformedError(f"a {kind} credential needs: {', '.join(missing)}")
    if unknown := set(ext) - set(required) - set(optional):
        raise MalformedError(f"unknown field(s) for {kind}: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for k, v in ext.items():
        if k == "hours":
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 2000:
                raise MalformedError("hours must be a whole number from 1 to 2000")
            out[k] = v
        elif k == "year":
            if isinstance(v, bool) or not isinstance(v, int) or not 1950 <= v <= 2100:
                raise MalformedError("year must be a year like 2026")
            out[k] = v
        elif k in ("start", "end"):
            out[k] = _date(v, k)
        elif k == "stage":
            if v not in STAGES:
                raise MalformedError(f"stage must be one of {', '.join(STAGES)}")
            out[k] = v
        elif k == "place":
            if str(v) not in PLACES:
                raise MalformedError(f"place must be one of {', '.join(PLACES)}")
            out[k] = str(v)
        else:
            out[k] = _text(v, k, 2000)
    if kind == "teacher-pd" and out["end"] < out["start"]:
        raise MalformedError("the programme cannot end before it starts")
    return out


def build_credential(
    *,
    kind: str,
    issuer_id: str,
    issuer_name: str,
    holder_name: str,
    title: str,
    issued_at: int,
    fields: Mapping[str, Any] | None = None,
    description: str = "",
    achieved_on: str | None = None,
    valid_until: int | None = None,
    holder_id: str | None = None,
    credential_id: str | None = None,
) -> dict[str, Any]:
    """An OpenBadgeCredential of ``kind``; MalformedError names the first bad field."""
    if kind not in KINDS:
        raise MalformedError(f"kind must be one of {', '.join(KINDS)}")
    achievement_type = KINDS[kind][0]
    ext = _check_extension(kind, dict(fields or {}))
    title = _text(title, "title")
    subject: dict[str, Any] = {
        "type": ["AchievementSubject"],
        "name": _text(holder_name, "holder name", 200),
        "achievement": {
            "id": f"urn:eduledger:achievement:{issuer_id}:{kind}",
            "type": ["Achievement"],
            "achievementType": achievement_type,
            "name": title,
            "description": _text(description or title, "description", 2000),
            "criteria": {"narrative": _text(description or title, "description", 2000)},
        },
    }
    if holder_id:
        subject["id"] = _text(holder_id, "holder id", 200)
    if achieved_on:
        subject["activityEndDate"] = _date(achieved_on, "achieved_on") + "T00:00:00Z"
    if kind == "olympiad-diploma":
        subject["result"] = [{"type": ["Result"], "value": ext["place"]}]
    cred: dict[str, Any] = {
        "@context": list(CONTEXTS),
        "id": credential_id or new_credential_id(),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": title,
        "issuer": {"id": f"urn:eduledger:institution:{issuer_id}", "type": ["Profile"], "name": _text(issuer_name, "issuer name")},
        "validFrom": format_time(issued_at),
        "credentialSubject": subject,
        EXTENSION: {"kind": kind, **ext},
    }
    if valid_until is not None:
        if valid_until <= issued_at:
            raise MalformedError("validUntil must be after the issue time")
        cred["validUntil"] = format_time(valid_until)
    return cred


def credential_kind(cred: Mapping[str, Any]) -> str:
    ext = cred.get(EXTENSION)
    kind = ext.get("kind") if isinstance(ext, Mapping) else None
    return kind if kind in KINDS else "generic"


def credential_digest(cred: Mapping[str, Any]) -> bytes:
    """SHA-256 of the RFC 8785 canonical credential: what the ledger anchors."""
    return canonical_digest(dict(cred))
