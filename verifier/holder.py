"""Who a credential was issued to, without the credential revealing it (Open Badges 3.0 §B.1, IdentityObject).

A university must know that the diploma in front of it belongs to the applicant in front of it. Names do
not tell (two pupils share a name), and the credential must not carry an e-mail address or a national
identifier in the clear: it is shown to whoever the holder shares it with.

So the credential subject carries an OB 3.0 ``identifier`` array with one IdentityObject for the holder's
e-mail::

    {"type": "IdentityObject", "identityType": "emailAddress", "hashed": true,
     "identityHash": "sha256$<hex of SHA-256(normalised e-mail + salt)>", "salt": "<32 hex, random per credential>"}

This is OB 3.0's IdentityHash: an algorithm name, ``$``, and the hex hash of the UTF-8 identifier with the
salt appended (the spec's example: ``sha256$b5809d8a…`` for ``a@example.com`` salted with ``Kosher``). The
salt is fresh for every credential, so two credentials of one pupil cannot be linked by their hashes and
a table of hashed addresses is useless. An e-mail address has far more values than a national number
(СНИЛС has about 10^9, so its hash is reversible salted or not; it never goes in a credential).

Normalisation, so that the address an admissions officer types matches the one the school used: Unicode
NFC, surrounding spaces removed, lower-cased as a whole (the local part too: no mail provider a Russian
school uses distinguishes case, and a verifier that refused ``Maria@`` for ``maria@`` would fail people).

Without an e-mail (``eduledger credential issue --holder NAME`` with no address), the subject gets a random
``id`` (``urn:uuid:``) instead, which satisfies OB 3.0's rule that an AchievementSubject has an ``id`` or an
``identifier``, and which the holder's portfolio records. Credentials issued before this carry neither and
still verify; they simply cannot answer "was this issued to this e-mail".
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedError

__all__ = ["EMAIL", "Identity", "email_identity", "identity_hash", "matches_email", "normalise_email", "parse_identifiers", "random_subject_id"]

EMAIL = "emailAddress"
#: OB 3.0 IdentifierTypeEnum; other values must be ``ext:<name>``.
IDENTITY_TYPES = frozenset(
    "name sourcedId systemId productId userName accountId emailAddress nationalIdentityNumber isbn issn lisSourcedId "
    "oneRosterSourcedId sisSourcedId ltiContextId ltiDeploymentId ltiToolId ltiPlatformId ltiUserId identifier".split()
)
_EXT = re.compile(r"\Aext:[A-Za-z0-9._-]{1,64}\Z")
_HASH = re.compile(r"\A(sha256\$[0-9a-fA-F]{64}|md5\$[0-9a-fA-F]{32})\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: An address is at most 254 characters (RFC 5321 §4.5.3.1.3 path limit, less the brackets).
MAX_EMAIL = 254
MAX_IDENTIFIERS = 8


def normalise_email(email: object) -> str:
    """The form that is hashed: NFC, stripped, lower-cased. MalformedError unless it looks like one address."""
    if not isinstance(email, str):
        raise MalformedError("the e-mail address must be text")
    e = unicodedata.normalize("NFC", email).strip().lower()
    if not e or len(e) > MAX_EMAIL or _CONTROL.search(e) or any(c.isspace() for c in e):
        raise MalformedError(f"an e-mail address is 3–{MAX_EMAIL} characters without spaces or control characters")
    local, at, domain = e.rpartition("@")
    if not at or not local or not domain or "@" in local or "." not in domain.strip("."):
        raise MalformedError("the e-mail address must look like name@domain.tld")
    return e


def identity_hash(identifier: str, salt: str) -> str:
    """OB 3.0 IdentityHash with SHA-256: ``sha256$`` + hex(SHA-256(UTF-8(identifier + salt)))."""
    return "sha256$" + hashlib.sha256((identifier + salt).encode("utf-8")).hexdigest()


def email_identity(email: str, *, random: Callable[[int], bytes] = secrets.token_bytes) -> dict[str, object]:
    """The IdentityObject for ``email`` with a fresh 128-bit salt from ``random`` (injectable for tests)."""
    salt = random(16)
    if not isinstance(salt, bytes) or len(salt) != 16:
        raise ValueError("random(16) must return 16 bytes")
    s = salt.hex()
    return {"type": "IdentityObject", "identityType": EMAIL, "hashed": True, "identityHash": identity_hash(normalise_email(email), s), "salt": s}


def random_subject_id(random: Callable[[int], bytes] = secrets.token_bytes) -> str:
    """``urn:uuid:`` of a random (version 4) UUID: the subject id of a credential issued without an e-mail."""
    raw = random(16)
    if not isinstance(raw, bytes) or len(raw) != 16:
        raise ValueError("random(16) must return 16 bytes")
    return "urn:uuid:" + str(uuid.UUID(bytes=raw, version=4))


@dataclass(frozen=True)
class Identity:
    """One parsed IdentityObject."""

    identity_type: str
    hashed: bool
    identity_hash: str
    salt: str


def parse_identifiers(v: object, where: str = "credentialSubject.identifier") -> tuple[Identity, ...]:
    """The subject's ``identifier`` array, checked against OB 3.0's IdentityObject; MalformedError names the problem."""
    if not isinstance(v, list) or not 1 <= len(v) <= MAX_IDENTIFIERS:
        raise MalformedError(f"{where} must be a list of 1–{MAX_IDENTIFIERS} IdentityObjects")
    out = []
    for n, obj in enumerate(v):
        w = f"{where}[{n}]"
        if not isinstance(obj, dict):
            raise MalformedError(f"{w} must be an object")
        if obj.get("type") != "IdentityObject":
            raise MalformedError(f"{w}.type must be IdentityObject")
        t = obj.get("identityType")
        if not isinstance(t, str) or not (t in IDENTITY_TYPES or _EXT.match(t)):
            raise MalformedError(f"{w}.identityType must be an Open Badges 3.0 identifier type (e.g. emailAddress) or ext:<name>")
        hashed = obj.get("hashed")
        if not isinstance(hashed, bool):
            raise MalformedError(f"{w}.hashed must be true or false")
        h = obj.get("identityHash")
        if not isinstance(h, str) or not h or len(h) > 300 or _CONTROL.search(h):
            raise MalformedError(f"{w}.identityHash must be a non-empty text of at most 300 characters")
        if hashed and not _HASH.match(h):
            raise MalformedError(f"{w}.identityHash must be sha256$<64 hex> or md5$<32 hex> when hashed")
        salt = obj.get("salt", "")
        if not isinstance(salt, str) or len(salt) > 300 or _CONTROL.search(salt):
            raise MalformedError(f"{w}.salt must be a text of at most 300 characters")
        if t == EMAIL and not hashed:
            raise MalformedError(f"{w}: an e-mail address must be hashed, never carried in the clear")
        out.append(Identity(t, hashed, h, salt))
    return tuple(out)


def matches_email(identities: Sequence[Identity], email: str) -> bool | None:
    """True if an e-mail IdentityObject matches ``email`` (normalised), False if there are e-mail
    identities and none matches, None if the credential names no e-mail at all. MalformedError for a bad address."""
    want = normalise_email(email)
    emails = [i for i in identities if i.identity_type == EMAIL and i.hashed]
    if not emails:
        return None
    found = False
    for i in emails:
        algorithm, _, digest = i.identity_hash.partition("$")
        if algorithm != "sha256":  # MD5 is OB 3.0's other option; this verifier never trusts it for identity
            continue
        found |= hmac.compare_digest(identity_hash(want, i.salt)[7:], digest.lower())
    return found
