"""Hash-chained block headers.

A block is a contiguous run of leaves committed in one transaction. Its header
commits to the previous block's hash (block 0 commits to the genesis file's
hash), the Merkle root of its own entries, and the global tree's size and root
after it. Block hash = SHA-256 of the header's canonical JSON.

Blocks add an audit trail of batches (when and in what groups entries were
sequenced); they are *not* a second proof path: credentials are proven by
inclusion in the global RFC 9162 tree under a signed checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ledger.errors import MalformedError
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.encoding import b64d, b64e, hex32
from ledger.tlog.timefmt import format_time, parse_time

FORMAT_VERSION = 1


@dataclass(frozen=True)
class BlockHeader:
    network: str
    height: int
    prev: bytes
    first_index: int
    count: int
    entries_root: bytes
    tree_size: int
    tree_root: bytes
    time: int

    def __post_init__(self) -> None:
        if self.height < 0 or self.first_index < 0 or self.count < 1:
            raise MalformedError("block height/index must be non-negative and a block holds at least one entry")
        if self.tree_size != self.first_index + self.count:
            raise MalformedError("block tree_size must equal first_index + count")
        if len(self.prev) != 32 or len(self.entries_root) != 32 or len(self.tree_root) != 32:
            raise MalformedError("block hashes are 32 bytes")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": FORMAT_VERSION,
            "network": self.network,
            "height": self.height,
            "prev": self.prev.hex(),
            "first_index": self.first_index,
            "count": self.count,
            "entries_root": b64e(self.entries_root),
            "tree_size": self.tree_size,
            "tree_root": b64e(self.tree_root),
            "time": format_time(self.time),
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_json())

    def hash(self) -> bytes:
        return hashlib.sha256(self.to_bytes()).digest()


def parse_header(data: bytes) -> BlockHeader:
    """Parse stored header bytes; they must be the canonical form."""
    import json

    try:
        j = json.loads(data)
    except ValueError:
        raise MalformedError("block header is not JSON") from None
    want = {"v", "network", "height", "prev", "first_index", "count", "entries_root", "tree_size", "tree_root", "time"}
    if not isinstance(j, dict) or set(j) != want or j["v"] != FORMAT_VERSION:
        raise MalformedError("block header has the wrong fields or version")
    for k in ("height", "first_index", "count", "tree_size"):
        if not isinstance(j[k], int) or isinstance(j[k], bool):
            raise MalformedError(f"block {k} must be an integer")
    h = BlockHeader(
        network=j["network"],
        height=j["height"],
        prev=hex32(j["prev"], "prev"),
        first_index=j["first_index"],
        count=j["count"],
        entries_root=b64d(j["entries_root"], "entries_root", size=32),
        tree_size=j["tree_size"],
        tree_root=b64d(j["tree_root"], "tree_root", size=32),
        time=parse_time(j["time"]),
    )
    if h.to_bytes() != data:
        raise MalformedError("block header is not in canonical form")
    return h
