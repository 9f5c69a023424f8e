"""Credentials: W3C Verifiable Credentials 2.0 in the 1EdTech Open Badges 3.0 shape (pure).

A credential is an ``OpenBadgeCredential`` serialised as JSON. The ledger
anchors ``SHA-256(RFC 8785(credential))`` (:func:`credential_digest`); eduledger
itself processes it as JSON, and every context it names is published and
defines every term it uses, so outside verifiers can process it as JSON-LD: the
third context is eduledger's, served by every node under the network's public
URL (``verifier/jsonld.py``; credentials issued before name a placeholder URL
with the same terms).

::

    {"@context": ["https://www.w3.org/ns/credentials/v2",
                  "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
                  "<network URL>/contexts/eduledger-v1.jsonld"],
     "id": "urn:eduledger:credential:<32 hex = 128 random bits>",
     "type": ["VerifiableCredential", "OpenBadgeCredential"],
     "name": "<title>",
     "issuer": {"id": "did:web:<network host>:institutions:<institution id>", "type": ["Profile"], "name": "..."},
     "validFrom": "2026-03-01T10:00:00Z", "validUntil": "... (optional)",
     "credentialSubject": {"type": ["AchievementSubject"], "name": "<holder>",
                           "identifier": [<the holder's e-mail as a salted, hashed IdentityObject>] or "id": "urn:uuid:<random>",
                           "achievement": {"id", "type": ["Achievement"], "achievementType", "name",
                                           "description", "criteria": {"narrative"}, "fieldOfStudy"?},
                           "result": [{"type": ["Result"], "value": "..."}]?,
                           "activityStartDate"?, "activityEndDate"?},
     "eduledgerExtension": {"kind": "<kind>", ...the kind's fields}}

The random ``id`` makes the digest unguessable: knowing a holder's name and
the olympiad does not let anyone confirm a guess against the ledger. The
holder's name is inside the credential (a university must match it to the
applicant); only the digest goes on the ledger.

Kinds and their fields (``eduledgerExtension``, documented in docs/formats.md;
Open Badges has no place for an olympiad's stage, place or organiser, nor for
a training programme's hours):

=================  ===========================  ==============================================
kind               OB 3.0 achievementType       required / optional extension fields
=================  ===========================  ==============================================
olympiad-diploma   Award                        event, subject, stage, place, organiser /
                                                degree, grade, points, region
participation      ext:Participation            event, subject / stage, organiser, grade, region
school-leaving     SecondarySchoolDiploma       school, year / level, grades, honours
teacher-pd         CertificateOfCompletion      programme, hours, start, end, provider / modules
generic            (achievementType, default    — / achievementType, details
                   Achievement)
=================  ===========================  ==============================================

:func:`parse_credential` is the one validator: the verifier runs it on every
bundle, and :func:`build_credential` runs it on what it built, so nothing is
issued that would not verify. Credentials issued before this module (the
e-portfolio's ``urn:uuid:`` ids and ``urn:eduledger:<network>:<institution>``
issuer ids, no extension) parse as ``generic``.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from ledger.errors import MalformedError
from ledger.tlog.canonical import canonical_digest
from ledger.tlog.timefmt import format_time, parse_time
from verifier.didweb import institution_did, institution_of_did
from verifier.holder import Identity, email_identity, parse_identifiers, random_subject_id
from verifier.jsonld import CONTEXT_PATH

__all__ = [
    "CONTEXTS",
    "DEFAULT_NETWORK_URL",
    "EXTENSION",
    "KINDS",
    "BatchResult",
    "KindSpec",
    "ParsedCredential",
    "build_batch",
    "build_credential",
    "credential_digest",
    "credential_kind",
    "contexts",
    "extension_context",
    "new_credential_id",
    "parse_credential",
    "prove",
    "rows_from_csv",
]

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#: The network URL a credential names when its issuer configured none: where ``make run`` serves.
DEFAULT_NETWORK_URL = "http://127.0.0.1:8000"


def extension_context(network_url: str) -> str:
    """The URL of eduledger's JSON-LD context under ``network_url`` (every node serves it there)."""
    parts = urlsplit(network_url) if isinstance(network_url, str) else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment or _CONTROL.search(network_url):
        raise MalformedError(f"the network URL must be an http(s) URL without query or fragment, got {network_url!r}")
    return network_url.rstrip("/") + CONTEXT_PATH


def contexts(network_url: str = DEFAULT_NETWORK_URL) -> list[str]:
    """The ``@context`` of a credential issued on the network published at ``network_url``."""
    return [VC_CONTEXT, OB_CONTEXT, extension_context(network_url)]


EXTENSION = "eduledgerExtension"
ID_PREFIX = "urn:eduledger:credential:"
ISSUER_PREFIX = "urn:eduledger:institution:"

STAGES = ("school", "municipal", "regional", "final", "international", "other")
PLACES = ("winner", "prize-winner", "participant", "1", "2", "3")
DEGREES = ("1", "2", "3")
SCHOOL_LEVELS = ("basic", "secondary")
#: OB 3.0 AchievementType vocabulary; other values must use the ``ext:`` prefix (OB 3.0 §B.2).
ACHIEVEMENT_TYPES = frozenset(
    "Achievement ApprenticeshipCertificate Assessment Assignment AssociateDegree Award Badge BachelorDegree "
    "Certificate CertificateOfCompletion Certification CommunityService Competency Course CoCurricular Degree "
    "Diploma DoctoralDegree Fieldwork GeneralEducationDevelopment JourneymanCertificate LearningProgram License "
    "Membership ProfessionalDoctorate QualityAssuranceCredential MasterCertificate MasterDegree MicroCredential "
    "ResearchDoctorate SecondarySchoolDiploma".split()
)

_DATE = re.compile(r"\A\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_INSTITUTION = re.compile(r"\A[a-z0-9][a-z0-9.-]{1,62}[a-z0-9]\Z")
_OWN_ID = re.compile(r"\Aurn:eduledger:credential:[0-9a-f]{32}\Z")
_UUID_ID = re.compile(r"\Aurn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_LEGACY_ISSUER = re.compile(r"\Aurn:eduledger:[A-Za-z0-9][A-Za-z0-9._/-]{0,127}:([a-z0-9][a-z0-9.-]{1,62}[a-z0-9])\Z")
_EXT_TYPE = re.compile(r"\Aext:[A-Za-z][A-Za-z0-9]{0,63}\Z")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

CONTEXTS = contexts()

# --- field validators -------------------------------------------------------------



def _text(v: object, name: str, max_len: int = 300) -> str:
    if not isinstance(v, str) or not v.strip() or len(v) > max_len or _CONTROL.search(v):
        raise MalformedError(f"{name} must be a non-empty text of at most {max_len} characters")
    return v.strip()


def _date(v: object, name: str) -> str:
    if not isinstance(v, str) or not _DATE.match(v):
        raise MalformedError(f"{name} must be a date YYYY-MM-DD, got {v!r}")
    try:
        date.fromisoformat(v)
    except ValueError:
        raise MalformedError(f"{name} is not a real date: {v}") from None
    return v


def _whole(lo: int, hi: int, what: str) -> Callable[[object, str], int]:
    def check(v: object, name: str) -> int:
        if isinstance(v, str) and v.strip().isdigit() and v.strip().isascii():  # from a CSV cell
            v = int(v.strip())
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise MalformedError(f"{name} must be {what} ({lo}–{hi}), got {v!r}")
        return v

    return check


def _choice(options: tuple[str, ...]) -> Callable[[object, str], str]:
    def check(v: object, name: str) -> str:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if v not in options:
            raise MalformedError(f"{name} must be one of {', '.join(options)}, got {v!r}")
        return v  # type: ignore[return-value]

    return check


def _points(v: object, name: str) -> int | float:
    if isinstance(v, str):
        try:
            v = float(v) if "." in v else int(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100_000:
        raise MalformedError(f"{name} must be a number of points from 0 to 100000, got {v!r}")
    return v


def _yes_no(v: object, name: str) -> bool:
    if isinstance(v, str) and v.strip().lower() in ("yes", "true", "1", "no", "false", "0"):
        return v.strip().lower() in ("yes", "true", "1")
    if not isinstance(v, bool):
        raise MalformedError(f"{name} must be true or false, got {v!r}")
    return v


def _grades(v: object, name: str) -> dict[str, str]:
    if not isinstance(v, Mapping) or not v or len(v) > 60:
        raise MalformedError(f"{name} must be an object of 1–60 subjects, each with its grade")
    return {_text(k, f"{name} subject", 100): _text(str(g) if isinstance(g, int) and not isinstance(g, bool) else g, f"{name} grade", 20) for k, g in v.items()}


def _modules(v: object, name: str) -> list[str]:
    if not isinstance(v, list) or not v or len(v) > 100:
        raise MalformedError(f"{name} must be a list of 1–100 module titles")
    return [_text(m, f"{name} entry", 300) for m in v]


def _achievement_type(v: object, name: str) -> str:
    if not isinstance(v, str) or not (v in ACHIEVEMENT_TYPES or _EXT_TYPE.match(v)):
        raise MalformedError(f"{name} must be an Open Badges 3.0 achievement type (e.g. Achievement, Award, Certificate) or ext:<Name>")
    return v


def _long_text(v: object, name: str) -> str:
    return _text(v, name, 2000)


FIELDS: dict[str, Callable[[object, str], Any]] = {
    "event": _text,
    "subject": _text,
    "organiser": _text,
    "region": _text,
    "school": _text,
    "programme": _text,
    "provider": _text,
    "details": _long_text,
    "stage": _choice(STAGES),
    "place": _choice(PLACES),
    "degree": _choice(DEGREES),
    "level": _choice(SCHOOL_LEVELS),
    "grade": _whole(1, 12, "a school grade"),
    "points": _points,
    "year": _whole(1950, 2100, "a year"),
    "hours": _whole(1, 2000, "a whole number of hours"),
    "start": _date,
    "end": _date,
    "honours": _yes_no,
    "grades": _grades,
    "modules": _modules,
    "achievementType": _achievement_type,
}


@dataclass(frozen=True)
class KindSpec:
    kind: str
    achievement_type: str
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()


KINDS: dict[str, KindSpec] = {
    s.kind: s
    for s in (
        KindSpec("olympiad-diploma", "Award", ("event", "subject", "stage", "place", "organiser"), ("degree", "grade", "points", "region")),
        KindSpec("participation", "ext:Participation", ("event", "subject"), ("stage", "organiser", "grade", "region")),
        KindSpec("school-leaving", "SecondarySchoolDiploma", ("school", "year"), ("level", "grades", "honours")),
        KindSpec("teacher-pd", "CertificateOfCompletion", ("programme", "hours", "start", "end", "provider"), ("modules",)),
        KindSpec("generic", "Achievement", (), ("achievementType", "details")),
    )
}


def check_fields(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's extension fields, validated and normalised; MalformedError names the first problem."""
    spec = KINDS.get(kind)
    if spec is None:
        raise MalformedError(f"unknown credential kind {kind!r}; kinds: {', '.join(KINDS)}")
    present = {k: v for k, v in fields.items() if v is not None and v != ""}
    if missing := [f for f in spec.required if f not in present]:
        raise MalformedError(f"a {kind} credential needs: {', '.join(missing)}")
    if unknown := sorted(set(present) - set(spec.required) - set(spec.optional)):
        raise MalformedError(f"unknown field(s) for a {kind} credential: {', '.join(unknown)}")
    out = {k: FIELDS[k](present[k], k) for k in (*spec.required, *spec.optional) if k in present}
    if kind == "teacher-pd" and out["end"] < out["start"]:
        raise MalformedError("the programme cannot end before it starts")
    return out


# --- building -------------------------------------------------------------------


def new_credential_id(random: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """``urn:eduledger:credential:<32 hex>``: 128 random bits from ``random`` (injectable for tests)."""
    raw = random(16)
    if not isinstance(raw, bytes) or len(raw) != 16:
        raise ValueError("random(16) must return 16 bytes")
    return ID_PREFIX + raw.hex()


#: Rubric levels, in Open Badges 3.0's own terms (ResultDescription / RubricCriterionLevel), of what an
#: olympiad's result says: the stage it was won at and the place. Names are the Russian words on the diploma.
STAGE_LEVELS = {"school": "школьный этап", "municipal": "муниципальный этап", "regional": "региональный этап",
                "final": "заключительный этап", "international": "международный этап", "other": "другой этап"}
PLACE_LEVELS = {"winner": "победитель", "prize-winner": "призёр", "participant": "участник",
                "1": "1 место", "2": "2 место", "3": "3 место"}  # fmt: skip


def _rubric(achievement_id: str, name: str, label: str, levels: Mapping[str, str]) -> dict[str, Any]:
    base = f"{achievement_id}:{name}"
    return {
        "id": base, "type": ["ResultDescription"], "name": label, "resultType": "RubricCriterionLevel",
        "rubricCriterionLevel": [{"id": f"{base}:{k}", "type": ["RubricCriterionLevel"], "name": v} for k, v in levels.items()],
    }  # fmt: skip


def _in_ob_terms(kind: str, ext: Mapping[str, Any], achievement: dict[str, Any], subject: dict[str, Any]) -> None:
    """Say in Open Badges 3.0's own terms what OB has terms for, so verifiers that know only OB's context
    understand it (the extension keeps every field, for eduledger's parser): an olympiad's stage and place
    as rubric levels of the achievement and the holder's results, its subject and stage as tags; a training
    programme's hours as credits; a school's name as the attestat's tag."""
    aid = achievement["id"]
    if kind == "olympiad-diploma":
        achievement["tag"] = [ext["subject"], STAGE_LEVELS[ext["stage"]]]
        achievement["resultDescription"] = [_rubric(aid, "stage", "Этап", STAGE_LEVELS), _rubric(aid, "place", "Результат", PLACE_LEVELS)]
        subject["result"] = [
            {"type": ["Result"], "resultDescription": f"{aid}:stage", "achievedLevel": f"{aid}:stage:{ext['stage']}"},
            {"type": ["Result"], "resultDescription": f"{aid}:place", "achievedLevel": f"{aid}:place:{ext['place']}", "value": ext["place"]},
        ]
    elif kind == "participation":
        achievement["tag"] = [ext["subject"]] + ([STAGE_LEVELS[ext["stage"]]] if "stage" in ext else [])
    elif kind == "teacher-pd":
        achievement["creditsAvailable"] = ext["hours"]  # a whole number: JSON-LD writes it "72"^^xsd:float
        achievement["fieldOfStudy"] = ext["programme"]
        subject["creditsEarned"] = ext["hours"]
    elif kind == "school-leaving":
        achievement["tag"] = [ext["school"], str(ext["year"])]


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
    holder_email: str | None = None,
    credential_id: str | None = None,
    network_url: str = DEFAULT_NETWORK_URL,
    random: Callable[[int], bytes] = secrets.token_bytes,
) -> dict[str, Any]:
    """An OpenBadgeCredential of ``kind``, validated by :func:`parse_credential`, naming
    eduledger's context under ``network_url`` (the network's public URL).

    ``issued_at`` (Unix seconds) becomes ``validFrom`` and must equal the
    ``issued_at`` of the ledger anchor. MalformedError names the first bad field.
    The holder is identified as OB 3.0 asks (``verifier.holder``): ``holder_email``
    becomes a salted, hashed IdentityObject; without it and without ``holder_id``
    the subject gets a random ``urn:uuid:`` id.
    """
    if kind not in KINDS:
        raise MalformedError(f"unknown credential kind {kind!r}; kinds: {', '.join(KINDS)}")
    if not isinstance(issuer_id, str) or not _INSTITUTION.match(issuer_id):
        raise MalformedError("issuer id must be an institution identifier (3-64 characters: a-z, 0-9, '.', '-')")
    ext = check_fields(kind, dict(fields or {}))
    title = _text(title, "title")
    narrative = _long_text(description or title, "description")
    achievement: dict[str, Any] = {
        "id": f"urn:eduledger:achievement:{issuer_id}:{kind}",
        "type": ["Achievement"],
        "achievementType": ext.get("achievementType", KINDS[kind].achievement_type),
        "name": title,
        "description": narrative,
        "criteria": {"narrative": narrative},
    }
    if "subject" in ext:
        achievement["fieldOfStudy"] = ext["subject"]
    cid = credential_id or new_credential_id(random)
    subject: dict[str, Any] = {"type": ["AchievementSubject"], "name": _text(holder_name, "holder name", 200)}
    if holder_id:
        subject["id"] = _text(holder_id, "holder id", 200)
    elif not holder_email:
        subject["id"] = random_subject_id(random)
    if holder_email:
        subject["identifier"] = [email_identity(holder_email, random=random)]
    subject["achievement"] = achievement
    if kind == "teacher-pd":
        subject["activityStartDate"] = ext["start"] + "T00:00:00Z"
        subject["activityEndDate"] = ext["end"] + "T00:00:00Z"
    elif achieved_on:
        subject["activityEndDate"] = _date(achieved_on, "achieved_on") + "T00:00:00Z"
    _in_ob_terms(kind, ext, achievement, subject)
    cred: dict[str, Any] = {
        "@context": contexts(network_url),
        "id": cid,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": title,
        "issuer": {"id": institution_did(network_url, issuer_id), "type": ["Profile"], "name": _text(issuer_name, "issuer name")},
        "validFrom": format_time(issued_at),
        "credentialSubject": subject,
        EXTENSION: {"kind": kind, **ext},
    }
    if valid_until is not None:
        if valid_until <= issued_at:
            raise MalformedError("validUntil must be after the issue time")
        cred["validUntil"] = format_time(valid_until)
    parse_credential(cred)  # one validator: what is built is what verifies
    return cred


def prove(credential: dict[str, Any], signer: Any, *, network_url: str, created: int, status_slot: tuple[int, int] | None = None) -> dict[str, Any]:
    """``credential`` with its issuer's W3C Data Integrity proof (``eddsa-rdfc-2022``, ``verifier/dataintegrity.py``),
    signed with ``signer`` (the institution's ledger signing key: ``.sign``, ``.public_key``) and named as
    ``<issuer did:web>#<its Multikey>``. With ``status_slot`` (list, index), the credential first gets its
    ``credentialStatus`` in the issuer's Bitstring Status Lists (``verifier/statuslist.py``), which the
    proof then covers. Issuers call this *before* hashing and anchoring: the anchor covers the proof."""
    from verifier.dataintegrity import add_proof, multikey
    from verifier.statuslist import credential_status

    institution = institution_of(credential["issuer"]["id"])
    did = institution_did(network_url, institution)
    if status_slot is not None:
        credential = {**credential, "credentialStatus": credential_status(network_url, institution, status_slot)}
    return add_proof(credential, sign=signer.sign, verification_method=f"{did}#{multikey(signer.public_key)}", created=format_time(created))


# --- parsing --------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedCredential:
    """What a verifier (or a display) needs from a credential, after validation."""

    kind: str
    id: str
    institution: str
    issuer_name: str
    holder_name: str
    title: str
    valid_from: int
    valid_until: int | None
    fields: Mapping[str, Any] = field(default_factory=dict)
    #: The subject's OB 3.0 ``identifier`` IdentityObjects (``verifier.holder``), and its ``id`` if it has one.
    holder_identities: tuple[Identity, ...] = ()
    holder_id: str | None = None


def _types(obj: Mapping[str, Any], want: str, where: str) -> None:
    t = obj.get("type")
    if not (t == want or (isinstance(t, list) and want in t and all(isinstance(x, str) for x in t))):
        raise MalformedError(f"{where}.type must include {want!r}")


def _obj(v: object, where: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise MalformedError(f"{where} must be an object")
    return v


def institution_of(issuer_id: object) -> str:
    """The ledger institution id in a credential's ``issuer.id``: the institution's did:web (``verifier.didweb``),
    or, in credentials issued before, ``urn:eduledger:institution:<id>`` or ``urn:eduledger:<network>:<id>``.
    Which network host the DID names is not checked here: the ledger anchor decides whose credential it is."""
    if (from_did := institution_of_did(issuer_id)) is not None:
        return from_did
    if isinstance(issuer_id, str):
        if issuer_id.startswith(ISSUER_PREFIX) and _INSTITUTION.match(issuer_id[len(ISSUER_PREFIX) :]):
            return issuer_id[len(ISSUER_PREFIX) :]
        if m := _LEGACY_ISSUER.match(issuer_id):
            return m.group(1)
    raise MalformedError("issuer.id must be the institution's did:web (did:web:<host>:institutions:<institution id>)")


def parse_credential(cred: object) -> ParsedCredential:
    """Validate an OpenBadgeCredential of ours; MalformedError says what is wrong.

    Checks the VC 2.0 / OB 3.0 shape (contexts, types, id, issuer, dates,
    subject, achievement) and, when the credential names a kind in its
    extension, that kind's fields. Unknown top-level properties are allowed
    (VC 2.0 is open) but never interpreted.
    """
    c = _obj(cred, "credential")
    ctx = c.get("@context")
    if not isinstance(ctx, list) or ctx[:2] != [VC_CONTEXT, OB_CONTEXT] or not all(isinstance(x, str) for x in ctx):
        raise MalformedError(f"@context must start with {VC_CONTEXT} and {OB_CONTEXT}")
    t = c.get("type")
    if not isinstance(t, list) or "VerifiableCredential" not in t or "OpenBadgeCredential" not in t:
        raise MalformedError("type must include VerifiableCredential and OpenBadgeCredential")
    cid = c.get("id")
    if not isinstance(cid, str) or not (_OWN_ID.match(cid) or _UUID_ID.match(cid)):
        raise MalformedError(f"id must be {ID_PREFIX}<32 hex> (128 random bits)")
    issuer = _obj(c.get("issuer"), "issuer")
    _types(issuer, "Profile", "issuer")
    institution = institution_of(issuer.get("id"))
    issuer_name = _text(issuer.get("name"), "issuer.name")
    valid_from = parse_time(c.get("validFrom"), "validFrom")
    valid_until = None
    if "validUntil" in c:
        valid_until = parse_time(c["validUntil"], "validUntil")
        if valid_until <= valid_from:
            raise MalformedError("validUntil must be after validFrom")
    subject = _obj(c.get("credentialSubject"), "credentialSubject")
    _types(subject, "AchievementSubject", "credentialSubject")
    holder = _text(subject.get("name"), "credentialSubject.name", 200)
    holder_id = _text(subject["id"], "credentialSubject.id", 200) if "id" in subject else None
    identities = parse_identifiers(subject["identifier"]) if "identifier" in subject else ()
    achievement = _obj(subject.get("achievement"), "credentialSubject.achievement")
    _types(achievement, "Achievement", "credentialSubject.achievement")
    title = _text(achievement.get("name"), "credentialSubject.achievement.name")
    if "name" in c:
        _text(c["name"], "name")
    kind, fields = "generic", {}
    if EXTENSION in c:
        ext = _obj(c[EXTENSION], EXTENSION)
        kind = ext.get("kind")  # type: ignore[assignment]
        if not isinstance(kind, str) or kind not in KINDS:
            raise MalformedError(f"{EXTENSION}.kind must be one of {', '.join(KINDS)}")
        fields = check_fields(kind, {k: v for k, v in ext.items() if k != "kind"})
        if fields != {k: v for k, v in ext.items() if k != "kind"}:
            raise MalformedError(f"{EXTENSION} fields are not in their normal form (e.g. a number given as text)")
    return ParsedCredential(kind, cid, institution, issuer_name, holder, title, valid_from, valid_until, fields, identities, holder_id)


def credential_kind(cred: Mapping[str, Any]) -> str:
    """The kind a credential declares (``generic`` when it declares none)."""
    ext = cred.get(EXTENSION)
    kind = ext.get("kind") if isinstance(ext, Mapping) else None
    return kind if isinstance(kind, str) and kind in KINDS else "generic"


def credential_digest(cred: Mapping[str, Any]) -> bytes:
    """SHA-256 of the RFC 8785 canonical credential: what the ledger anchors."""
    return canonical_digest(dict(cred))


# --- batches ----------------------------------------------------------------------

ROW_COLUMNS = frozenset({"holder_name", "holder_id", "holder_email", "title", "description", "achieved_on", "valid_until"})


@dataclass
class BatchResult:
    """All-or-reported: every row is either built or refused with the reason (row numbers from 1)."""

    built: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.refused


def build_batch(
    kind: str,
    rows: Iterable[Mapping[str, Any]],
    *,
    issuer_id: str,
    issuer_name: str,
    issued_at: int,
    random: Callable[[int], bytes] = secrets.token_bytes,
    progress: Callable[[int], None] | None = None,
    network_url: str = DEFAULT_NETWORK_URL,
) -> BatchResult:
    """One credential per row (a JSON object or a CSV row): ``holder_name``, ``title``, optional
    ``holder_email`` (hashed into the subject's identifier), ``holder_id``, ``description``,
    ``achieved_on``, ``valid_until`` (RFC 3339), and the kind's fields.

    Nothing is issued here: the caller anchors ``built`` only when it accepts the
    refusals (all-or-reported), so a half-issued batch never exists.
    """
    result = BatchResult()
    for n, row in enumerate(rows, start=1):
        try:
            if not isinstance(row, Mapping):
                raise MalformedError("a row must be an object")
            fields = {k: v for k, v in row.items() if k not in ROW_COLUMNS}
            until = row.get("valid_until")
            cred = build_credential(
                kind=kind,
                issuer_id=issuer_id,
                issuer_name=issuer_name,
                holder_name=row.get("holder_name"),  # type: ignore[arg-type]
                holder_id=row.get("holder_id") or None,
                holder_email=row.get("holder_email") or None,
                title=row.get("title"),  # type: ignore[arg-type]
                description=row.get("description") or "",
                achieved_on=row.get("achieved_on") or None,
                valid_until=parse_time(until, "valid_until") if until else None,
                issued_at=issued_at,
                fields=fields,
                random=random,
                network_url=network_url,
            )
            result.built.append((n, cred))
        except MalformedError as e:
            result.refused.append((n, str(e)))
        if progress is not None:
            progress(n)
    return result


def rows_from_csv(text: str) -> list[dict[str, str]]:
    """CSV with a header row -> one dict per row, cells stripped, empty cells left out."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "holder_name" not in reader.fieldnames:
        raise MalformedError("the CSV needs a header row with at least holder_name and title")
    rows = []
    for row in reader:
        if None in row:
            raise MalformedError(f"CSV line {reader.line_num} has more cells than the header")
        rows.append({k.strip(): v.strip() for k, v in row.items() if k and v is not None and v.strip()})
    return rows
