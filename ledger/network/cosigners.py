"""Where the sequencer gets cosignatures: witness keys held by this node, or witnesses over HTTP.

Both kinds answer ``cosign(size, note, consistency_proof) -> NoteSignature | None``
and remember the size they last cosigned, so the sequencer sends the right
consistency proof. A remote witness that answers 409 with its own size
(``text/x.tlog.size``) gets one retry with a proof from that size (C2SP
tlog-witness). Failures are logged and return None: a missing cosignature delays
finality, it never blocks the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import httpx

from ledger.errors import EduledgerError, SizeConflict
from ledger.network.witness import AddCheckpoint, Witness
from ledger.tlog.note import NoteSignature, Verifier, parse_note, verify_cosignature

log = logging.getLogger("eduledger.cosigners")

ProofFn = Callable[[int, int], list[bytes]]


class Cosigner(Protocol):
    name: str

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None: ...


class LocalCosigner:
    """A witness key held by this node, behind the same witness logic remote nodes run."""

    def __init__(self, witness: Witness, origin: str) -> None:
        self.witness = witness
        self.origin = origin
        self.name = witness.name

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None:
        old = self.witness.current_size(self.origin)
        try:
            return self.witness.add_checkpoint(old, proof(old, size) if old else [], note)
        except EduledgerError as e:
            log.warning("local witness %s refused checkpoint %d: %s", self.name, size, e)
            return None


class RemoteCosigner:
    """A witness reached with POST <url>/add-checkpoint."""

    def __init__(self, verifier: Verifier, url: str, client: httpx.Client | None = None, timeout: float = 5) -> None:
        self.verifier = verifier
        self.name = verifier.name
        self.url = url.rstrip("/") + "/add-checkpoint"
        self.client = client or httpx.Client(timeout=timeout)
        self.known_size = 0

    def cosign(self, size: int, note: bytes, proof: ProofFn) -> NoteSignature | None:
        for _attempt in range(2):
            old = self.known_size if self.known_size <= size else 0
            body = AddCheckpoint(old, tuple(proof(old, size) if old else ()), note).to_bytes()
            try:
                r = self.client.post(self.url, content=body, headers={"Content-Type": "text/plain"})
            except httpx.HTTPError as e:
                log.info("witness %s unreachable: %s", self.name, e)
                return None
            if r.status_code == 409 and r.headers.get("content-type", "").startswith("text/x.tlog.size"):
                try:
                    self.known_size = int(r.text.strip())
                except ValueError:
                    return None
                if self.known_size > size:
                    log.warning("witness %s has cosigned size %d, beyond %d", self.name, self.known_size, size)
                    return None
                continue
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
        return None


__all__ = ["Cosigner", "LocalCosigner", "RemoteCosigner", "SizeConflict"]
