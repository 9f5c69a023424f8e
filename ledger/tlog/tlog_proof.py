"""C2SP tlog-proof: an offline-verifiable proof that an entry is in a checkpointed log.

::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry's leaf bytes>
    index <n>
    <base64 inclusion proof hash, leaf sibling first>
    ...
    <empty line>
    <checkpoint note, verbatim, with cosignatures>

eduledger always fills ``extra`` with the exact leaf bytes, so the proof carries
the entry itself; the extra data is trusted only through the leaf hash the
inclusion proof binds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import MalformedError
from ledger.tlog.encoding import b64d, b64d_memo, b64e

HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_LINES = 63


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append("extra " + b64e(self.extra))
        lines.append(f"index {self.index}")
        lines += [b64e(h) for h in self.proof]
        return "\n".join(lines) + "\n\n" + self.checkpoint.decode("utf-8")


def parse_tlog_proof(text: object, *, memo: dict[str, bytes] | None = None) -> TlogProof:
    """Parse the C2SP tlog-proof text form; ``memo`` (see ledger.tlog.encoding.b64d_memo) may be shared across proofs."""
    if not isinstance(text, str):
        raise MalformedError("a tlog-proof is a text string")
    head, sep, checkpoint = text.partition("\n\n")
    if not sep or not checkpoint:
        raise MalformedError("a tlog-proof needs an empty line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedError(f"a tlog-proof starts with {HEADER}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = b64d(lines[pos][6:], "tlog-proof extra")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise MalformedError("a tlog-proof needs an 'index N' line")
    digits = lines[pos][6:]
    if not digits.isdigit() or not digits.isascii() or (digits != "0" and digits.startswith("0")) or len(digits) > 19:
        raise MalformedError("tlog-proof index must be a decimal without leading zeros")
    hashes = lines[pos + 1 :]
    if len(hashes) > MAX_PROOF_LINES:
        raise MalformedError("tlog-proof has too many proof lines")
    if memo is None:
        proof = tuple(b64d(h, "tlog-proof hash", size=32) for h in hashes)
    else:
        proof = tuple(b64d_memo(memo, h, "tlog-proof hash", size=32) for h in hashes)
    return TlogProof(int(digits), proof, checkpoint.encode("utf-8"), extra)
