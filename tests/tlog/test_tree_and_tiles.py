"""The appendable tree answers like the reference functions; tiles match the published tlog vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import MalformedError
from ledger.tlog import merkle, tiles
from ledger.tlog.tree import Tree
from tests.tlog import vectors

VECTORS = vectors.directory(vectors.TLOG_LOG)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=8))
def test_tree_grown_in_steps_matches_reference(steps):
    t, leaves = Tree(), []
    for n in steps:
        new = merkle.hash_leaves([f"{len(leaves) + i}".encode() for i in range(n)])
        t.extend(new)
        leaves += new
        assert t.root() == merkle.root(leaves)
        for size in {1, len(leaves) // 2 or 1, len(leaves)} if leaves else set():
            assert t.root(size) == merkle.root(leaves[:size])
            for i in range(0, size, max(1, size // 5)):
                assert t.inclusion_proof(i, size) == merkle.inclusion_proof(leaves[:size], i)
            for old in range(0, size + 1, max(1, size // 5)):
                assert t.consistency_proof(old, size) == merkle.consistency_proof(leaves[:size], old)


def test_tree_refuses_sizes_it_does_not_have():
    t = Tree(merkle.hash_leaves([b"a", b"b"]))
    with pytest.raises(ValueError):
        t.inclusion_proof(0, 3)


def test_tile_index_paths():
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.decode_index("x001/x234/067") == 1234067
    for bad in ("1", "x1/000", "000/x001", "abc", "x001/"):
        with pytest.raises(MalformedError):
            tiles.decode_index(bad)


def test_partial_tile_width_bounds():
    assert tiles.parse_tile_path("000.p/5", entries=True).width == 5
    for bad in ("000.p/0", "000.p/256", "000.p/05", "000.p/x"):
        with pytest.raises(MalformedError):
            tiles.parse_tile_path(bad, entries=False)


@pytest.mark.parametrize("n", range(1, 16))
def test_published_tiles_match_our_tree(n):
    bundle = (VECTORS / "tile" / "entries" / "000.p" / str(n)).read_bytes()
    entries = tiles.parse_entry_bundle(bundle)
    assert len(entries) == n and tiles.entry_bundle(entries) == bundle
    t = Tree(merkle.hash_leaves(entries))
    assert tiles.hash_tile(t.level_slice(0, 0, n)) == (VECTORS / "tile" / "0" / "000.p" / str(n)).read_bytes()


def test_servable_tiles():
    tiles.check_servable(tiles.TileRef(0, 0, 256), 300)
    tiles.check_servable(tiles.TileRef(0, 1, 44), 300)
    tiles.check_servable(tiles.TileRef(0, 1, 10), 300)
    with pytest.raises(MalformedError):
        tiles.check_servable(tiles.TileRef(0, 1, 45), 300)
    with pytest.raises(MalformedError):
        tiles.check_servable(tiles.TileRef(0, 1, 256), 300)
    tiles.check_servable(tiles.TileRef(1, 0, 1), 300)
    with pytest.raises(MalformedError):
        tiles.check_servable(tiles.TileRef(1, 0, 2), 300)


@pytest.mark.parametrize("data", [b"\x00", b"\x00\x05abc"])
def test_truncated_entry_bundle_is_malformed(data):
    with pytest.raises(MalformedError):
        tiles.parse_entry_bundle(data)
