"""Where the sequencer gets cosignatures: witness keys held by this node, or witnesses over HTTP.

Both kinds answer ``cosign(size, note, consistency_proof) -> NoteSignature | None``
and remember the size they last cosigned, so the sequencer sends the right
consistency proof. A remote witness that answers 409 with its own size
(``text/x.tlog.size``) gets one retry with a proof from that size (C2SP
tlog-witness). ``probe(size, note)`` asks only for that size (the sequencer's
start-up round): it never makes a witness cosign a checkpoint twice.

An unreachable witness or a refusal that says nothing about the log is logged
and returns None: a missing cosignature delays finality, it never blocks the
log. An answer that says the log the witness knows is not the one it was shown
raises :class:`WitnessObjection`, carrying the answer as received, so the
sequencer acts on it (``Log.on_witness_objection``) instead of logging it:

* ``beyond``: it has cosigned a size larger than the checkpoint sent (409
  ``text/x.tlog.size``): the log key signed a tree this node does not hold;
* ``fork``: 409 without a size (another checkpoint of this size was cosigned,
  or the witness stopped after its node saw a fork);
* ``inconsistent``: 422, the consistency proof from the size the witness holds
  does not verify against what it cosigned there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import httpx

from ledger.errors import (
    ConflictError,
    EduledgerError,
    InconsistencyError,
    SizeConflict,
)
from ledger.network.witness import AddCheckpoint, SameSizeFork, Witness, WitnessStopped
from ledger.tlog.note import NoteSignature, Verifier, parse_note, verify_cosignature

log = logging.getLogger("eduledger.cosigners")

ProofFn = Callable[[int, int], list[bytes]]

#: How much of a witness's answer is kept as evidence (bytes of text).
MAX_ANSWER = 4096


class WitnessObjection(ConflictError):
    """A witness refused a checkpoint because the log it knows is not the one it was shown.

    ``kind`` is ``beyond`` (``witness_size`` > ``size``), ``fork`` or ``inconsistent``
    (module docstring). ``size`` and ``note`` are the checkpoint that was sent; ``answer``
    the witness's answer (status, content type and body, at most ``MAX_ANSWER`` characters);
    ``url`` its node's base URL (None for a witness key held by this node); ``notes`` the two
    log-signed notes a local witness holds as evidence of a same-size fork, if any."""

    KINDS = ("beyond", "fork", "inconsistent")

    def __init__(
        self,
        message: str,
        *,
        witness: str,
        kind: str,
        size: int,
        note: bytes,
        answer: str,
        url: str | None = None,
        witness_size: int | None = None,
        notes: tuple[bytes, bytes] | None = None,
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {self.KINDS}, got {kind!r}")
        if (kind == "beyond") != (witness_size is not None):
            raise ValueError("witness_size is given exactly for kind 'beyond'")
        super().__init__(message)
        self.witness = witness
        self.kind = kind
        self.size = size
        self.note = note
        self.answer = answer[:MAX_ANSWER]
        self.url = url
        self.witness_size = witness_size
        self.notes = notes


class Cosigner(Protocol):
    name: str

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None:
        """A cosignature of ``note`` (the checkpoint of ``size``), or None; WitnessObjection."""
        ...

    def probe(self, size: int, note: bytes) -> NoteSignature | None:
        """Learn the size the witness has cosigned without making it cosign twice: raises
        WitnessObjection if it is beyond ``size`` (or refuses as a fork); a cosignature
        only from a witness that had cosigned nothing yet (old size 0 is its size)."""
        ...


class LocalCosigner:
    """A witness key held by this node, behind the same witness logic remote nodes run."""

    def __init__(self, witness: Witness, origin: str) -> None:
        self.witness = witness
        self.origin = origin
        self.name = witness.name

    def _beyond(self, size: int, note: bytes) -> None:
        old = self.witness.current_size(self.origin)
        if old > size:
            raise WitnessObjection(
                f"local witness {self.name} has cosigned size {old}, beyond {size}",
                witness=self.name, kind="beyond", size=size, note=note, answer=f"local witness state: size {old}", witness_size=old,
            )

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None:
        self._beyond(size, note)
        old = self.witness.current_size(self.origin)
        try:
            return self.witness.add_checkpoint(old, proof(old, size) if old else [], note)
        except SameSizeFork as e:
            raise WitnessObjection(
                f"local witness {self.name} refused checkpoint {size}: {e}",
                witness=self.name, kind="fork", size=size, note=note, answer=str(e), notes=(e.old, e.new),
            ) from None
        except WitnessStopped as e:
            raise WitnessObjection(f"local witness {self.name} refused checkpoint {size}: {e}", witness=self.name, kind="fork", size=size, note=note, answer=str(e)) from None
        except InconsistencyError as e:
            raise WitnessObjection(
                f"local witness {self.name} refused checkpoint {size}: {e}", witness=self.name, kind="inconsistent", size=size, note=note, answer=str(e)
            ) from None
        except EduledgerError as e:
            log.warning("local witness %s refused checkpoint %d: %s", self.name, size, e)
            return None

    def probe(self, size: int, note: bytes) -> NoteSignature | None:
        self._beyond(size, note)
        return None  # its state is read directly; the collection round asks it if it is missing


class RemoteCosigner:
    """A witness reached with POST <url>/add-checkpoint (``url`` is its node's base URL)."""

    def __init__(self, verifier: Verifier, url: str, client: httpx.Client | None = None, timeout: float = 5) -> None:
        self.verifier = verifier
        self.name = verifier.name
        self.base_url = url.rstrip("/")
        self.url = self.base_url + "/add-checkpoint"
        self.client = client or httpx.Client(timeout=timeout)
        self.known_size = 0

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None:
        for _attempt in range(2):
            old = self.known_size if self.known_size <= size else 0
            r = self._post(old, tuple(proof(old, size) if old else ()), size, note)
            if r is None:
                return None
            if self._size_answer(r, size, note):
                continue  # retry once with a proof from the size it holds
            return self._cosignature(r, size, note)
        return None

    def probe(self, size: int, note: bytes) -> NoteSignature | None:
        # Old size 0 with no proof: a witness that holds a size answers 409 with it (C2SP
        # tlog-witness) and moves nothing; only one that holds nothing cosigns.
        r = self._post(0, (), size, note)
        if r is None or self._size_answer(r, size, note):
            return None
        return self._cosignature(r, size, note)

    def _post(self, old: int, proof: tuple[bytes, ...], size: int, note: bytes) -> httpx.Response | None:
        body = AddCheckpoint(old, proof, note).to_bytes()
        try:
            return self.client.post(self.url, content=body, headers={"Content-Type": "text/plain"})
        except httpx.HTTPError as e:
            log.info("witness %s unreachable: %s", self.name, e)
            return None

    def _size_answer(self, r: httpx.Response, size: int, note: bytes) -> bool:
        """True for a 409 carrying the witness's size (remembered in ``known_size``); raises
        WitnessObjection if that size is beyond ``size``."""
        if not (r.status_code == 409 and r.headers.get("content-type", "").startswith("text/x.tlog.size")):
            return False
        try:
            theirs = int(r.text.strip())
        except ValueError:
            log.warning("witness %s sent a malformed size: %r", self.name, r.text[:100])
            return False
        self.known_size = theirs
        if theirs > size:
            raise WitnessObjection(
                f"witness {self.name} has cosigned size {theirs}, beyond {size}",
                witness=self.name, kind="beyond", size=size, note=note, answer=_answer(r), url=self.base_url, witness_size=theirs,
            )
        return True

    def _cosignature(self, r: httpx.Response, size: int, note: bytes) -> NoteSignature | None:
        if r.status_code in (409, 422):
            kind = "fork" if r.status_code == 409 else "inconsistent"
            raise WitnessObjection(
                f"witness {self.name} refused checkpoint {size} ({r.status_code}): {r.text[:200]}",
                witness=self.name, kind=kind, size=size, note=note, answer=_answer(r), url=self.base_url,
            )
        if r.status_code != 200:
            log.warning("witness %s answered %d: %s", self.name, r.status_code, r.text[:200])
            return None
        text = note.split(b"\n\n", 1)[0].decode() + "\n"
        try:
            sigs = parse_note(text.encode() + b"\n" + r.content).signatures
        except EduledgerError as e:
            log.warning("witness %s sent a malformed answer: %s", self.name, e)
            return None
        for sig in sigs:
            if sig.key_id == self.verifier.key_id and sig.name == self.verifier.name:
                try:
                    verify_cosignature(text, sig, self.verifier)
                except EduledgerError as e:
                    log.warning("witness %s sent an invalid cosignature: %s", self.name, e)
                    return None
                self.known_size = size
                return sig
        return None


def _answer(r: httpx.Response) -> str:
    """A witness's HTTP answer as evidence: status, content type, body."""
    return f"HTTP {r.status_code} {r.headers.get('content-type', '')}\n{r.text[:MAX_ANSWER]}"


__all__ = ["Cosigner", "LocalCosigner", "RemoteCosigner", "SizeConflict", "WitnessObjection"]
