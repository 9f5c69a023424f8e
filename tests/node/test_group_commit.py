"""Group commit: a backlog of blocks is stored in one transaction, all of it or none of it,
and every submitter is acknowledged only for what that transaction committed."""

from __future__ import annotations

import asyncio

import pytest

from ledger.errors import AuthorizationError, StorageError
from ledger.model.blocks import parse_header
from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt, Rejection
from ledger.node.audit import audit
from ledger.node.sequencer import Sequencer
from ledger.storage.memory import FAIL_NOT_PERSISTED
from ledger.tlog.timefmt import format_time
from tests.fixtures_network import NETWORK, MiniNetwork


def anchors(net: MiniNetwork, n: int, start: int, inst: str = "olymp-1") -> list:
    t = format_time(net.created + 60)
    statements = [Statement(NETWORK, "credential.anchor", inst, {"digest": f"{i:064x}", "type": "olympiad-diploma", "issued_at": t}) for i in range(start, start + n)]
    return sign_batch(statements, net.keys.signing[inst])


@pytest.fixture
def net(tmp_path):
    return MiniNetwork(tmp_path)


def run_backlog(net: MiniNetwork, submissions: list, *, return_exceptions: bool = False, **options) -> list:
    """Queue every submission before the sequencer starts (one backlog), run it to the end; the results in order."""

    async def scenario():
        seq = Sequencer(net.log, **options)
        tasks = [asyncio.ensure_future(seq.submit(s)) for s in submissions]
        await asyncio.sleep(0)
        await seq.start()
        results = await asyncio.gather(*tasks, return_exceptions=return_exceptions)
        await seq.stop()
        return results

    return asyncio.run(scenario())


def test_append_blocks_makes_one_block_per_group_in_one_transaction(net):
    store = net.log.store
    commits = []
    original = store.append_blocks
    store.append_blocks = lambda blocks: (commits.append(len(blocks)), original(blocks))[1]  # type: ignore[method-assign]
    heights_before, size_before = store.block_count(), net.log.size
    groups = [anchors(net, 3, 0), anchors(net, 1, 3), anchors(net, 5, 4)]
    results, size = net.log.append_blocks(groups)
    assert commits == [3]
    assert size == size_before + 9 == store.size()
    assert store.block_count() == heights_before + 3
    assert [[r.index for r in rs] for rs in results] == [list(range(size_before + a, size_before + b)) for a, b in ((0, 3), (3, 4), (4, 9))]
    # every block re-derives on its own, chained to the one before it, as a replica and the audit replay them
    blocks = store.blocks(heights_before, heights_before + 3)
    assert [b.count for b in blocks] == [3, 1, 5]
    result = audit(store, net.genesis)  # raises at the first block that does not re-derive
    assert (result.entries, result.blocks) == (store.size(), store.block_count())


def test_a_group_of_only_refused_or_duplicate_entries_makes_no_block(net):
    first = anchors(net, 2, 0)
    net.log.append(first)
    height = net.log.store.block_count()
    forged = anchors(net, 1, 10, inst="ipk-1")  # ipk-1 signs for itself...
    forged = [e.__class__(Statement(NETWORK, "credential.anchor", "olymp-1", e.statement.body), e.auth) for e in forged]  # ...but claims olymp-1
    results, _ = net.log.append_blocks([first, forged, anchors(net, 1, 2)])
    assert all(r.duplicate for r in results[0])
    assert isinstance(results[1][0], Rejection) and isinstance(results[1][0].error, AuthorizationError)
    assert isinstance(results[2][0], Receipt) and not results[2][0].duplicate
    assert net.log.store.block_count() == height + 1


def test_a_failed_group_commit_stores_nothing_and_the_caches_follow_storage(net):
    store = net.log.store
    size, root, blocks = net.log.size, net.log.tree.root(), store.block_count()
    store.inject_fault("append_block", FAIL_NOT_PERSISTED)
    with pytest.raises(StorageError):
        net.log.append_blocks([anchors(net, 3, 0), anchors(net, 2, 3)])
    assert (net.log.size, net.log.tree.root(), store.block_count(), store.size()) == (size, root, blocks, size)
    results, new_size = net.log.append_blocks([anchors(net, 3, 0), anchors(net, 2, 3)])  # the retry goes through
    assert new_size == size + 5 and [r.index for r in results[1]] == [size + 3, size + 4]


def test_the_sequencer_groups_a_backlog_and_acknowledges_each_submitter_with_its_own_receipts(net):
    calls: list[list[int]] = []
    original = net.log.prepare_blocks  # the groups the sequencer commits together

    def recording(groups):
        calls.append([len(g) for g in groups])
        return original(groups)

    net.log.prepare_blocks = recording  # type: ignore[method-assign]

    submissions = [anchors(net, 2, 2 * k) for k in range(8)]  # 16 entries: 4 blocks of 4
    results = run_backlog(net, submissions, batch_max=4, batch_ms=50, group_max=3)
    assert calls == [[4, 4, 4], [4]]  # three blocks in the first transaction, the rest in the next
    for entries, receipts in zip(submissions, results):
        assert [net.log.store.entry(r.index) for r in receipts] == [e.to_bytes() for e in entries]
    checkpoint_sizes = [s for s in range(net.log.size + 1) if net.log.store.checkpoint(s)]
    assert net.log.size in checkpoint_sizes


def test_under_light_load_every_block_is_its_own_commit(net):
    calls: list[int] = []
    original = net.log.prepare_blocks
    net.log.prepare_blocks = lambda groups: (calls.append(len(groups)), original(groups))[1]  # type: ignore[method-assign]

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=16)
        await seq.start()
        for k in range(3):
            await seq.submit(anchors(net, 2, 2 * k))
        await seq.stop()

    asyncio.run(scenario())
    assert calls == [1, 1, 1]


def test_group_max_must_be_positive(net):
    with pytest.raises(ValueError):
        Sequencer(net.log, group_max=0)


def test_a_storage_failure_under_the_sequencer_fails_only_its_submitters_and_the_next_commit_goes_through(net):
    """The sequencer prepares in its event loop and stores in a worker thread: a failed store
    must reach exactly the submitters of that transaction, leave storage and caches as they
    were, and not stop the queue."""
    store = net.log.store
    size, root = net.log.size, net.log.tree.root()

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=16)
        await seq.start()
        store.inject_fault("append_block", FAIL_NOT_PERSISTED)
        with pytest.raises(StorageError):
            await seq.submit(anchors(net, 4, 0))
        assert (net.log.size, net.log.tree.root(), store.size()) == (size, root, size)
        assert "0" * 64 not in net.log.registry.anchors  # the registry followed storage back
        retried = await seq.submit(anchors(net, 4, 0))  # the same entries again: appended now
        later = await seq.submit(anchors(net, 4, 4))
        await seq.stop()
        return retried, later

    retried, later = asyncio.run(scenario())
    assert [r.index for r in retried] == list(range(size, size + 4)) and not any(r.duplicate for r in retried)
    assert [r.index for r in later] == list(range(size + 4, size + 8))
    assert store.size() == size + 8 and store.latest_checkpoint()[0] == size + 8
    assert audit(store, net.genesis).entries == size + 8


def test_two_appends_may_be_prepared_and_are_stored_in_order(net):
    """The sequencer prepares the next append while one is stored: the second is built on the
    first's blocks (heights, prev hashes, indices), a third waits, and both store and audit."""
    size = net.log.size
    first = net.log.prepare_blocks([anchors(net, 2, 0)])
    second = net.log.prepare_blocks([anchors(net, 3, 2)])
    with pytest.raises(RuntimeError):
        net.log.prepare_blocks([anchors(net, 2, 5)])
    (b1, _), (b2, _) = first.pending[0], second.pending[0]
    assert (b2.height, b2.first_index, parse_header(b2.header).prev) == (b1.height + 1, size + 2, b1.hash)
    net.log.store_prepared(first)
    results, committed = net.log.finish_prepared(first)
    assert committed == size + 2 and [r.index for r in results[0]] == [size, size + 1]
    net.log.prepare_blocks([anchors(net, 2, 5)])  # one outstanding again: the next may be prepared
    net.log.store_prepared(second)
    results, committed = net.log.finish_prepared(second)
    assert committed == size + 5 and [r.index for r in results[0]] == [size + 2, size + 3, size + 4]
    assert net.log.store.size() == size + 5


def test_when_an_append_fails_to_store_the_one_prepared_after_it_is_void(net):
    store = net.log.store
    size, root = net.log.size, net.log.tree.root()
    first = net.log.prepare_blocks([anchors(net, 2, 0)])
    second = net.log.prepare_blocks([anchors(net, 2, 2)])
    store.inject_fault("append_block", FAIL_NOT_PERSISTED)
    with pytest.raises(StorageError):
        net.log.store_prepared(first)
    net.log.abandon()
    with pytest.raises(StorageError):
        net.log.store_prepared(second)  # built on the failed append's state
    assert (net.log.size, net.log.tree.root(), store.size()) == (size, root, size)
    assert "2".zfill(64) not in net.log.registry.anchors
    again, _ = net.log.append(anchors(net, 2, 2))
    assert [r.index for r in again] == [size, size + 1]
    assert audit(store, net.genesis).entries == size + 2


def test_a_prepare_that_fails_beside_an_outstanding_append_rebuilds_after_it(net):
    size = net.log.size
    first = net.log.prepare_blocks([anchors(net, 2, 0)])
    original = net.log.registry.apply

    def broken(entry, index, now):
        raise MemoryError("simulated")

    net.log.registry.apply = broken  # type: ignore[method-assign]
    with pytest.raises(MemoryError):
        net.log.prepare_blocks([anchors(net, 2, 2)])
    net.log.registry.apply = original  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):  # nothing is built on a half-applied state
        net.log.prepare_blocks([anchors(net, 2, 4)])
    net.log.store_prepared(first)  # the outstanding one is still good
    results, committed = net.log.finish_prepared(first)
    assert committed == size + 2 and [r.index for r in results[0]] == [size, size + 1]
    assert net.log.tree.size == net.log.store.size() == size + 2  # rebuilt from storage
    assert [r.index for r in net.log.append(anchors(net, 2, 2))[0]] == [size + 2, size + 3]


def test_a_checkpoint_is_signed_only_for_a_committed_size(net):
    with pytest.raises(ValueError):
        net.log.sign_checkpoint(net.log.store.size() + 1)


def test_under_a_backlog_every_commit_is_signed_and_the_last_one_is_final(net):
    """Cosignature rounds are coalesced under a backlog, but nothing is left unsigned and
    the log ends final: the last commit, with nothing after it, is cosigned before its
    submitters are acknowledged."""
    signed: list[int] = []
    original = net.log.sign_checkpoint
    net.log.sign_checkpoint = lambda size=None: (signed.append(size), original(size))[1]  # type: ignore[method-assign]

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=2)
        await seq.start()
        results = await asyncio.gather(*(seq.submit(anchors(net, 4, 4 * k)) for k in range(12)))
        await seq.stop()
        return results

    results = asyncio.run(scenario())
    assert all(isinstance(r, Receipt) for rs in results for r in rs)
    sizes = sorted({max(r.index for r in rs) + 1 for rs in results})
    assert all(any(s >= size for s in signed) for size in sizes)  # every acknowledged entry is under a signed size
    assert signed == sorted(signed) and signed[-1] == net.log.size  # in commit order, up to the end
    final = net.log.store.latest_final()
    assert final is not None and final[0] == net.log.size


def test_under_a_backlog_submitters_are_acknowledged_before_the_cosignature_round(net):
    """A commit with the next append already running is acknowledged once it is committed
    and signed; its cosignature round (whose writes would wait for that append) runs after.
    A lone commit is still cosigned before it is acknowledged."""
    import threading

    release = threading.Event()
    rounds: list[int] = []
    original = net.log.collect_cosignatures

    def slow_round():
        rounds.append(net.log.store.latest_checkpoint()[0])
        release.wait(10)  # held until the test has seen the acknowledgement
        return original()

    net.log.collect_cosignatures = slow_round  # type: ignore[method-assign]

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=1)
        first = [anchors(net, 4, 0), anchors(net, 4, 4)]  # two blocks: the second is a backlog behind the first
        tasks = [asyncio.ensure_future(seq.submit(s)) for s in first]
        await asyncio.sleep(0)
        await seq.start()
        done, _ = await asyncio.wait(tasks, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        acknowledged_during_round = bool(done) and bool(rounds) and not release.is_set()
        release.set()
        results = await asyncio.gather(*tasks)
        lone = await seq.submit(anchors(net, 4, 8))
        final_at_ack = net.log.store.latest_final()
        await seq.stop()
        return acknowledged_during_round, results, lone, final_at_ack

    acknowledged_during_round, results, lone, final_at_ack = asyncio.run(scenario())
    assert acknowledged_during_round
    assert all(isinstance(r, Receipt) for rs in results + [lone] for r in rs)
    assert final_at_ack is not None and final_at_ack[0] == lone[-1].index + 1 == net.log.size


def _recording(net, events: list):
    """Wrap the log's prepare and store steps to record their order (stores take a moment)."""
    import time as _time

    prepare, store = net.log.prepare_blocks, net.log.store_prepared

    def prepare_blocks(groups):
        events.append(("prepare", sum(map(len, groups))))
        return prepare(groups)

    def store_prepared(prepared):
        events.append(("store", prepared.size))
        _time.sleep(0.05)
        try:
            return store(prepared)
        finally:
            events.append(("stored", prepared.size))

    net.log.prepare_blocks = prepare_blocks  # type: ignore[method-assign]
    net.log.store_prepared = store_prepared  # type: ignore[method-assign]


def test_under_a_backlog_the_next_group_is_prepared_while_one_is_stored(net):
    events: list = []
    _recording(net, events)
    size = net.log.size

    submissions = [anchors(net, 4, 4 * k) for k in range(6)]  # three whole groups
    results = run_backlog(net, submissions, batch_max=4, batch_ms=5, group_max=2)
    stores = [e for e in events if e[0] != "prepare"]
    ends = [size + 8, size + 16, size + 24]
    assert stores == [(step, end) for end in ends for step in ("store", "stored")]  # one at a time, in order
    prepared_at = [i for i, e in enumerate(events) if e == ("prepare", 8)]
    # Each group after the first is prepared before the one ahead of it is stored.
    assert len(prepared_at) == 3 and all(prepared_at[k + 1] < events.index(("stored", ends[k])) for k in range(2))
    for entries, receipts in zip(submissions, results):
        assert [net.log.store.entry(r.index) for r in receipts] == [e.to_bytes() for e in entries]
    assert audit(net.log.store, net.genesis).entries == size + 24
    assert net.log.store.latest_final()[0] == size + 24


def test_a_failed_store_fails_the_append_prepared_after_it_and_the_queue_goes_on(net):
    events: list = []
    _recording(net, events)
    size = net.log.size
    net.log.store.inject_fault("append_block", FAIL_NOT_PERSISTED)

    results = run_backlog(net, [anchors(net, 4, 4 * k) for k in range(6)], return_exceptions=True, batch_max=4, batch_ms=5, group_max=2)
    assert [type(r).__name__ for r in results] == ["StorageError"] * 4 + ["list"] * 2
    assert [r.index for rs in results[4:] for r in rs] == list(range(size, size + 8))
    assert ("store", size + 16) not in events  # the void append was never given to the database
    assert net.log.store.size() == size + 8 and audit(net.log.store, net.genesis).entries == size + 8


def test_nothing_is_prepared_while_a_failed_append_is_abandoned_and_nothing_is_left_half_done(net):
    """A submission arriving while the log rebuilds after a failed store is neither built on the
    failed state nor left prepared and unstored: it is stored after the rebuild, and its entries
    are in storage, not only in memory."""
    import time as _time

    size = net.log.size
    reload, store = net.log._reload, net.log.store_prepared

    def slow_reload():
        reload()
        _time.sleep(0.3)

    def slow_store(prepared):
        _time.sleep(0.1)
        return store(prepared)

    net.log._reload = slow_reload  # type: ignore[method-assign]
    net.log.store_prepared = slow_store  # type: ignore[method-assign]
    net.log.store.inject_fault("append_block", FAIL_NOT_PERSISTED)

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=1)
        await seq.start()
        failing = asyncio.ensure_future(seq.submit(anchors(net, 4, 0)))
        await asyncio.sleep(0.2)  # its store has failed; the log is rebuilding
        later = await seq.submit(anchors(net, 4, 100))
        again = await seq.submit(anchors(net, 4, 100))
        await seq.stop()
        return await asyncio.gather(failing, return_exceptions=True), later, again

    (failed,), later, again = asyncio.run(scenario())
    assert isinstance(failed, StorageError)
    assert [r.index for r in later] == list(range(size, size + 4)) and not any(r.duplicate for r in later)
    assert all(r.duplicate for r in again)
    assert net.log.store.size() == net.log.size == size + 4 and net.log.can_prepare
    assert audit(net.log.store, net.genesis).entries == size + 4


def test_after_a_failed_prepare_beside_a_store_the_next_submissions_wait_and_go_through(net):
    """A prepare that fails while another append is stored defers the rebuild; submissions meanwhile
    are not taken off the queue to be refused, and are committed once the rebuild is done."""
    import time as _time

    store, prepare = net.log.store_prepared, net.log.prepare_blocks
    calls = []

    def slow_store(prepared):
        _time.sleep(0.3)
        return store(prepared)

    def second_fails(groups):
        calls.append(len(groups))
        if len(calls) != 2:
            return prepare(groups)
        apply = net.log.registry.apply
        net.log.registry.apply = lambda *a: (_ for _ in ()).throw(MemoryError("simulated"))  # type: ignore[method-assign]
        try:
            return prepare(groups)
        finally:
            net.log.registry.apply = apply  # type: ignore[method-assign]

    net.log.store_prepared = slow_store  # type: ignore[method-assign]
    net.log.prepare_blocks = second_fails  # type: ignore[method-assign]

    async def scenario():
        seq = Sequencer(net.log, batch_max=4, batch_ms=5, group_max=1)
        await seq.start()
        a = asyncio.ensure_future(seq.submit(anchors(net, 4, 0)))  # stored slowly
        await asyncio.sleep(0.05)
        b = asyncio.ensure_future(seq.submit(anchors(net, 4, 10)))  # prepared as the next one: fails
        await asyncio.sleep(0.05)
        c = asyncio.ensure_future(seq.submit(anchors(net, 4, 20)))  # must not be refused for it
        results = await asyncio.gather(a, b, c, return_exceptions=True)
        await seq.stop()
        return results

    a, b, c = asyncio.run(scenario())
    assert isinstance(b, MemoryError)
    assert all(isinstance(r, Receipt) for r in a + c)
    assert net.log.store.size() == net.log.size and audit(net.log.store, net.genesis).entries == net.log.size
