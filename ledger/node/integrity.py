"""What keeps a node honest: storage checks, split-view (fork) detection, the fork alert, the
sequencer's own checks and the witness endpoint.

A mixin of :class:`ledger.node.node.Node`. A proven inconsistency halts serving and cosigning, with both
signed notes and the proof kept as evidence. Every node runs the storage and split-view checks, the
sequencer included (``check_now``; a follower's ``sync_now`` mirrors first). On the node that signs the
log, a log-signed checkpoint its log did not sign is a fork at once, and a witness that says it has
cosigned beyond the log, or refuses as a fork, stops sequencing (``sequencing_refused``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ledger.network.splitview import PrefixProof, Seen, check_prefix, plan, seen
from ledger.storage.base import FORK_ALERT_KEY, SEQUENCER_ALERT_KEY, STORAGE_ALERT_KEY

if TYPE_CHECKING:
    from ledger.errors import PushbackError
    from ledger.network.cosigners import WitnessObjection

log = logging.getLogger("eduledger.node")

#: What the operator runs when the sequencer's log lacks entries its key signed (docs/network.md).
RECOVER_HINT = "recover the missing entries from a replica with 'eduledger ledger recover --from URL'"


class Integrity:
    """The integrity checks of a :class:`~ledger.node.node.Node` (mixed in; it holds the state)."""

    STORAGE_ALERT_KEY = STORAGE_ALERT_KEY
    STORAGE_CHECK_WINDOW = 4096
    #: Check rounds begun since the node started (``sync_now`` or ``check_now``): the unit the
    #: detection bounds of docs/network.md's threat model are stated in.
    rounds: int = 0

    def storage_alert(self) -> dict | None:
        import json

        raw = self.store.get_meta(self.STORAGE_ALERT_KEY)
        return json.loads(raw) if raw else None

    #: A negative ``halted_reason`` is asked of the store again after this many seconds (an
    #: alert recorded by another process of this institution); one recorded here is seen at once.
    HALTED_RECHECK = 0.5
    _halted_checked_at: float = float("-inf")

    def halted_reason(self) -> str | None:
        """Why this node serves no log data and cosigns nothing, or None.

        A storage alert means the stored bytes are not the verified log; a fork
        alert means the log key signed two trees. Both last until an operator
        acts (the alerts are kept in the store's meta), so a positive answer is
        cached; a negative one is asked of the store again after HALTED_RECHECK
        seconds, since another process of this institution may have recorded an
        alert (one recorded by this process resets it: ``_refresh_refusal``). So
        it is cheap enough for the event loop (``POST /api/v1/verify``)."""
        import time

        if self._halted is None and time.monotonic() - self._halted_checked_at >= self.HALTED_RECHECK:
            storage, fork = self.storage_alert(), self.fork_alert()
            if storage:
                self._halted = f"its stored log failed an integrity check ({storage['reason']})"
            elif fork:
                self._halted = f"it has seen a fork of the log ({fork['reason']})"
            self._halted_checked_at = time.monotonic()
        return self._halted

    def check_serving(self) -> None:
        """Raise HaltedError (HTTP 503) while an alert is set: never serve tampered bytes."""
        from ledger.errors import HaltedError

        reason = self.halted_reason()
        if reason is not None:
            raise HaltedError(f"this node stopped serving log data because {reason}; see 'eduledger network status'")

    def sync_now(self, *, checks: bool = True) -> int:
        """Mirror the sequencer's log up to its latest final checkpoint, then compare
        checkpoints with every peer (split-view detection) and re-hash one window of
        stored entries (a database edited behind our back). Returns the local size.

        ``checks=False``: mirror only (the follower's quick rounds after a cosignature,
        ``Roles._follow``); the checks keep their own cadence and ``rounds`` counts only
        rounds that ran them, the unit of the detection bounds in docs/network.md."""
        from ledger.errors import EduledgerError, InconsistencyError
        from ledger.network.mirror import sync

        if checks:
            self.rounds += 1
            self._check_storage_window()
        url = self._sync_source()
        sync_error: Exception | None = None
        if url and not self.is_sequencer:
            try:
                # The peer's client is kept between rounds (one connection pool per peer, keep-alive),
                # the same one the split-view checks use.
                sync(self.log, self._http_peer(url))
            except InconsistencyError as e:
                self.record_fork(str(e), e.old, e.new, e.proof)
                raise
            except EduledgerError as e:  # unreachable or not yet final: still compare with peers
                sync_error = e
        if checks:
            self.check_split_views(self._peer_checkpoints())
        if sync_error is not None:
            raise sync_error
        return self.log.size

    def check_now(self) -> int:
        """The follower's checks without the mirroring: what the sequencer runs each round
        (``Roles._self_check``). Re-hash one window of stored entries, compare checkpoints
        with every peer (on the log's signer with its own rule too, see
        ``check_split_views``), and clear a sequencer alert whose cause is gone. Returns
        the local size."""
        self.rounds += 1
        self._check_storage_window()
        self.check_split_views(self._peer_checkpoints())
        self._review_sequencer_alert()
        return self.log.size

    def _check_storage_window(self) -> None:
        """Re-hash the next window of stored entries against the verified tree; record the
        storage alert (and raise ReplayError) on a mismatch.

        Committed entries only: on the sequencer the tree already holds the append being
        stored. A window read while the log rebuilt its state from storage (``Log.abandon``
        loads a new tree) proves nothing and is read again next round."""
        import json

        from ledger.model.replay import ReplayError

        committed = self.store.size()
        if committed == 0:
            return
        start = self._storage_cursor if self._storage_cursor < committed else 0
        tree = self.log.tree
        try:
            self._storage_cursor = self.log.check_storage(start, min(self.STORAGE_CHECK_WINDOW, committed - start))
        except ReplayError as e:
            if self.log.tree is not tree:
                return
            if not self.store.get_meta(self.STORAGE_ALERT_KEY):
                self.store.set_meta(self.STORAGE_ALERT_KEY, json.dumps({"reason": str(e), "time": int(self.clock())}))
            self._refresh_refusal()
            log.error("STORAGE TAMPERED: %s", e)
            raise

    # --- split-view detection (ledger.network.splitview) ---------------------------------------

    def _http_peer(self, url: str):
        """One HTTP client per peer URL, kept between rounds (keep-alive)."""
        import httpx

        from ledger.network.mirror import HttpPeer

        peer = self._http_peers.get(url)
        if peer is None:
            # 3 s to connect (an unreachable peer must not hold a round up), 10 s to read a tile.
            peer = self._http_peers[url] = HttpPeer(url, timeout=httpx.Timeout(10, connect=3))  # type: ignore[arg-type]
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
            state = w.state(self.network)
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
        or fetched from the sequencer or a peer (ledger.network.splitview). A proof that
        shows two trees records the fork alert (both notes and the proof as
        evidence) and raises InconsistencyError. A proof that cannot be had, or
        that does not verify (a supplier's bad data, never evidence), leaves the
        pair pending: ``split_view_pending`` says which, and the next round
        tries again.

        On the node that signs the log (``signs_the_log``) every checkpoint is first held
        against its own log (``_check_against_own_log``): one it did not sign is a fork at
        once, pending nothing."""
        from ledger.errors import InconsistencyError

        try:
            if self.signs_the_log():
                self._check_against_own_log([*self._own_checkpoints(), *theirs])
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

    def _check_against_own_log(self, views: Sequence[Seen], *, remirror: bool = True) -> None:
        """The signer's rule: every log-signed checkpoint must be one this node's log signed.

        ``remirror``: a checkpoint beyond the log is first taken as entries this node lost
        (``_remirror``: proven from a replica, they are stored and the check goes on); only
        what cannot be proved that way is the fork below.

        Only this node signs the log, so a log-signed checkpoint larger than its committed
        log was signed by another holder of the log key (or by this node before it lost
        those entries: a database restored from an older backup); one of the size of its
        latest checkpoint with another root, or a smaller one that its own tree's prefix
        proof shows to be another tree, likewise. Either is a fork at once, with both notes
        (and the proof) as evidence: no proof is needed beyond the signatures. Raises
        InconsistencyError; the caller records it. Sizes between its latest checkpoint and
        its committed size are left to the next round (it signs them in a moment)."""
        from ledger.errors import InconsistencyError

        largest = max((s for s in views), key=lambda s: s.size, default=None)
        if remirror and largest is not None and largest.size > self.store.size():
            self._remirror(largest.size, f"a log-signed checkpoint of size {largest.size} ({largest.source})")
        # Read after the views were fetched: this node's log only grows, so anything it
        # signed before they were fetched is within these.
        committed = self.store.size()
        latest = self.store.latest_checkpoint()
        mine = seen(latest[1], self.log.log_verifier, self.network, "this sequencer's latest checkpoint") if latest else None
        tree = self.log.tree
        for s in views:
            if s.size == 0:
                continue
            if s.size > committed:
                raise InconsistencyError(
                    f"a log-signed checkpoint of size {s.size} ({s.source}) is beyond this sequencer's log of {committed} entries, "
                    "which never signed it: another holder of the log key signed it, or this node lost entries it had signed "
                    f"(a database restored from an older backup); {RECOVER_HINT}",
                    old=mine.note.decode("utf-8", "replace") if mine else "",
                    new=s.note.decode("utf-8", "replace"),
                )
            if mine is None:
                continue
            if s.size == mine.size and s.root != mine.root:
                raise InconsistencyError(
                    f"two log-signed checkpoints of size {s.size} with different roots (this sequencer's latest; {s.source})",
                    old=mine.note.decode("utf-8", "replace"),
                    new=s.note.decode("utf-8", "replace"),
                )
            if s.size < mine.size <= tree.size and tree.root(mine.size) == mine.root:
                # A tree being reloaded (Log.abandon) is shorter than ``mine``: skipped, next round.
                check_prefix(s, mine, PrefixProof(s.size, mine.size, tree.root(s.size), tuple(tree.consistency_proof(s.size, mine.size))))

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
            state = w.state(self.network)
            if state and (best is None or state[0] > best[0]):
                best = state
        return best[1] if best else None


    FORK_ALERT_KEY = FORK_ALERT_KEY

    def fork_alert(self) -> dict | None:
        """Evidence of a split view seen by this node's witnesses, if any."""
        import json

        raw = self.store.get_meta(self.FORK_ALERT_KEY)
        return json.loads(raw) if raw else None

    def record_fork(self, reason: str, old: bytes | str, new: bytes | str, proof: Sequence[bytes] = ()) -> None:
        """Store the first evidence of a fork: both log-signed checkpoints and, for two
        sizes, the proof that connects the larger one to another tree at the smaller size."""
        import json

        from ledger.tlog.encoding import b64e

        if self.store.get_meta(self.FORK_ALERT_KEY):
            return  # keep the first evidence
        as_text = lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v  # noqa: E731
        alert = {"reason": reason, "old": as_text(old), "new": as_text(new), "proof": [b64e(h) for h in proof], "time": int(self.clock())}
        self.store.set_meta(self.FORK_ALERT_KEY, json.dumps(alert))
        self._refresh_refusal()
        log.error("FORK DETECTED: %s", reason)

    # --- the sequencer's own checks ------------------------------------------------------
    #
    # A sequencer takes no new appends and its log key signs nothing while
    # ``sequencing_refused`` gives a reason: a storage or fork alert, a sequencer alert
    # (a witness said it has cosigned beyond this log, or refused as a fork), or, after
    # a start, restart or takeover, its first round with the witnesses not yet answered
    # (bounded by ``Roles.STARTUP_WITNESS_WAIT``). The alerts are kept in the store's
    # meta and the reason in memory (``_refresh_refusal``): the sequencer asks before
    # every append.

    SEQUENCER_ALERT_KEY = SEQUENCER_ALERT_KEY
    # Instance state (set on the instance once used; Node.__init__ does not know of it).
    _sequencer_refusal: str | None = None
    _awaiting_witnesses: bool = False
    _remirroring: str | None = None

    def sequencer_alert(self) -> dict | None:
        """A witness's answer that stopped this sequencer (reason, witness, kind, the checkpoint
        it was shown and its answer as received), if any."""
        import json

        raw = self.store.get_meta(self.SEQUENCER_ALERT_KEY)
        return json.loads(raw) if raw else None

    def sequencing_refused(self) -> str | None:
        """Why this node, as sequencer, takes no new appends now, or None. Memory only."""
        if self._sequencer_refusal is not None:
            return self._sequencer_refusal
        if self._awaiting_witnesses:
            return "it is asking its witnesses which size they have cosigned before it sequences (a few seconds after a start)"
        return None

    def sequencing_pushback(self) -> PushbackError | None:
        """The error a refused write gets (HTTP 503 with Retry-After and the reason), or None."""
        from ledger.errors import PushbackError

        reason = self.sequencing_refused()
        if reason is None:
            return None
        return PushbackError(f"this sequencer takes no new entries: {reason}", retry_after=30 if self._sequencer_refusal else 1)

    def _refresh_refusal(self) -> None:
        """Re-read the alerts that stop sequencing (a storage or fork alert, a sequencer alert)."""
        self._halted = None  # re-read: a new alert may have been recorded
        self._halted_checked_at = float("-inf")
        halted, alert = self.halted_reason(), self.sequencer_alert()
        if halted is not None:
            self._sequencer_refusal = f"{halted}; see 'eduledger network status'"
        elif alert is not None:
            self._sequencer_refusal = f"a witness contradicts its log ({alert['reason']}); see 'eduledger network status'"
        elif self._remirroring is not None:
            self._sequencer_refusal = self._remirroring
        else:
            self._sequencer_refusal = None

    def _record_sequencer_alert(self, reason: str, objection: WitnessObjection) -> bool:
        """Keep the first witness answer that stopped this sequencer; True if this one was it."""
        import json

        first = not self.store.get_meta(self.SEQUENCER_ALERT_KEY)
        if first:
            alert = {
                "reason": reason,
                "witness": objection.witness,
                "kind": objection.kind,
                "size": objection.size,
                "witness_size": objection.witness_size,
                "checkpoint": objection.note.decode("utf-8", "replace"),
                "answer": objection.answer,
                "url": objection.url,
                "time": int(self.clock()),
            }
            self.store.set_meta(self.SEQUENCER_ALERT_KEY, json.dumps(alert))
            log.error("SEQUENCER STOPPED: %s", reason)
        self._refresh_refusal()
        return first

    def _review_sequencer_alert(self) -> None:
        """Clear the sequencer alert once its cause is gone: the log holds the size the
        witness had cosigned (its entries were recovered from a replica), or the witness
        that refused a checkpoint as a fork has cosigned it since. A fork alert is never
        cleared here."""
        alert = self.sequencer_alert()
        if alert is None:
            return
        if alert["kind"] == "beyond":
            gone = self.store.size() >= alert["witness_size"]
        else:
            gone = alert["witness"] in {name for name, _ in self.store.cosignatures(alert["size"])}
        if gone:
            self.store.set_meta(self.SEQUENCER_ALERT_KEY, "")
            log.warning("sequencer alert cleared, its cause is gone: %s", alert["reason"])
            self._refresh_refusal()

    def _witness_objected(self, objection: WitnessObjection) -> None:
        """``Log.on_witness_objection``: act on a witness's answer that contradicts this log.

        On the node that signs the log, a size beyond its latest checkpoint or a refusal as a
        fork stops sequencing and signing at once (sequencer alert, the answer kept as
        evidence); then the witness's node is asked for the log-signed checkpoint behind the
        answer (its cosigned and final checkpoints), which held against this log is a fork
        (``_check_against_own_log``). A 422 (the witness's tree is not this one's at its
        size) stops nothing by itself: the witness's checkpoint is looked for as evidence."""
        from ledger.errors import InconsistencyError

        if not self.signs_the_log():
            # A log-key holder that does not sequence (standby, handover) may be behind.
            log.warning("%s (this node does not sign the log now)", objection)
            return
        first = False
        if objection.kind == "beyond":
            latest = self.store.latest_checkpoint()
            if latest is not None and objection.witness_size is not None and objection.witness_size <= latest[0]:
                return  # a newer checkpoint of this log was signed meanwhile: nothing beyond it
            first = self._record_sequencer_alert(
                f"witness {objection.witness} has cosigned size {objection.witness_size}, beyond this sequencer's latest "
                f"checkpoint ({objection.size}): the log key signed a tree this node does not hold; {RECOVER_HINT}",
                objection,
            )
            # The entries the log key signed may be on the replicas: take them back, proven, and go on.
            if self._remirror(objection.witness_size, f"witness {objection.witness} has cosigned size {objection.witness_size}"):
                self._review_sequencer_alert()
                return
        elif objection.kind == "fork":
            answer = objection.answer.strip().splitlines()[-1][:300] if objection.answer.strip() else ""
            first = self._record_sequencer_alert(f"witness {objection.witness} refused checkpoint {objection.size} as a fork: {answer}", objection)
        else:
            log.warning("%s", objection)
        if self.fork_alert() is not None or (objection.kind != "inconsistent" and not first):
            return  # evidence is there already, or was looked for when this witness first objected
        try:
            self._check_against_own_log(self._evidence_of(objection), remirror=False)  # tried above
        except InconsistencyError as e:
            self.record_fork(str(e), e.old, e.new, e.proof)

    def _evidence_of(self, objection: WitnessObjection) -> list[Seen]:
        """The log-signed checkpoints behind a witness's answer: the notes a local witness
        handed over, its state here, or what its node serves (cosigned, then final)."""
        from ledger.errors import EduledgerError

        out: list[Seen] = []
        for note in objection.notes or ():
            s = seen(note, self.log.log_verifier, self.network, f"checkpoint held by witness {objection.witness}")
            if s is not None:
                out.append(s)
        if objection.url is None:
            return out + self._own_checkpoints()
        peer = self._http_peer(objection.url)
        for what, fetch in (("cosigned checkpoint", peer.witnessed), ("final checkpoint", peer.checkpoint)):
            try:
                s = seen(fetch(), self.log.log_verifier, self.network, f"{what} of witness {objection.witness}'s node {objection.url}")
            except EduledgerError as e:  # unreachable, nothing yet, or not signed by the log key
                log.info("evidence from %s: %s", objection.url, e)
                continue
            if s is not None:
                out.append(s)
        return out

    # --- the sequencer behind what its key signed: re-mirror, proven -----------------------
    #
    # A database restored from an older backup (or a replaced disk) holds less than the log key
    # signed: a witness answers 409 "beyond", or a peer's checkpoint is larger than the log. The
    # entries are on the replicas, so the sequencer takes them back before it sequences again,
    # by the code path of ``eduledger ledger recover --from URL`` (``ledger.node.rollback.recover``):
    # a replica's final checkpoint, verified with the quorum in force, must reach the size, and
    # the tail it serves must hash to that checkpoint's root and to every checkpoint this
    # database says its log reached, before anything is stored (a stored tail cannot be removed).
    # Sequencing and signing are refused meanwhile; what cannot be proved this way stays an
    # alert (and, held against the log, a fork).

    #: How long re-mirroring waits for an append already being stored to end (seconds).
    REMIRROR_IDLE_WAIT = 10.0

    def _remirror_sources(self) -> list[str]:
        """Base URLs of the replicas to re-mirror from: every peer but this node's own institutions."""
        own = set(self.keys.signing) | set(self.witnesses) | {self.sequencing_institution}
        return [url for inst, url in sorted(self.peers.items()) if inst not in own]

    def _remirror(self, target: int, why: str) -> bool:
        """Bring the log up to ``target`` entries from a replica, proven (see above); True once
        it holds them. Runs in a worker thread (the cosignature round's or the self-check's).

        Write order: sequencing is refused first (memory: ``_remirroring``), then the append
        being stored, if any, is waited for (prepared before the refusal, it ends unsigned and
        unacknowledged: ``Sequencer._finish``), then ``recover`` proves the tail and stores it
        block by block, then the replica's final checkpoint. A crash in between leaves a log
        that is a proven prefix of the final one: the restart asks the witnesses again and
        re-mirrors the rest. Never after a fork alert (that is an operator's case)."""
        import time

        from ledger.errors import EduledgerError, InconsistencyError
        from ledger.node.rollback import recover

        with self._remirror_lock:
            if self.store.size() >= target:
                return True
            sources = self._remirror_sources()
            if not sources or self.fork_alert() is not None:
                return False
            self._remirroring = f"it is re-mirroring entries its key signed from the replicas ({why}, the log holds {self.store.size()})"
            self._refresh_refusal()
            try:
                deadline = time.monotonic() + self.REMIRROR_IDLE_WAIT
                while not self.log.idle:
                    if time.monotonic() > deadline:
                        log.warning("not re-mirroring: an append is still being stored")
                        return False
                    time.sleep(0.01)
                for url in sources:
                    try:
                        done = recover(self.log, self._http_peer(url), holds_log_key=True, witness_store=getattr(self, "witness_store", None))
                    except InconsistencyError as e:  # that replica's final checkpoint is another tree at our size
                        self.record_fork(str(e), e.old, e.new, e.proof)
                        return False
                    except EduledgerError as e:  # unreachable, behind, or its data does not prove the tail
                        log.warning("cannot re-mirror from %s: %s", url, e)
                        continue
                    if done.size > done.before:
                        log.warning(
                            "re-mirrored %d entries (%d..%d) from %s, proven against its final checkpoint of size %d (%s)",
                            done.size - done.before, done.before, done.size, url, done.peer_final, why,
                        )
                    if self.store.size() >= target:
                        return True
                log.error("could not re-mirror up to size %d from any replica (%s); the log holds %d", target, why, self.store.size())
                return False
            finally:
                self._remirroring = None
                self._refresh_refusal()

    def _witness_stopped(self) -> str | None:
        fork = self.fork_alert()
        return None if fork is None else f"its node has seen a fork of the log ({fork['reason']}); see 'eduledger network status'"

    def witness_add_checkpoint(self, body: bytes) -> bytes:
        """Handle an add-checkpoint request with every witness key this node holds.

        Returns the cosignature lines. While the storage alert is set the node
        cosigns nothing (HaltedError, 503: it cannot vouch for a log it no longer
        holds intact); after a fork each witness refuses with 409 once the
        request is known to be for this log (ledger.network.witness, step 4).
        """
        from ledger.errors import HaltedError, NotFoundError
        from ledger.network.witness import AddCheckpoint, SameSizeFork

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
        self._wake_follower()
        return "".join(lines).encode()

    def _wake_follower(self) -> None:
        """A new checkpoint was just cosigned here: the follower mirrors now, not at its next poll."""
        wanted, loop = getattr(self, "_sync_wanted", None), getattr(self, "_follow_loop", None)
        if wanted is None or loop is None or loop.is_closed():
            return
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            wanted.set()
        else:
            loop.call_soon_threadsafe(wanted.set)
