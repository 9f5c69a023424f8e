"""C2SP tlog-tiles: tile paths, hash tiles and entry bundles (pure).

A hash tile at level L, index N lists up to 256 consecutive node hashes of tree
height 8·L starting at node N·256; an entry bundle N holds the leaf data of
entries N·256 .. N·256+255, each prefixed by its length as a big-endian uint16.
A *partial* tile (``.p/W``, 1 <= W < 256) is the rightmost tile of a tree whose
size does not fill it. Full tiles never change, so they may be cached forever.

Path indices are written in groups of three digits, every group but the last
prefixed with ``x``: index 1234067 is ``x001/x234/067``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import MalformedError

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_ENTRY = 0xFFFF

_GROUP = re.compile(r"\A(?:x\d{3}/)*\d{3}\Z", re.ASCII)


@dataclass(frozen=True)
class TileRef:
    level: int  # -1 for entry bundles
    index: int
    width: int  # 256 for a full tile

    @property
    def is_entries(self) -> bool:
        return self.level < 0

    def path(self) -> str:
        head = "tile/entries" if self.is_entries else f"tile/{self.level}"
        tail = "" if self.width == TILE_WIDTH else f".p/{self.width}"
        return f"{head}/{encode_index(self.index)}{tail}"


def encode_index(n: int) -> str:
    if n < 0:
        raise ValueError("tile index must be non-negative")
    groups = []
    while True:
        groups.append(f"{n % 1000:03d}")
        n //= 1000
        if n == 0:
            break
    groups.reverse()
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


def decode_index(text: str) -> int:
    if not _GROUP.match(text):
        raise MalformedError(f"tile index {text!r} is not in x000/000 form")
    return int("".join(part.lstrip("x") for part in text.split("/")))


def parse_tile_path(path: str, *, entries: bool) -> TileRef:
    """Parse the part after ``tile/<L>/`` or ``tile/entries/`` (``N[.p/W]``)."""
    width = TILE_WIDTH
    if ".p/" in path:
        path, _, w = path.partition(".p/")
        if not w.isdigit() or str(int(w)) != w or not 1 <= int(w) < TILE_WIDTH:
            raise MalformedError(f"partial tile width must be 1..255, got {w!r}")
        width = int(w)
    return TileRef(-1 if entries else 0, decode_index(path), width)


def tiles_for_size(level: int, tree_size: int) -> tuple[int, int]:
    """(number of full tiles, width of the partial tile or 0) at ``level`` for ``tree_size``."""
    nodes = tree_size >> (TILE_HEIGHT * level)
    return nodes // TILE_WIDTH, nodes % TILE_WIDTH


def check_servable(ref: TileRef, tree_size: int) -> None:
    """A tile may be served iff it is full and complete at ``tree_size``, or is exactly
    the current partial tile. Raises MalformedError otherwise (→ 404)."""
    level = 0 if ref.is_entries else ref.level
    full, partial = tiles_for_size(level, tree_size)
    if ref.width == TILE_WIDTH and ref.index < full:
        return
    if ref.width < TILE_WIDTH and ref.index < full:
        return  # a partial tile of a now-full tile: its prefix is still correct and immutable
    if ref.index == full and ref.width <= partial:
        return
    raise MalformedError(f"{ref.path()} does not exist at tree size {tree_size}")


def hash_tile(hashes: Sequence[bytes]) -> bytes:
    return b"".join(hashes)


def entry_bundle(entries: Sequence[bytes]) -> bytes:
    out = bytearray()
    for e in entries:
        if len(e) > MAX_ENTRY:
            raise ValueError("entry too long for a tile bundle")
        out += struct.pack(">H", len(e)) + e
    return bytes(out)


def parse_entry_bundle(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise MalformedError("entry bundle ends inside a length prefix")
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + n > len(data):
            raise MalformedError("entry bundle ends inside an entry")
        out.append(data[pos : pos + n])
        pos += n
    return out


def parse_hash_tile(data: bytes) -> list[bytes]:
    if len(data) % 32 or not data or len(data) > 32 * TILE_WIDTH:
        raise MalformedError("a hash tile is 1..256 hashes of 32 bytes")
    return [data[i : i + 32] for i in range(0, len(data), 32)]
