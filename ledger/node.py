"""A running node: storage + log + sequencer + the keys it holds.

The HTTP layer (portfolio_api) and the CLI talk to this object only. It turns
submissions (JSON or statements to sign with a held institution key) into
checked entries, hands them to the sequencer, and answers reads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import datadir
from ledger.entries import Entry, Statement, sign_batch
from ledger.errors import AuthorizationError, MalformedError, PushbackError
from ledger.genesis import Genesis
from ledger.leader import Leadership, SoleWriter, leadership_for
from ledger.log import Log, Receipt, Rejection
from ledger.note import Verifier
from ledger.sequencer import Sequencer
from ledger.splitview import PrefixProof, Seen, check_prefix, plan, seen
from ledger.storage import LedgerStore, open_store
from ledger.submission import parse_submission, results_from_json, to_submission
from ledger.cosigners import Cosigner, LocalCosigner, RemoteCosigner
from ledger.witness import Witness

log = logging.getLogger("eduledger.node")


@dataclass(frozen=True)
class NodeOptions:
    batch_max: int = 256
    batch_ms: int = 250
    queue_max: int = 100_000
    group_max: int = 16


class Node:
    def __init__(
        self,
        store: LedgerStore,
        genesis: Genesis,
        keys: datadir.NodeKeys,
        *,
        options: NodeOptions = NodeOptions(),
        peers: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        leadership: Leadership | None = None,
    ) -> None:
        self.store = store
        self.leadership: Leadership = leadership or SoleWriter()
        self.is_leader = False
        self._tasks: list[asyncio.Task[None]] = []
        self._storage_cursor = 0
        # Split-view detection: pairs already proved consistent, and why others are not yet.
        self._proved_consistent: set[tuple[int, bytes, int, bytes]] = set()
        self.split_view_pending: list[str] = []
        self._http_peers: dict[str, Any] = {}
        self._halted: str | None = None
        self.genesis = genesis
        self.keys = keys
        self.clock = clock
        log_verifier = Verifier.from_vkey(genesis.log_vkey)
        witness_verifiers = [Verifier.from_vkey(f.witness_vkey) for f in genesis.founders]
        # Witness keys held here: each checks consistency against its own stored state.
        self.witnesses = {
            inst: Witness(
                datadir.witness_name(genesis.network, inst), signer, {genesis.network: log_verifier}, store, clock, stopped=self._witness_stopped
            )
            for inst, signer in sorted(keys.witness.items())
        }
        self.peers = dict(peers or {})
        cosigners = self._cosigners({f.id: f.witness_vkey for f in genesis.founders})
        self.log = Log(
            store,
            genesis,
            log_signer=keys.log,
            cosigners=cosigners if keys.log is not None else [],
            witness_verifiers=witness_verifiers,
            clock=clock,
        )
        self.options = options
        self.sequencer = Sequencer(
            self.log, batch_max=options.batch_max, batch_ms=options.batch_ms, queue_max=options.queue_max, group_max=options.group_max
        )
        self._sequencing = False
        self._handing_over = False

    def _cosigners(self, witness_vkeys: dict[str, str]) -> list[Cosigner]:
        """Local witness keys, then a remote witness for every other institution in peers.json."""
        cosigners: list[Cosigner] = [LocalCosigner(w, self.genesis.network) for w in self.witnesses.values()]
        for inst, url in sorted(self.peers.items()):
            if inst not in self.witnesses and inst in witness_vkeys:
                cosigners.append(RemoteCosigner(Verifier.from_vkey(witness_vkeys[inst]), url))
        return cosigners

    def _refresh_cosigners(self) -> None:
        """After replay: ask the witnesses of the institutions governance made active
        (added, or with rotated witness keys), not only the founders."""
        if self.holds_log_key:
            self.log.cosigners = self._cosigners(self.log.registry.members())

    @classmethod
    def from_data_dir(
        cls, data_dir: Path, database_url: str, passphrase: bytes, *, options: NodeOptions = NodeOptions(), clock: Callable[[], float] = time.time
    ) -> "Node":
        genesis = datadir.load_genesis(data_dir)
        keys = datadir.load_keys(data_dir, passphrase)
        return cls(
            open_store(database_url),
            genesis,
            keys,
            options=options,
            peers=datadir.load_peers(data_dir),
            clock=clock,
            leadership=leadership_for(database_url, genesis.network),
        )

    @property
    def network(self) -> str:
        return self.genesis.network

    @property
    def holds_log_key(self) -> bool:
        return self.keys.log is not None

    @property
    def is_sequencer(self) -> bool:
        """This process sequences now: it holds the log key and the writer role
        (ledger.leader), the registry names one of its institutions as the
        sequencer, and any handover to it has completed (see ``_watch_role``)."""
        return self.holds_log_key and self.is_leader and self._sequencing

    @property
    def sequencing_institution(self) -> str:
        """The sequencer the registry names: the genesis one until governance hands the role over."""
        return self.log.registry.sequencer

    @property
    def sequencer_url(self) -> str | None:
        return self.peers.get(self.sequencing_institution)

    def _named_sequencer(self) -> bool:
        """The registry names an institution whose signing key this node holds."""
        return self.sequencing_institution in self.keys.signing

    def _handovers(self) -> list[tuple[int, str]]:
        """Enacted ``sequencer.handover`` proposals as (index, to), in log order."""
        return sorted(
            (p.enacted_index, p.params["to"])
            for p in self.log.registry.governance.proposals.values()
            if p.action == "sequencer.handover" and p.enacted_index is not None
        )

    def _previous_sequencer(self) -> str:
        """The institution that sequenced before the latest handover (its log is the one to finish)."""
        chain = [self.genesis.sequencer] + [to for _, to in self._handovers()]
        return chain[-2] if len(chain) > 1 else chain[0]

    # --- checkpoints served ----------------------------------------------------------

    def final_checkpoint(self) -> bytes:
        """The latest final checkpoint: log-signed and cosigned by the quorum in force,
        with the cosignatures that made it final (what ``/checkpoint`` serves).

        NotFoundError before the first one: a checkpoint without its quorum is
        never handed out as the log's state (the newest signed one, final or
        not, is ``newest_checkpoint``)."""
        from ledger.errors import NotFoundError

        final = self.store.latest_final()
        if final is None:
            raise NotFoundError(
                f"no checkpoint of this log is final yet (it needs {self.log.quorum} member witnesses' cosignatures); "
                "the newest signed one is at /api/v1/ledger/checkpoint/latest"
            )
        return final[1]

    def newest_checkpoint(self) -> bytes:
        """The newest log-signed checkpoint with every cosignature collected for it so far;
        not necessarily final. For monitors and operators; the log's state is
        ``final_checkpoint``."""
        from ledger.checkpoint import add_signatures
        from ledger.errors import NotFoundError
        from ledger.note import parse_signature_line

        latest = self.store.latest_checkpoint()
        if latest is None:
            raise NotFoundError("this node holds no signed checkpoint yet")
        size, note = latest
        final = self.store.latest_final()
        if final is not None and final[0] == size:
            return final[1]
        return add_signatures(note, [parse_signature_line(line) for _, line in self.store.cosignatures(size)])

    # --- roles ----------------------------------------------------------------------
    #
    # Every process starts by asking for the writer role (ledger.leader; always
    # granted on SQLite). The leader opens the log for writing and runs the
    # sequencer (log key held) or the mirroring follower; a standby loads the
    # shared database read-only, refreshes it, and polls for the role.

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

    STORAGE_ALERT_KEY = "storage_alert"
    STORAGE_CHECK_WINDOW = 4096

    def storage_alert(self) -> dict | None:
        import json

        raw = self.store.get_meta(self.STORAGE_ALERT_KEY)
        return json.loads(raw) if raw else None

    def halted_reason(self) -> str | None:
        """Why this node serves no log data and cosigns nothing, or None.

        A storage alert means the stored bytes are not the verified log; a fork
        alert means the log key signed two trees. Both last until an operator
        acts (the alerts are kept in the store's meta), so a positive answer is
        cached; a negative one is asked of the store each time, since another
        process of this institution may have recorded an alert."""
        if self._halted is None:
            storage, fork = self.storage_alert(), self.fork_alert()
            if storage:
                self._halted = f"its stored log failed an integrity check ({storage['reason']})"
            elif fork:
                self._halted = f"it has seen a fork of the log ({fork['reason']})"
        return self._halted

    def check_serving(self) -> None:
        """Raise HaltedError (HTTP 503) while an alert is set: never serve tampered bytes."""
        from ledger.errors import HaltedError

        reason = self.halted_reason()
        if reason is not None:
            raise HaltedError(f"this node stopped serving log data because {reason}; see 'eduledger network status'")

    def sync_now(self) -> int:
        """Mirror the sequencer's log up to its latest final checkpoint, then compare
        checkpoints with every peer (split-view detection) and re-hash one window of
        stored entries (a database edited behind our back). Returns the local size."""
        import json

        from ledger.errors import EduledgerError, InconsistencyError
        from ledger.mirror import HttpPeer, sync
        from ledger.replay import ReplayError

        try:
            self._storage_cursor = self.log.check_storage(self._storage_cursor, self.STORAGE_CHECK_WINDOW)
        except ReplayError as e:
            if not self.store.get_meta(self.STORAGE_ALERT_KEY):
                self.store.set_meta(self.STORAGE_ALERT_KEY, json.dumps({"reason": str(e), "time": int(self.clock())}))
            log.error("STORAGE TAMPERED: %s", e)
            raise
        url = self._sync_source()
        sync_error: Exception | None = None
        if url and not self.is_sequencer:
            try:
                sync(self.log, HttpPeer(url))
            except InconsistencyError as e:
                self.record_fork(str(e), e.old, e.new, e.proof)
                raise
            except EduledgerError as e:  # unreachable or not yet final: still compare with peers
                sync_error = e
        self.check_split_views(self._peer_checkpoints())
        if sync_error is not None:
            raise sync_error
        return self.log.size

    # --- split-view detection (ledger.splitview) ---------------------------------------

    def _http_peer(self, url: str):
        """One HTTP client per peer URL, kept between rounds (keep-alive)."""
        from ledger.mirror import HttpPeer

        peer = self._http_peers.get(url)
        if peer is None:
            peer = self._http_peers[url] = HttpPeer(url, timeout=3)
        return peer

    def _own_checkpoints(self) -> list[Seen]:
        """What this node vouches for: the newest checkpoint of its verified log and
        the last checkpoint each of its witness keys cosigned."""
        out: list[Seen] = []
        final = self.store.latest_final() or self.store.latest_checkpoint()
        if final is not None:
            s = seen(final[1], self.log.log_verifier, self.network, "this node's log")
            if s is not None:
                out.append(s)
        for w in self.witnesses.values():
            state = self.store.witness_state(w.state_key(self.network))
            if state:
                s = seen(state[1], self.log.log_verifier, self.network, f"this node's witness {w.name}")
                if s is not None:
                    out.append(s)
        return out

    def _peer_checkpoints(self) -> list[Seen]:
        """Every peer's final checkpoint and the newest one its witness cosigned.
        Unreachable peers and notes without a valid log signature are skipped."""
        from ledger.errors import EduledgerError

        out: list[Seen] = []
        for inst, peer_url in sorted(self.peers.items()):
            peer = self._http_peer(peer_url)
            for what, fetch in (("final checkpoint", peer.checkpoint), ("cosigned checkpoint", peer.witnessed)):
                try:
                    s = seen(fetch(), self.log.log_verifier, self.network, f"{what} of {inst}")
                except EduledgerError as e:  # unreachable, nothing yet, or not signed by the log key
                    log.debug("peer %s: %s", inst, e)
                    continue
                if s is not None:
                    out.append(s)
        return out

    def check_split_views(self, theirs: Sequence[Seen]) -> None:
        """Check this node's checkpoints and ``theirs`` are all views of one tree.

        Same sizes are compared directly; every other checkpoint is proved a
        prefix of the largest one with a prefix proof from this node's own tree
        or fetched from the sequencer or a peer (ledger.splitview). A proof that
        shows two trees records the fork alert (both notes and the proof as
        evidence) and raises InconsistencyError. A proof that cannot be had, or
        that does not verify (a supplier's bad data, never evidence), leaves the
        pair pending: ``split_view_pending`` says which, and the next round
        tries again."""
        from ledger.errors import InconsistencyError

        try:
            big, smaller = plan([*self._own_checkpoints(), *theirs])
            pending = []
            for small in smaller:
                key = (small.size, small.root, big.size, big.root)
                if key in self._proved_consistent:
                    continue
                problem = self._prove_prefix(small, big)
                if problem is None:
                    if len(self._proved_consistent) > 4096:
                        self._proved_consistent.clear()
                    self._proved_consistent.add(key)
                else:
                    pending.append(problem)
        except InconsistencyError as e:
            self.record_fork(str(e), e.old, e.new, e.proof)
            raise
        self.split_view_pending = pending

    def _prove_prefix(self, small: Seen, big: Seen) -> str | None:
        """Prove ``small`` is a prefix of ``big``: None when proved, else why it could
        not be (retried next round). Raises InconsistencyError on evidence of a fork."""
        from ledger.errors import EduledgerError, InconsistencyError, MalformedError, RootMismatchError

        tree = self.log.tree
        if big.size <= tree.size and tree.root(big.size) == big.root:
            # Our verified tree is the larger checkpoint's tree: no fetch needed.
            check_prefix(small, big, PrefixProof(small.size, big.size, tree.root(small.size), tuple(tree.consistency_proof(small.size, big.size))))
            return None
        problems = []
        urls = [self.sequencer_url] if self.sequencer_url else []
        urls += [u for _, u in sorted(self.peers.items()) if u not in urls]
        for url in urls:
            try:
                check_prefix(small, big, self._http_peer(url).consistency(small.size, big.size))
                return None
            except InconsistencyError:
                raise
            except (RootMismatchError, MalformedError) as e:
                problems.append(f"{url} sent a proof that does not verify against the larger root ({e})")
            except EduledgerError as e:
                problems.append(str(e))
        return f"sizes {small.size} ({small.source}) and {big.size} ({big.source}): no verifiable consistency proof yet: " + "; ".join(problems)

    def witnessed(self) -> bytes | None:
        """The newest checkpoint one of this node's witnesses cosigned (log-signed note), for peers."""
        best: tuple[int, bytes] | None = None
        for w in self.witnesses.values():
            state = self.store.witness_state(w.state_key(self.network))
            if state and (best is None or state[0] > best[0]):
                best = state
        return best[1] if best else None

    async def _follow(self, interval: float = 0.5) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync_now)
            except Exception as e:  # keep following; the error is logged and shown in status
                log.warning("sync failed: %s", e)
            await asyncio.sleep(interval)

    # --- submissions ----------------------------------------------------------------

    def parse_submission(self, payload: Any) -> list[Entry]:
        """Checked entries of a JSON submission, either form (ledger.submission), signatures verified."""
        return parse_submission(payload, self.network)

    async def submit(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        """Sequence checked entries; returns when they are committed.

        On a node that is not the sequencer, the entries are forwarded to it."""
        if self.is_sequencer and not self._handing_over:
            return await self.sequencer.submit(entries)
        if self.holds_log_key and not self.is_leader:
            # A standby of the sequencing institution: the leader writes (ledger.leader).
            raise PushbackError("this process is a standby; the sequencer role is held by another process of this institution", retry_after=1)
        if self._named_sequencer():
            raise PushbackError("the sequencer role is being handed over to this node; it sequences once the outgoing log is final here", retry_after=1)
        return await self.forward(entries)

    async def forward(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        import httpx

        from ledger.errors import FetchError

        url = self.sequencer_url
        if not url:
            raise FetchError("this node is not the sequencer and knows no sequencer URL (peers.json)")
        async with httpx.AsyncClient(timeout=60) as client:
            try:
                r = await client.post(url.rstrip("/") + "/api/v1/ledger/entries", json=to_submission(entries))
            except httpx.HTTPError as e:
                raise FetchError(f"sequencer unreachable: {e}") from None
        if r.status_code == 503:
            raise PushbackError("sequencer is saturated", retry_after=int(r.headers.get("retry-after", "1")))
        if r.status_code != 200:
            detail = r.json().get("detail", r.text) if r.headers.get("content-type", "").startswith("application/json") else r.text
            if r.status_code == 403:
                raise AuthorizationError(detail)
            if 400 <= r.status_code < 500:
                raise MalformedError(detail)
            raise FetchError(f"sequencer answered {r.status_code}: {detail}")
        return results_from_json(r.json()["results"])

    async def submit_statements(self, institution: str, statements: Sequence[Statement]) -> list[Receipt | Rejection]:
        """Sign statements with this node's key for ``institution`` (one batch) and sequence them."""
        signer = self.keys.signing.get(institution)
        if signer is None:
            raise AuthorizationError(f"this node holds no signing key for {institution}")
        return await self.submit(sign_batch(list(statements), signer))

    # --- witness side (C2SP tlog-witness) ----------------------------------------------

    FORK_ALERT_KEY = "fork_alert"

    def fork_alert(self) -> dict | None:
        """Evidence of a split view seen by this node's witnesses, if any."""
        import json

        raw = self.store.get_meta(self.FORK_ALERT_KEY)
        return json.loads(raw) if raw else None

    def record_fork(self, reason: str, old: bytes | str, new: bytes | str, proof: Sequence[bytes] = ()) -> None:
        """Store the first evidence of a fork: both log-signed checkpoints and, for two
        sizes, the proof that connects the larger one to another tree at the smaller size."""
        import json

        from ledger.encoding import b64e

        if self.store.get_meta(self.FORK_ALERT_KEY):
            return  # keep the first evidence
        as_text = lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v  # noqa: E731
        alert = {"reason": reason, "old": as_text(old), "new": as_text(new), "proof": [b64e(h) for h in proof], "time": int(self.clock())}
        self.store.set_meta(self.FORK_ALERT_KEY, json.dumps(alert))
        log.error("FORK DETECTED: %s", reason)

    def _witness_stopped(self) -> str | None:
        fork = self.fork_alert()
        return None if fork is None else f"its node has seen a fork of the log ({fork['reason']}); see 'eduledger network status'"

    def witness_add_checkpoint(self, body: bytes) -> bytes:
        """Handle an add-checkpoint request with every witness key this node holds.

        Returns the cosignature lines. While the storage alert is set the node
        cosigns nothing (HaltedError, 503: it cannot vouch for a log it no longer
        holds intact); after a fork each witness refuses with 409 once the
        request is known to be for this log (ledger.witness, step 4).
        """
        from ledger.errors import HaltedError, NotFoundError
        from ledger.witness import AddCheckpoint, SameSizeFork

        if not self.witnesses:
            raise NotFoundError("this node holds no witness key")
        storage = self.storage_alert()
        if storage is not None:
            raise HaltedError(f"this witness stopped cosigning because its node's stored log failed an integrity check ({storage['reason']})")
        req = AddCheckpoint.parse(body)
        lines = []
        for w in self.witnesses.values():
            try:
                sig = w.add_checkpoint(req.old_size, req.proof, req.checkpoint)
            except SameSizeFork as e:
                # Two log-signed checkpoints of one size: evidence of a split view.
                self.record_fork(str(e), e.old, e.new)
                raise
            # A proof that does not verify (InconsistencyError, 422) is refused but
            # is no evidence: anyone can send garbage proofs with an honest checkpoint,
            # and a witness must not be talked into stopping by that.
            lines.append(sig.line())
        return "".join(lines).encode()
