"""Batching of submissions into blocks.

Submissions wait in a bounded queue. The sequencer closes a block when it holds
``batch_max`` entries or ``batch_ms`` milliseconds have passed since the first
waiting entry, prepares it in the event loop (``Log.prepare_blocks``: registry,
tree, headers), stores it in a worker thread (``Log.store_prepared``), then
signs and cosigns the checkpoint for the size it committed, also in worker
threads, so the event loop keeps serving (and parsing the next submissions: the database
half of an append runs without the GIL), and only then resolves the
submitters' futures: an acknowledgement always means "committed and signed".
One append is stored at a time, each signed before the next starts; while one is
stored, a whole waiting group (``group_max`` blocks) is prepared as the next, so
the event loop's part of it overlaps the database's. Under a
backlog (the next append already started), submitters are acknowledged once
their commit is signed, and cosignatures are collected at most every
``COSIGN_EVERY`` seconds while the next append runs (one round covers several
commits, and finality lags by at most that); a lone commit is cosigned before
it is acknowledged. When a full block is queued and no
append is running, ``submit`` starts it at once.

An append stored while the node is under an alert (``halted``: a storage, fork or
sequencer alert, or a re-mirror in progress, recorded while it was being stored) is
never acknowledged: its log key refuses to sign it, and its submitters get HaltedError
(HTTP 503) instead of a receipt. The checks, and what a crash at each step leaves:

1. preparing: refused outright while the alert is set (``Roles._RefusingLog``); nothing
   written, the submitter gets 503 and may resubmit.
2. stored, not signed: the entries are committed; the signer refuses while the alert is
   set, and the submitters get HaltedError. A crash leaves committed, unsigned entries:
   ``Log.open`` signs them on restart only if no alert is kept by then; a re-mirror that
   proves the witnesses' tree instead finds them in the way and does not store it.
3. signed, before acknowledging (after the cosignature round): asked again, since an alert
   raised by that round's witnesses is about this very checkpoint. The submitters of a
   refused one get HaltedError; their entries are committed and signed but contradicted
   by a witness, so they are not promised. A crash leaves the same as no acknowledgement.

A resubmission of the same entries answers with the existing index (``"duplicate": true``)
once the log is sound again, so a refused submitter loses nothing by retrying.

When the queue already holds ``queue_max`` entries, ``submit`` raises
PushbackError at once (HTTP 503 with Retry-After) instead of queueing more.

Group commit: when more than one block's worth is waiting, up to ``group_max``
blocks are closed at once and stored in ONE transaction (``Log.store_prepared``),
so a backlog costs one commit (one fsync) per group instead of one per block.
Every block keeps its own header and size limit; every submitter is still
acknowledged only after the commit that holds its entries; one checkpoint is
signed for the group's final size. Under light load nothing changes: one block,
one commit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import HaltedError, PushbackError
from ledger.model.entries import Entry
from ledger.model.receipts import Receipt, Rejection
from ledger.node.log import Log, Prepared

log = logging.getLogger("eduledger.sequencer")

#: Under a backlog, the longest a committed checkpoint waits for a cosignature round (seconds).
COSIGN_EVERY = 0.5


@dataclass
class _Pending:
    entries: Sequence[Entry]
    future: asyncio.Future[list[Receipt | Rejection]]


class Sequencer:
    def __init__(
        self,
        ledger: Log,
        *,
        batch_max: int = 256,
        batch_ms: int = 250,
        queue_max: int = 100_000,
        group_max: int = 16,
        after_commit: Callable[[int], None] | None = None,
        halted: Callable[[], str | None] | None = None,
    ) -> None:
        if batch_max < 1 or batch_ms < 0 or queue_max < batch_max or group_max < 1:
            raise ValueError("need batch_max >= 1, batch_ms >= 0, queue_max >= batch_max, group_max >= 1")
        self.log = ledger
        self.batch_max = batch_max
        self.batch_ms = batch_ms
        self.queue_max = queue_max
        self.group_max = group_max
        self.after_commit = after_commit
        #: Why an append committed now must not be acknowledged (the node's alert), or None.
        self.halted = halted
        self._queue: deque[_Pending] = deque()
        self._queued_entries = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._last_cosign = 0.0
        # The append in progress (at most one), from preparing until its checkpoint is
        # signed: its submissions, the prepared blocks and the future that stores them.
        self._commit: tuple[list[list[_Pending]], Prepared, asyncio.Future[None]] | None = None
        # The next append, prepared while that one is stored (a full group was waiting).
        self._next: tuple[list[list[_Pending]], Prepared] | None = None

    @property
    def queued(self) -> int:
        return self._queued_entries

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sequencer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task

    async def submit(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        """Queue entries (already signature-checked) and wait until they are committed."""
        if not entries:
            return []
        if self._stopping:
            raise PushbackError("node is shutting down", retry_after=5)
        if self._queued_entries + len(entries) > self.queue_max:
            raise PushbackError(
                f"sequencing queue is full ({self._queued_entries} entries waiting)",
                retry_after=max(1, self.batch_ms // 1000 + 1),
            )
        fut: asyncio.Future[list[Receipt | Rejection]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(entries, fut))
        self._queued_entries += len(entries)
        if self._task is not None and self._commit is None and self._queued_entries >= self.batch_max:
            # A full block and no commit running: start it now, from here. Waiting for the
            # sequencer task would wait behind every request the event loop has ready, and
            # the commit (its database half runs without the GIL) would not overlap with
            # their parsing.
            self._start_commit()
        else:
            self._prepare_next()
        self._wakeup.set()
        return await fut

    def _take_groups(self) -> list[list[_Pending]]:
        """Blocks of whole submissions up to batch_max entries each (a larger single
        submission forms a block of its own), as many as are waiting, up to group_max."""
        groups: list[list[_Pending]] = []
        count = 0
        while self._queue and len(groups) < self.group_max:
            block: list[_Pending] = []
            n = 0
            while self._queue and (not block or n + len(self._queue[0].entries) <= self.batch_max):
                p = self._queue.popleft()
                block.append(p)
                n += len(p.entries)
            groups.append(block)
            count += n
        self._queued_entries -= count
        return groups

    def _start_commit(self) -> None:
        """Store the next prepared append, or prepare the waiting blocks now, in a worker thread,
        where the database does its part without the GIL while this loop parses the next
        submissions (and prepares the append after this one)."""
        if self._next is not None:
            (groups, prepared), self._next = self._next, None
        else:
            taken = self._prepare()
            if taken is None:
                return
            groups, prepared = taken
        stored = asyncio.get_running_loop().run_in_executor(None, self.log.store_prepared, prepared)
        self._commit = (groups, prepared, stored)

    def _prepare_next(self) -> None:
        """While an append is stored and a whole group waits, prepare it as the next append, so
        that its Python work (registry checks, leaf hashes, tree, headers) overlaps the storing
        instead of following it. A smaller backlog waits: it grows into a larger group."""
        if (
            self._commit is not None
            and not self._commit[2].done()  # stored or failed: what follows (sign, or abandon) must not race a prepare
            and self._next is None
            and self._queued_entries >= self.group_max * self.batch_max
            and self.log.can_prepare
        ):
            taken = self._prepare()
            if taken is not None:
                self._next = taken

    def _prepare(self) -> tuple[list[list[_Pending]], Prepared] | None:
        """The waiting blocks, prepared here in the event loop (``Log.prepare_blocks``)."""
        groups = self._take_groups()
        blocks = [[e for p in g for e in p.entries] for g in groups]
        try:
            return groups, self.log.prepare_blocks(blocks)
        except Exception as e:  # the log rebuilds its state from storage; nothing was written
            self._fail(groups, e)
            return None

    @staticmethod
    def _fail(groups: list[list[_Pending]], error: BaseException) -> None:
        for g in groups:
            for p in g:
                if not p.future.done():
                    p.future.set_exception(error)

    async def _run(self) -> None:
        while True:
            if self._commit is None and self._next is not None:
                self._start_commit()
            if self._commit is None:
                if not self._queue:
                    if self._stopping:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                deadline = time.monotonic() + self.batch_ms / 1000
                while self._commit is None and self._queued_entries < self.batch_max and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    except TimeoutError:
                        break
                if self._commit is None:
                    if not self._queue:
                        continue
                    self._start_commit()
                    self._prepare_next()
            if self._commit is None:
                continue  # preparing failed; its submitters have the error
            groups, prepared, stored = self._commit
            try:
                await stored
            except Exception as e:  # storage failure: every submitter in the group learns it
                await asyncio.get_running_loop().run_in_executor(None, self.log.abandon)
                self._commit = None
                self._fail(groups, e)
                if self._next is not None and self._next[1].generation != self.log.state[0]:
                    self._fail(self._next[0], e)  # prepared on top of the failed append: void with it
                    self._next = None
                continue
            results, size = self.log.finish_prepared(prepared)
            # Sign the committed size before the next append starts: on SQLite the
            # signature's small write would otherwise wait for that whole transaction
            # (one writer at a time). Then start the next append, and cosign while it
            # runs only if the last round is COSIGN_EVERY old: a later checkpoint, which
            # extends this one, will be cosigned, so under a backlog one round covers
            # several commits (as one transaction covers several blocks) and finality
            # lags by at most that. Alone, a commit is cosigned before it is acknowledged.
            # If the next append fails, the node's cosigning retry loop asks the
            # witnesses for this checkpoint.
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self._sign, size)
            except Exception:  # entries are committed; a later block or restart signs them
                log.exception("checkpoint signing failed after commit")
            self._commit = None  # until here, submit does not start the next append
            if self._next is not None or self._queued_entries >= self.batch_max or (self._stopping and self._queue):
                self._start_commit()
                self._prepare_next()
            backlog = self._commit is not None
            if backlog:
                # Committed and signed: acknowledge now. The cosignatures' writes would wait
                # for the transaction just started (on SQLite one writer at a time), and
                # these submitters, with room freed for the next, with them.
                self._finish(groups, results, size)
            if not backlog or time.monotonic() - self._last_cosign >= COSIGN_EVERY:
                self._last_cosign = time.monotonic()
                try:
                    await loop.run_in_executor(None, self.log.collect_cosignatures)
                except Exception:  # the retry loop asks again
                    log.exception("collecting cosignatures failed after commit")
            if not backlog:
                self._finish(groups, results, size)

    def _finish(self, groups: list[list[_Pending]], results: list[list[Receipt | Rejection]], size: int) -> None:
        # Steps 2 and 3 of the module docstring: an alert set while this append was stored,
        # signed or cosigned means it is not acknowledged (HaltedError, 503), whatever was written.
        reason = self.halted() if self.halted is not None else None
        if reason is not None:
            log.error("not acknowledging entries committed up to size %d: %s", size, reason)
            self._fail(groups, HaltedError(f"the entries were stored but are not acknowledged: this sequencer stopped because {reason}"))
            return
        if self.after_commit is not None:
            self.after_commit(size)
        self._acknowledge(groups, results)

    @staticmethod
    def _acknowledge(groups: list[list[_Pending]], results: list[list[Receipt | Rejection]]) -> None:
        for g, block_results in zip(groups, results):
            pos = 0
            for p in g:
                n = len(p.entries)
                if not p.future.done():
                    mine = [Rejection(r.position - pos, r.error) if isinstance(r, Rejection) else r for r in block_results[pos : pos + n]]
                    p.future.set_result(mine)
                pos += n

    def _sign(self, size: int) -> None:
        latest = self.log.store.latest_checkpoint()
        if latest is None or latest[0] < size:
            self.log.sign_checkpoint(size)
