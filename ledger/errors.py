"""The one error tree of eduledger.

Every domain failure raised anywhere in the project (ledger, keys, verifier,
portfolio) is a subclass of :class:`EduledgerError`. Programmer mistakes
(calling an API with the wrong types) raise ``ValueError`` / ``TypeError``
instead, never one of these.

::

    EduledgerError
    ├── MalformedError            input bytes/fields do not parse (→ HTTP 400/422)
    ├── VerificationError         the data parses but is not what it claims
    │   ├── RootMismatchError     a proof folds to another root (carries both roots)
    │   ├── SignatureError        a signature does not verify / unknown key
    │   ├── QuorumError           too few valid cosignatures
    │   ├── InconsistencyError    two checkpoints of one log that do not extend each other
    │   │                         (carries both checkpoints and the proof: the evidence)
    │   └── PolicyError           valid data that the trust policy forbids
    ├── AuthorizationError        submitter not registered / key not valid (→ 403)
    ├── ConflictError             state changed underneath (CAS lost, duplicate) (→ 409)
    │   └── SizeConflict          a witness's old size is not the request's (carries current_size)
    ├── NotFoundError             asked-for index / block / object absent (→ 404)
    ├── PushbackError             queue full, try later; has ``retry_after`` (→ 503)
    ├── HaltedError               the node stopped serving log data and cosigning: its
    │                             storage or fork alert is set (→ 503, until an operator acts)
    ├── StorageError              the database failed (→ 500, logged; not the user's fault)
    ├── FetchError                a peer/network read failed (not the data's fault)
    └── KeyFileError              a key file is missing, corrupt or the passphrase is wrong

Tests assert the exact subclass.
"""

from __future__ import annotations


class EduledgerError(Exception):
    """Root of every domain error."""


class MalformedError(EduledgerError):
    """Input does not parse: wrong encoding, missing field, bad length."""


class VerificationError(EduledgerError):
    """Data parses but does not verify."""


class RootMismatchError(VerificationError):
    """A proof folds to a root other than the expected one."""

    def __init__(self, message: str, *, expected: bytes, calculated: bytes) -> None:
        super().__init__(f"{message}: calculated {calculated.hex()}, expected {expected.hex()}")
        self.expected = expected
        self.calculated = calculated


class SignatureError(VerificationError):
    """A signature is invalid, or made by a key the verifier does not trust."""


class QuorumError(VerificationError):
    """Fewer valid cosignatures than the trust policy requires."""


class InconsistencyError(VerificationError):
    """Two checkpoints of one log that are not consistent: a fork.

    ``old`` and ``new`` are the signed checkpoint texts (the evidence), ``proof``
    the consistency proof that failed to connect them (may be empty).
    """

    def __init__(self, message: str, *, old: str = "", new: str = "", proof: list[bytes] | None = None) -> None:
        super().__init__(message)
        self.old = old
        self.new = new
        self.proof = list(proof or [])


class PolicyError(VerificationError):
    """Valid data that the trust policy refuses (wrong network, key type, ...)."""


class AuthorizationError(EduledgerError):
    """The submitter is not allowed to do this."""


class ConflictError(EduledgerError):
    """The state changed underneath the caller, or the request repeats a unique one."""


class SizeConflict(ConflictError):
    """The request's old size is not the witness's current size for the log (C2SP tlog-witness: 409)."""

    def __init__(self, message: str, current_size: int) -> None:
        super().__init__(message)
        self.current_size = current_size


class NotFoundError(EduledgerError):
    """The requested object does not exist."""


class PushbackError(EduledgerError):
    """The node is saturated; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class HaltedError(EduledgerError):
    """The node refuses to serve log data or to cosign: its stored log failed an
    integrity check, or it has seen a fork. Not the caller's fault; it lasts until
    an operator restores the node."""


class StorageError(EduledgerError):
    """The storage backend failed. Not the caller's fault."""


class FetchError(EduledgerError):
    """Reading from a peer failed (network, timeout, HTTP error)."""


class KeyFileError(EduledgerError):
    """A key file is missing, corrupt, or the passphrase does not open it."""
