"""What a node runs over time: its role (sequencer, follower, standby) and the loops that keep it.

A mixin of :class:`ledger.node.node.Node`: start and stop, the leader lock, sequencing, handover and
takeover, following the sequencer and retrying cosignatures.
"""

from __future__ import annotations

import asyncio
import logging

from ledger.network.leader import SoleWriter
from ledger.node.sequencer import Sequencer

log = logging.getLogger("eduledger.node")


class Roles:
    """The role loops of a :class:`~ledger.node.node.Node` (mixed in; it holds the state)."""

    LEADER_POLL = 0.5
    COSIGN_RETRY = 1.0

    async def start(self) -> None:
        if await asyncio.to_thread(self.leadership.try_acquire):
            await self._become_leader()
        else:
            await asyncio.to_thread(self.log.open, write=False)
            log.warning("standby: another process of this institution holds the writer role")
            self._spawn(self._standby(), "standby")

    def _spawn(self, coro, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _become_leader(self) -> None:
        # Takeover: reload everything the previous leader committed, then sign
        # whatever it committed but did not sign (Log.open's step-3 recovery).
        await asyncio.to_thread(self.log.open)
        self._refresh_cosigners()
        self.is_leader = True
        if self.holds_log_key and self._named_sequencer() and self._handover_completed():
            await self._start_sequencing()
        elif self.sequencer_url or self.holds_log_key:
            self._spawn(self._follow(), "follower")
        if self.holds_log_key:
            self._spawn(self._cosign_retry(), "cosign-retry")
            self._spawn(self._watch_role(), "role")
        if not isinstance(self.leadership, SoleWriter):
            self._spawn(self._watch_leadership(), "leadership")

    # --- the sequencer role follows the registry (governance ``sequencer.handover``) ---
    #
    # Both institutions hold the log key (moving it is the operator's step). The
    # handover entry takes effect in the registry replay on every node at the
    # same index. The outgoing sequencer then stops taking submissions
    # (forwarding them), drains its queue, collects cosignatures until its
    # last checkpoint is final, and follows the new one. The incoming node
    # keeps mirroring the outgoing one until that one reports it no longer
    # sequences and its whole log is final and mirrored here; only then does
    # it start sequencing, so the two never append at once. If the outgoing
    # node cannot be reached, the incoming one waits: the log stalls, it never
    # forks. The completed handover is recorded in the store's meta, so a
    # restart in the middle resumes the wait instead of sequencing early.

    ROLE_POLL = 0.25
    SEQUENCING_SINCE_KEY = "sequencing_since_handover"

    def _handover_completed(self) -> bool:
        handovers = self._handovers()
        if not handovers:
            return True  # the genesis sequencer
        return self.store.get_meta(self.SEQUENCING_SINCE_KEY) == str(handovers[-1][0])

    async def _start_sequencing(self) -> None:
        o = self.options
        self.sequencer = Sequencer(self.log, batch_max=o.batch_max, batch_ms=o.batch_ms, queue_max=o.queue_max, group_max=o.group_max)
        await self.sequencer.start()
        self._sequencing = True
        log.warning("this node sequences the log (%s)", self.sequencing_institution)

    async def _watch_role(self) -> None:
        while True:
            await asyncio.sleep(self.ROLE_POLL)
            try:
                if self._sequencing and not self._named_sequencer():
                    await self._hand_over()
                elif not self._sequencing and self._named_sequencer() and await asyncio.to_thread(self._ready_to_take_over):
                    handovers = self._handovers()
                    if handovers:
                        self.store.set_meta(self.SEQUENCING_SINCE_KEY, str(handovers[-1][0]))
                    await self._stop_following()
                    await self._start_sequencing()
            except Exception as e:  # keep watching; the peer may be restarting
                log.warning("sequencer role: %s", e)

    async def _hand_over(self) -> None:
        log.warning("the registry hands the sequencer role to %s; draining and following it", self.sequencing_institution)
        self._handing_over = True  # new submissions are forwarded from now on
        try:
            await self.sequencer.stop()  # what was queued is committed, signed and acknowledged
        finally:
            # Only now does the status say "not the sequencer": the incoming node
            # waits for that, so it never appends while this one still drains.
            self._sequencing = False
            self._handing_over = False
        self._spawn(self._follow(), "follower")

    def _ready_to_take_over(self) -> bool:
        """The outgoing sequencer's writer process has applied the handover and stopped
        sequencing, and its whole log is final and mirrored here.

        Asked of its leader process only: a standby of that institution (behind the
        same URL, on PostgreSQL) never sequences, so its "no" would prove nothing."""
        url = self.peers.get(self._previous_sequencer())
        if url is None:
            return False
        import httpx

        try:
            st = httpx.get(url.rstrip("/") + "/api/v1/network/status", timeout=10).json()
        except (httpx.HTTPError, ValueError):
            return False
        return (
            st.get("is_leader") is True
            and st.get("is_sequencer") is False
            and st.get("sequencer") == self.sequencing_institution
            and st.get("final_size") == st.get("size") == self.log.size
        )

    async def _stop_following(self) -> None:
        for task in [t for t in self._tasks if t.get_name() == "follower"]:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
            self._tasks.remove(task)

    def _sync_source(self) -> str | None:
        """Whom the follower mirrors: the sequencer the registry names, or, while the
        role is being handed to this node, the outgoing one (whose log must be finished)."""
        if self._named_sequencer():
            return None if self._sequencing else self.peers.get(self._previous_sequencer())
        return self.sequencer_url

    async def _standby(self) -> None:
        while True:
            await asyncio.sleep(self.LEADER_POLL)
            try:
                await asyncio.to_thread(self.log.refresh)
                if await asyncio.to_thread(self.leadership.try_acquire):
                    await self._become_leader()
                    return
            except Exception as e:  # keep polling; the database may be restarting
                log.warning("standby: %s", e)

    async def _watch_leadership(self) -> None:
        import os

        while True:
            await asyncio.sleep(self.LEADER_POLL)
            if not await asyncio.to_thread(self.leadership.still_held):
                # Another process may be the writer now: stop at once rather than
                # risk a write (the store would refuse it, but do not try).
                log.critical("lost the writer role; exiting so a standby takes over")
                os._exit(75)

    async def _cosign_retry(self) -> None:
        """Ask missing witnesses again for the latest checkpoint until all have cosigned
        (finality resumes when witnesses return; a returning witness catches up).

        A log-key holder that does not sequence (it handed the role over, or is
        waiting for it) asks only until its own latest checkpoint is final: the
        sequencer asks for the checkpoints it signs."""
        while True:
            await asyncio.sleep(self.COSIGN_RETRY)
            try:
                if not self._sequencing:
                    latest, final = self.store.latest_checkpoint(), self.store.latest_final()
                    if latest is None or (final is not None and final[0] >= latest[0]):
                        continue
                if self.log.missing_cosigners():
                    await asyncio.to_thread(self.log.collect_cosignatures)
            except Exception as e:
                log.warning("cosignature retry failed: %s", e)

    async def stop(self) -> None:
        if self.is_sequencer:
            await self.sequencer.stop()
        for task in self._tasks:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await asyncio.to_thread(self.leadership.release)
        self.store.close()

    # --- replica side ---------------------------------------------------------------


    async def _follow(self, interval: float = 0.5) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync_now)
            except Exception as e:  # keep following; the error is logged and shown in status
                log.warning("sync failed: %s", e)
            await asyncio.sleep(interval)

    # --- submissions ----------------------------------------------------------------
