"""What a node runs over time: its role (sequencer, follower, standby) and the loops that keep it.

A mixin of :class:`ledger.node.node.Node`: start and stop, the leader lock, sequencing, handover and
takeover, following the sequencer, the sequencer's own checks and retrying cosignatures.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ledger.errors import HaltedError
from ledger.network.leader import SoleWriter
from ledger.node.sequencer import Sequencer

if TYPE_CHECKING:
    from ledger.errors import PushbackError
    from ledger.node.log import Log, Prepared

log = logging.getLogger("eduledger.node")


class _RefusingSigner:
    """The log key, refusing to sign while the node's sequencing is refused (an alert is set).

    Every log signature goes through it (the sequencer's, ``Log.open``'s recovery, a
    handover's), so no path signs a checkpoint that contradicts what the witnesses hold."""

    def __init__(self, signer: Any, refused: Callable[[], str | None]) -> None:
        self._signer = signer
        self._refused = refused

    @property
    def public_key(self) -> bytes:
        return self._signer.public_key

    def sign(self, message: bytes) -> bytes:
        reason = self._refused()
        if reason is not None:
            raise HaltedError(f"the log key signs nothing: this node stopped sequencing because {reason}")
        return self._signer.sign(message)


class _RefusingLog:
    """The log as the sequencer sees it: ``prepare_blocks`` raises the node's refusal
    (PushbackError: HTTP 503 with Retry-After and the reason) before anything is prepared,
    so submissions queued when an alert arrives are refused too, not appended. Everything
    else is the log's own."""

    def __init__(self, log_: Log, refusal: Callable[[], PushbackError | None]) -> None:
        self._log = log_
        self._refusal = refusal

    def prepare_blocks(self, groups: Any) -> Prepared:
        error = self._refusal()
        if error is not None:
            raise error
        return self._log.prepare_blocks(groups)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


class Roles:
    """The role loops of a :class:`~ledger.node.node.Node` (mixed in; it holds the state)."""

    LEADER_POLL = 0.5
    COSIGN_RETRY = 1.0

    async def start(self) -> None:
        # Before anything else: a log shorter than what this database says it reached
        # (its witnesses' states, checkpoints, cosignatures, final checkpoint) was rolled
        # back; signing or serving from there would fork the log. RollbackError says
        # what was found and to recover from replicas (ledger/node/rollback.py).
        from ledger.node.rollback import check_store

        await asyncio.to_thread(check_store, self.store, self.genesis, holds_log_key=self.holds_log_key, witness_store=self.witness_store)
        await self._witness_catch_up()
        if await asyncio.to_thread(self.leadership.try_acquire):
            await self._become_leader()
        else:
            await asyncio.to_thread(self.log.open, write=False)
            log.warning("standby: another process of this institution holds the writer role")
            self._spawn(self._standby(), "standby")

    def _spawn(self, coro, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def _witness_catch_up(self) -> None:
        """Before this node's witnesses cosign anything: move each to the newest checkpoint its
        own key cosigned that this node's log or a peer holds (a witness directory restored from
        an older copy), answering add-checkpoint 503 meanwhile (ledger/network/witness_catchup.py)."""
        from ledger.errors import NotFoundError
        from ledger.network.witness_catchup import apply, catch_up

        witnesses = list(self.witnesses.values())
        if not witnesses:
            return
        local = []
        for read in (self.final_checkpoint, self.newest_checkpoint):
            try:
                local.append(read())
            except NotFoundError:
                pass
        await asyncio.to_thread(apply, witnesses, self.network, local)
        urls = [url for inst, url in sorted(self.peers.items()) if inst not in self.witnesses]
        if not urls:
            return
        for w in witnesses:
            w.not_ready = "it is asking its peers for the newest checkpoint it cosigned before it cosigns again (a few seconds after a start)"
        self._spawn(catch_up(witnesses, self.network, urls, wait=self.options.witness_catchup_wait), "witness-catch-up")

    async def _become_leader(self) -> None:
        # Takeover: reload everything the previous leader committed, then sign
        # whatever it committed but did not sign (Log.open's step-3 recovery).
        if self.holds_log_key:
            # Before the log key signs anything: an alert kept from an earlier run keeps
            # it from signing, and a witness's answer is acted on from the first round.
            self._refresh_refusal()
            if not isinstance(self.log.log_signer, _RefusingSigner):
                self.log.log_signer = _RefusingSigner(self.log.log_signer, lambda: self._sequencer_refusal)
            self.log.on_witness_objection(self._witness_objected)
        try:
            await asyncio.to_thread(self.log.open)
        except HaltedError as e:
            # Log.open loaded the log, then the refusing key declined to sign the entries
            # committed but not signed: the node runs to show its alert, and signs nothing.
            log.error("not signing the committed entries: %s", e)
        self._refresh_cosigners()
        if self.holds_log_key:
            self._review_sequencer_alert()
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

    def signs_the_log(self) -> bool:
        """This node is the log's signer, or is about to be: it holds the log key, the registry
        names its institution and any handover to it has completed. A log-signed checkpoint its
        log did not sign is then a fork (``Integrity._check_against_own_log``); a key holder that
        does not sign now (handing over, taking over) follows and may legitimately be behind."""
        return self.holds_log_key and self._named_sequencer() and self._handover_completed()

    #: The start-up round waits this long for the witnesses before sequencing starts anyway
    #: (an outage of the witnesses must not stop the network); writes get 503 until then.
    STARTUP_WITNESS_WAIT = 5.0
    #: How long starting waits for that round itself: the usual round takes milliseconds, and
    #: the node then serves with sequencing open; a slower one goes on in the background.
    STARTUP_INLINE_WAIT = 1.0
    SELF_CHECK_EVERY = 0.5

    async def _start_sequencing(self) -> None:
        """Start the sequencer behind the node's refusal, then ask the witnesses which size they
        have cosigned before any append (``_first_witness_round``), and run the follower's
        checks on the sequencer too (``_self_check``)."""
        o = self.options
        self._awaiting_witnesses = True
        self.sequencer = Sequencer(
            _RefusingLog(self.log, self.sequencing_pushback),  # type: ignore[arg-type]
            batch_max=o.batch_max, batch_ms=o.batch_ms, queue_max=o.queue_max, group_max=o.group_max,
            halted=lambda: self._sequencer_refusal,  # an alert raised while an append was stored: no acknowledgement
        )
        await self.sequencer.start()
        self._sequencing = True
        first_round = asyncio.create_task(self._first_witness_round(), name="witness-round")
        self._tasks.append(first_round)
        if not any(t.get_name() == "self-check" and not t.done() for t in self._tasks):
            self._spawn(self._self_check(), "self-check")
        await asyncio.wait({first_round}, timeout=self.STARTUP_INLINE_WAIT)
        log.warning("this node sequences the log (%s)", self.sequencing_institution)

    async def _first_witness_round(self) -> None:
        """Before the first append of a start, restart or takeover: every witness is asked which
        size it has cosigned (``Log.ask_witnesses``). One beyond this log's latest checkpoint
        stops sequencing (``Integrity._witness_objected``): a database restored from an older
        backup would otherwise append at indices that hold final entries. Writes are refused
        (503) until the round is over or STARTUP_WITNESS_WAIT has passed, whichever is first;
        then sequencing starts, answered or not."""
        try:
            await asyncio.wait_for(asyncio.to_thread(self.log.ask_witnesses), self.STARTUP_WITNESS_WAIT)
        except TimeoutError:
            log.warning("the witnesses did not answer within %.0f s; sequencing starts without their sizes", self.STARTUP_WITNESS_WAIT)
        except Exception as e:  # an unreachable witness is no reason to stop the network
            log.warning("the start-up round with the witnesses failed: %s; sequencing starts", e)
        finally:
            self._awaiting_witnesses = False

    async def _self_check(self) -> None:
        """The follower's storage and split-view checks on the sequencer, which mirrors nobody
        (``Integrity.check_now``); idle while this node does not sequence (it follows then)."""
        while True:
            await asyncio.sleep(self.SELF_CHECK_EVERY)
            if not self._sequencing:
                continue
            try:
                await asyncio.to_thread(self.check_now)
            except Exception as e:  # keep checking; an alert is recorded and shown in status
                log.warning("sequencer self-check: %s", e)

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
        if self._witness_dir is not None:
            self._witness_dir.close()  # the witness directory's lock, for the next process
            self._witness_dir = None

    # --- replica side ---------------------------------------------------------------


    #: After this node's witness cosigned a checkpoint the node does not hold as final yet, the follower
    #: looks again this soon (the quorum is usually complete within milliseconds), at most FAST_ROUNDS times.
    FAST_FOLLOW = 0.05
    FAST_ROUNDS = 10

    async def _follow(self, interval: float = 0.5) -> None:
        """Mirror the sequencer: every ``interval``, and at once when this node's witness has just cosigned
        a new checkpoint (``Integrity.witness_add_checkpoint`` wakes it): the sequencer asks its witnesses
        first and the replicas learn of the entries only now, so waiting for the next poll was most of a
        replica's time to finality. Then, while the cosigned checkpoint is not final here yet, every
        FAST_FOLLOW seconds, a bounded number of times (a quorum that never forms costs little)."""
        self._sync_wanted = wanted = asyncio.Event()
        loop = self._follow_loop = asyncio.get_running_loop()
        fast, last_checks = 0, float("-inf")
        while True:
            wanted.clear()
            # The checks (storage window, split views) keep their 0.5 s cadence; the quick rounds only mirror.
            checks = loop.time() - last_checks >= interval
            if checks:
                last_checks = loop.time()
            try:
                await asyncio.to_thread(functools.partial(self.sync_now, checks=checks))
            except Exception as e:  # keep following; the error is logged and shown in status
                log.warning("sync failed: %s", e)
            fast = fast + 1 if self._cosigned_ahead() and fast < self.FAST_ROUNDS else 0
            try:
                await asyncio.wait_for(wanted.wait(), self.FAST_FOLLOW if fast else interval)
            except TimeoutError:
                pass

    def _cosigned_ahead(self) -> bool:
        """This node's witness has cosigned a checkpoint of this log larger than the node's final size."""
        origin = self.genesis.network
        return any(w.current_size(origin) > self.final_size for w in self.witnesses.values())

    # --- submissions ----------------------------------------------------------------
