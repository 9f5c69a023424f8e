"""The transparency-log toolkit: pure functions and types over bytes, nothing of eduledger's own model.

RFC 9162 Merkle trees and proofs (``merkle``, ``tree``, with the native kernels behind ``_hashing``), C2SP
signed notes (``note``), checkpoints (``checkpoint``), tiles (``tiles``) and tlog-proof (``tlog_proof``),
Ed25519 public-key checks (``ed25519``), RFC 8785 canonical JSON (``canonical``), base64/hex (``encoding``)
and RFC 3339 times (``timefmt``). Imports nothing of the project but ``ledger.errors``. Start with ``merkle``.
"""
