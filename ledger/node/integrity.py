"""What keeps a node honest: storage checks, split-view (fork) detection, the fork alert and the witness endpoint.

A mixin of :class:`ledger.node.node.Node`. A proven inconsistency halts serving and cosigning, with both
signed notes and the proof kept as evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ledger.network.splitview import PrefixProof, Seen, check_prefix, plan, seen

log = logging.getLogger("eduledger.node")


class Integrity:
    """The integrity checks of a :class:`~ledger.node.node.Node` (mixed in; it holds the state)."""

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
        from ledger.model.replay import ReplayError
        from ledger.network.mirror import HttpPeer, sync

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

    # --- split-view detection (ledger.network.splitview) ---------------------------------------

    def _http_peer(self, url: str):
        """One HTTP client per peer URL, kept between rounds (keep-alive)."""
        from ledger.network.mirror import HttpPeer

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
        or fetched from the sequencer or a peer (ledger.network.splitview). A proof that
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

        from ledger.tlog.encoding import b64e

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
        return "".join(lines).encode()
