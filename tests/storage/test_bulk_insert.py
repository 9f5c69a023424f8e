"""Bulk entry inserts (ledger/storage/sql.py) and the registry's GC-untracked records (ledger/model/registry.py).

``_BULK_BYTES`` is made tiny so one ``append_blocks`` call is inserted in many
chunks, each one statement (SQLite: substr() over two blobs at json_each
offsets; PostgreSQL: unnest of three arrays). What is read back must be exactly
what went in, at the right indices, whatever the bytes (not UTF-8, NUL, one
byte, larger than a chunk by itself); a conflict in a later chunk must leave
nothing of the earlier ones.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ledger.storage.sql
from ledger.errors import AuthorizationError, ConflictError
from ledger.model.entries import Statement, sign_batch
from ledger.model.genesis import Founder, Genesis
from ledger.model.registry import Anchor, Registry, Revocation, Supersession
from ledger.storage import LedgerStore, StoredBlock, open_store
from ledger.tlog.encoding import b64e
from ledger.tlog.timefmt import format_time, parse_time
from tests.keyutil import RawSigner

SMALL = 64  # bytes per bulk statement in these tests

# Rows of different lengths and contents: one byte, NUL, bytes that are not UTF-8,
# non-ASCII UTF-8, every byte value, JSON-looking bytes, and one row larger than a
# chunk by itself.
DATAS = [
    b"x",
    b"\xff\x00\x80",
    "Школа №1 — ✓ 𝄞".encode(),
    b"\x00",
    b'{"entry":1}',
    bytes(range(256)),
    b"\x80",
    b"y" * (SMALL - 1),
    b"\xc3",
    b"B" * (SMALL * 3 + 5),
    b"z",
    b"\x00" * SMALL,
    b"'); DROP TABLE entries; --",
    b"\xed\xa0\x80",  # a UTF-8-encoded surrogate: not valid UTF-8
    b"end",
]


def leaf_for(i: int, data: bytes) -> bytes:
    return hashlib.sha256(b"%d:" % i + data).digest()


def block_of(height: int, first: int, datas: list[bytes]) -> tuple[StoredBlock, list[tuple[bytes, bytes]]]:
    header = b'{"height":%d,"first":%d,"count":%d}' % (height, first, len(datas))
    block = StoredBlock(height, first, len(datas), header, hashlib.sha256(header).digest())
    return block, [(leaf_for(first + k, d), d) for k, d in enumerate(datas)]


def group_of(store: LedgerStore, parts: list[list[bytes]]) -> list[tuple[StoredBlock, list[tuple[bytes, bytes]]]]:
    """Consecutive blocks holding ``parts``, starting where ``store`` ends."""
    out, first, height = [], store.size(), store.block_count()
    for datas in parts:
        out.append(block_of(height, first, datas))
        first, height = first + len(datas), height + 1
    return out


def snapshot(store: LedgerStore) -> tuple:
    size, n = store.size(), store.block_count()
    return size, store.leaf_hashes(0, size), store.entries(0, size), n, store.blocks(0, n)


def sql_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return str(request.getfixturevalue("pg_store_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    """A fresh SQL store (the memory backend has no bulk statement to test)."""
    s = open_store(sql_url(request.param, request, tmp_path))
    yield s
    s.close()


@pytest.fixture
def chunks(monkeypatch: pytest.MonkeyPatch) -> list[list[bytes]]:
    """_BULK_BYTES set to SMALL; records the datas of every chunk the store inserts."""
    monkeypatch.setattr(ledger.storage.sql, "_BULK_BYTES", SMALL)
    seen: list[list[bytes]] = []
    real = ledger.storage.sql._bulk_chunks

    def recording(rows):
        for offset, chunk in real(rows):
            seen.append([d for _, d in chunk])
            yield offset, chunk

    monkeypatch.setattr(ledger.storage.sql, "_bulk_chunks", recording)
    return seen


# --- bulk inserts read back exactly -------------------------------------------------------------


def test_a_group_inserted_in_many_chunks_reads_back_exactly(store, chunks):
    parts = [DATAS[:4], DATAS[4:11], DATAS[11:]]
    group = group_of(store, parts)
    store.append_blocks(group)
    rows = [row for _, rs in group for row in rs]
    n = len(rows)
    assert len(chunks) > 3 and [d for c in chunks for d in c] == DATAS  # several statements, every row once
    assert [b"B" * (SMALL * 3 + 5)] in chunks  # the oversized row went in alone
    assert store.size() == n and store.block_count() == 3
    assert store.entries(0, n) == DATAS
    assert store.leaf_hashes(0, n) == [lh for lh, _ in rows]
    assert [store.entry(i) for i in range(n)] == DATAS
    assert [store.index_of(lh) for lh, _ in rows] == list(range(n))
    assert store.entries(5, 9) == DATAS[5:9] and store.leaf_hashes(5, 9) == [lh for lh, _ in rows[5:9]]
    assert store.blocks(0, 3) == [b for b, _ in group]
    assert [store.block_for_index(i).height for i in (0, 3, 4, 10, 11, n - 1)] == [0, 0, 1, 1, 2, 2]


def test_indices_continue_across_groups_and_chunks(store, chunks):
    store.append_blocks(group_of(store, [DATAS[:7]]))
    store.append_block(*block_of(1, 7, DATAS[7:9]))
    store.append_blocks(group_of(store, [DATAS[9:12], DATAS[12:]]))
    n = len(DATAS)
    assert store.entries(0, n) == DATAS
    assert store.leaf_hashes(0, n) == [leaf_for(i, d) for i, d in enumerate(DATAS)]
    assert store.block_count() == 4 and store.size() == n


@pytest.mark.parametrize("bulk", [1, 2, 3, 32, 10**9])
def test_any_chunk_size_gives_the_same_rows(store, monkeypatch, bulk):
    monkeypatch.setattr(ledger.storage.sql, "_BULK_BYTES", bulk)
    datas = [bytes([i % 256]) * (i % 7 + 1) for i in range(40)] + DATAS
    store.append_blocks(group_of(store, [datas[:13], datas[13:14], datas[14:]]))
    assert store.entries(0, len(datas)) == datas
    assert store.leaf_hashes(0, len(datas)) == [leaf_for(i, d) for i, d in enumerate(datas)]


def test_a_thousand_rows_in_one_statement_read_back_exactly(store):
    datas = [hashlib.sha256(b"%d" % i).digest()[: i % 32 + 1] for i in range(1000)]
    store.append_blocks(group_of(store, [datas[:500], datas[500:]]))
    assert store.entries(0, 1000) == datas
    assert store.leaf_hashes(0, 1000) == [leaf_for(i, d) for i, d in enumerate(datas)]


# --- conflicts leave nothing --------------------------------------------------------------------


def test_a_leaf_hash_repeated_in_a_later_chunk_of_a_group_is_a_conflict_and_writes_nothing(store, chunks):
    store.append_block(*block_of(0, 0, [b"before"]))
    before = snapshot(store)
    group = group_of(store, [DATAS[:6], DATAS[6:]])
    rows1 = group[1][1]
    rows1[-1] = (group[0][1][0][0], rows1[-1][1])  # the last row repeats the first block's first leaf hash
    with pytest.raises(ConflictError) as e:
        store.append_blocks(group)
    assert type(e.value) is ConflictError and "repeat a leaf hash" in str(e.value)
    assert len(chunks) > 2  # the repeat was in a later statement than its first occurrence
    assert snapshot(store) == before


def test_a_stored_leaf_hash_in_a_later_chunk_is_a_conflict_and_writes_nothing(store, chunks):
    store.append_block(*block_of(0, 0, [b"before", b"also"]))
    stored = store.leaf_hashes(1, 2)[0]
    before = snapshot(store)
    group = group_of(store, [DATAS[:6], DATAS[6:]])
    rows1 = group[1][1]
    rows1[-2] = (stored, rows1[-2][1])
    with pytest.raises(ConflictError) as e:
        store.append_blocks(group)
    assert type(e.value) is ConflictError and "already stored at index 1" in str(e.value)
    assert len(chunks) > 2
    assert snapshot(store) == before
    store.append_blocks(group_of(store, [DATAS[:6], DATAS[6:]]))  # and the store still takes the group after
    assert store.entries(2, 2 + len(DATAS)) == DATAS


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ],
)
@pytest.mark.parametrize(
    "datas",
    [[b""], [b"x" * (SMALL + 1), b"", b""]],
    ids=["one empty row", "empty rows after a row larger than a chunk"],
)
def test_empty_entry_data_is_stored_and_read_back(backend, datas, request, tmp_path, monkeypatch):
    monkeypatch.setattr(ledger.storage.sql, "_BULK_BYTES", SMALL)
    s = open_store(sql_url(backend, request, tmp_path))
    try:
        s.append_blocks(group_of(s, [datas]))
        assert s.entries(0, len(datas)) == datas
    finally:
        s.close()


# --- the chunking itself --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), max_size=60), bulk=st.integers(1, 100))
def test_bulk_chunks_cover_every_row_once_in_order_and_respect_the_byte_bound(sizes, bulk):
    rows = [(bytes(32), b"d" * n) for n in sizes]
    saved = ledger.storage.sql._BULK_BYTES
    ledger.storage.sql._BULK_BYTES = bulk
    try:
        out = list(ledger.storage.sql._bulk_chunks(rows))
    finally:
        ledger.storage.sql._BULK_BYTES = saved
    assert [r for _, c in out for r in c] == rows
    assert [o for o, _ in out] == [sum(len(c) for _, c in out[:k]) for k in range(len(out))]
    for _, c in out:
        assert len(c) >= 1
        # no statement carries more than the bound, unless one of its rows alone is larger
        assert sum(len(d) for _, d in c) <= max(bulk, max(len(d) for _, d in c))


# --- registry records: plain tuples outside the GC, read as NamedTuples ---------------------------

NET = "edu.example/test"
T0 = parse_time("2026-01-01T00:00:00Z")


@pytest.fixture
def world():
    keys = {i: RawSigner(hashlib.sha256(i.encode()).digest()) for i in ("olymp-1", "school-1")}
    g = Genesis(NET, T0, "log+00000000+AA", "olymp-1", 1, tuple(Founder(i, i, "school", k.public_key, f"w/{i}+0+AA") for i, k in keys.items()))
    r = Registry(NET, g.sequencer)
    for i, e in enumerate(g.entries()):
        r.apply_genesis(e, i, g.created)
    return r, keys


def digest(n: int) -> str:
    return f"{n:064x}"


def apply_all(r: Registry, signer: RawSigner, statements: list[Statement], now: int, first_index: int) -> None:
    for k, e in enumerate(sign_batch(statements, signer)):
        r.apply(e, first_index + k, now)


def test_registry_records_are_untracked_tuples_read_as_named_tuples(world):
    r, keys = world
    school = keys["school-1"]
    issued = [T0 + 100 + n for n in range(5)]
    apply_all(
        r,
        school,
        [Statement(NET, "credential.anchor", "school-1", {"digest": digest(n), "type": f"type-{n}", "issued_at": format_time(issued[n])}) for n in range(5)],
        T0 + 200,
        first_index=10,
    )
    apply_all(r, school, [Statement(NET, "credential.revoke", "school-1", {"digest": digest(1), "reason": "fraud"})], T0 + 300, first_index=20)
    apply_all(r, school, [Statement(NET, "credential.supersede", "school-1", {"digest": digest(2), "by": digest(3)})], T0 + 400, first_index=30)
    gc.collect()

    for records in (r.anchors, r.revocations, r.supersessions):
        for d in records._rows:
            assert type(records._rows[d]) is tuple and not gc.is_tracked(records._rows[d])

    a = r.anchors[digest(4)]
    assert type(a) is Anchor and a == Anchor(14, "school-1", "type-4", issued[4], school.public_key)
    assert (a.index, a.institution, a.type, a.issued_at, a.key) == (14, "school-1", "type-4", issued[4], school.public_key)
    assert r.anchors.get(digest(0)) == Anchor(10, "school-1", "type-0", issued[0], school.public_key)
    assert type(r.revocations[digest(1)]) is Revocation and r.revocations[digest(1)] == Revocation(20, "fraud")
    assert type(r.supersessions[digest(2)]) is Supersession and r.supersessions[digest(2)] == Supersession(30, digest(3))

    assert len(r.anchors) == 5 and len(r.revocations) == 1 and len(r.supersessions) == 1
    assert list(r.anchors) == [digest(n) for n in range(5)]  # insertion (log) order
    assert list(r.anchors.keys()) == [digest(n) for n in range(5)]
    assert [v.index for v in r.anchors.values()] == [10, 11, 12, 13, 14]
    assert dict(r.anchors.items())[digest(3)].type == "type-3"
    assert digest(3) in r.anchors and digest(3) not in r.revocations and digest(99) not in r.anchors
    assert 5 not in r.anchors  # a key of another type is simply absent
    assert [r.status(digest(n)) for n in (0, 1, 2, 99)] == ["valid", "revoked", "superseded", "unknown"]


def test_a_missing_record_is_a_key_error_and_get_gives_none(world):
    r, keys = world
    apply_all(r, keys["school-1"], [Statement(NET, "credential.anchor", "school-1", {"digest": digest(1), "type": "x", "issued_at": format_time(T0)})], T0 + 10, first_index=5)
    for records in (r.anchors, r.revocations, r.supersessions):
        with pytest.raises(KeyError):
            records[digest(2)]
        assert records.get(digest(2)) is None
        assert records.get(digest(2), "default") == "default"
    with pytest.raises(KeyError):
        r.revocations[digest(1)]  # anchored, not revoked


def test_a_refused_entry_leaves_the_records_as_they_were(world):
    r, keys = world
    anchor = Statement(NET, "credential.anchor", "school-1", {"digest": digest(1), "type": "x", "issued_at": format_time(T0)})
    apply_all(r, keys["school-1"], [anchor], T0 + 10, first_index=5)
    rows = dict(r.anchors._rows)
    (again,) = sign_batch([anchor], keys["school-1"])
    with pytest.raises(ConflictError) as e:
        r.apply(again, 6, T0 + 20)
    assert type(e.value) is ConflictError and "already anchored at index 5" in str(e.value)
    assert r.anchors._rows == rows
    (foreign,) = sign_batch([Statement(NET, "credential.revoke", "olymp-1", {"digest": digest(1), "reason": "fraud"})], keys["olymp-1"])
    with pytest.raises(AuthorizationError) as e:
        r.apply(foreign, 7, T0 + 30)
    assert type(e.value) is AuthorizationError and "issued by school-1" in str(e.value) and len(r.revocations) == 0


def test_a_registry_of_many_anchors_adds_nothing_for_the_gc_to_track(world):
    r, keys = world
    gc.collect()
    before = len(gc.get_objects())
    statements = [Statement(NET, "credential.anchor", "school-1", {"digest": digest(n), "type": "x", "issued_at": format_time(T0)}) for n in range(2000)]
    entries = sign_batch(statements, keys["school-1"])
    for k, e in enumerate(entries):
        r.apply(e, 100 + k, T0 + 10)
    del statements, entries, e
    gc.collect()
    assert len(r.anchors) == 2000
    assert len(gc.get_objects()) - before < 100  # the 2000 records are not among the tracked objects
    assert b64e(r.anchors[digest(1999)].key) == b64e(keys["school-1"].public_key)
