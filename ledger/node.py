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
from ledger.entries import Entry, Statement, entry_from_json, sign_batch, verify_batch_signature
from ledger.errors import AuthorizationError, MalformedError, SignatureError
from ledger.genesis import Genesis
from ledger.log import Log, Receipt, Rejection
from ledger.note import Verifier
from ledger.sequencer import Sequencer
from ledger.storage import LedgerStore, open_store
from ledger.cosigners import Cosigner, LocalCosigner, RemoteCosigner
from ledger.witness import Witness

log = logging.getLogger("eduledger.node")

MAX_SUBMISSION = 10_000


@dataclass(frozen=True)
class NodeOptions:
    batch_max: int = 256
    batch_ms: int = 250
    queue_max: int = 100_000


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
    ) -> None:
        self.store = store
        self.genesis = genesis
        self.keys = keys
        self.clock = clock
        log_verifier = Verifier.from_vkey(genesis.log_vkey)
        witness_verifiers = [Verifier.from_vkey(f.witness_vkey) for f in genesis.founders]
        # Witness keys held here: each checks consistency against its own stored state.
        self.witnesses = {
            inst: Witness(datadir.witness_name(genesis.network, inst), signer, {genesis.network: log_verifier}, store, clock)
            for inst, signer in sorted(keys.witness.items())
        }
        cosigners: list[Cosigner] = [LocalCosigner(w, genesis.network) for w in self.witnesses.values()]
        for inst, url in sorted((peers or {}).items()):
            if inst not in self.witnesses:
                founder = next((f for f in genesis.founders if f.id == inst), None)
                if founder is not None:
                    cosigners.append(RemoteCosigner(Verifier.from_vkey(founder.witness_vkey), url))
        self.peers = dict(peers or {})
        self.log = Log(
            store,
            genesis,
            log_signer=keys.log,
            cosigners=cosigners if keys.log is not None else [],
            witness_verifiers=witness_verifiers,
            clock=clock,
        )
        self.sequencer = Sequencer(self.log, batch_max=options.batch_max, batch_ms=options.batch_ms, queue_max=options.queue_max)

    @classmethod
    def from_data_dir(
        cls, data_dir: Path, database_url: str, passphrase: bytes, *, options: NodeOptions = NodeOptions(), clock: Callable[[], float] = time.time
    ) -> "Node":
        genesis = datadir.load_genesis(data_dir)
        keys = datadir.load_keys(data_dir, passphrase)
        return cls(open_store(database_url), genesis, keys, options=options, peers=datadir.load_peers(data_dir), clock=clock)

    @property
    def network(self) -> str:
        return self.genesis.network

    @property
    def is_sequencer(self) -> bool:
        return self.keys.log is not None

    @property
    def sequencer_url(self) -> str | None:
        return self.peers.get(self.genesis.sequencer)

    async def start(self) -> None:
        await asyncio.to_thread(self.log.open)
        if self.is_sequencer:
            await self.sequencer.start()
        elif self.sequencer_url:
            self._follower = asyncio.create_task(self._follow(), name="follower")

    async def stop(self) -> None:
        if self.is_sequencer:
            await self.sequencer.stop()
        task = getattr(self, "_follower", None)
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.store.close()

    # --- replica side ---------------------------------------------------------------

    def sync_now(self) -> int:
        """Mirror the sequencer's log up to its latest final checkpoint, then compare
        checkpoints with every peer (split-view detection). Returns the local size."""
        from ledger.errors import EduledgerError, FetchError, InconsistencyError
        from ledger.mirror import HttpPeer, sync

        url = self.sequencer_url
        if url:
            try:
                sync(self.log, HttpPeer(url))
            except InconsistencyError as e:
                self.record_fork(str(e), e.old, e.new)
                raise
        for inst, peer_url in sorted(self.peers.items()):
            try:
                note = HttpPeer(peer_url).checkpoint()
                self.check_peer_checkpoint(note)
            except InconsistencyError as e:
                self.record_fork(f"checkpoint from {inst} is not consistent with ours: {e}", e.old, e.new)
            except (FetchError, EduledgerError) as e:
                log.debug("peer %s: %s", inst, e)
        return self.log.size

    def check_peer_checkpoint(self, note: bytes) -> None:
        """Raise InconsistencyError if a verified final checkpoint of our log disagrees with ours."""
        from ledger.checkpoint import verify_checkpoint
        from ledger.errors import InconsistencyError

        vc = verify_checkpoint(
            note, log=self.log.log_verifier, witnesses=self.log.witness_verifiers, quorum=self.genesis.quorum, origin=self.network
        )
        size = vc.checkpoint.size
        if size <= self.log.size and self.log.tree.root(size) != vc.checkpoint.root:
            mine = self.store.checkpoint(size) or self.log.latest_checkpoint()
            raise InconsistencyError(f"two different trees of size {size}", old=mine.decode("utf-8", "replace"), new=note.decode("utf-8", "replace"))

    async def _follow(self, interval: float = 0.5) -> None:
        while True:
            try:
                await asyncio.to_thread(self.sync_now)
            except Exception as e:  # keep following; the error is logged and shown in status
                log.warning("sync failed: %s", e)
            await asyncio.sleep(interval)

    # --- submissions ----------------------------------------------------------------

    def parse_submission(self, payload: Any) -> list[Entry]:
        """Entries from a JSON submission ``{"entries": [...]}``, signatures checked per batch."""
        if not isinstance(payload, dict) or not isinstance(payload.get("entries"), list):
            raise MalformedError('a submission is a JSON object {"entries": [entry, ...]}')
        raw = payload["entries"]
        if not raw:
            raise MalformedError("a submission needs at least one entry")
        if len(raw) > MAX_SUBMISSION:
            raise MalformedError(f"a submission holds at most {MAX_SUBMISSION} entries")
        entries = []
        for i, j in enumerate(raw):
            try:
                entries.append(entry_from_json(j))
            except MalformedError as e:
                raise MalformedError(f"entry {i}: {e}") from None
        self.check_signatures(entries)
        return entries

    def check_signatures(self, entries: Sequence[Entry]) -> None:
        """One signature check per (key, signature) group; every entry's proof checked."""
        groups: dict[tuple[bytes, bytes], list[Entry]] = {}
        for e in entries:
            if e.auth is None:
                raise AuthorizationError("every submitted entry must be signed by an institution")
            if e.statement.network != self.network:
                raise AuthorizationError(f"entry is for network {e.statement.network!r}, this node serves {self.network!r}")
            groups.setdefault((e.auth.key, e.auth.signature), []).append(e)
        for group in groups.values():
            try:
                verify_batch_signature(group)
            except SignatureError as e:
                raise SignatureError(f"institution signature check failed: {e}") from None

    async def submit(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        """Sequence checked entries; returns when they are committed.

        On a node that is not the sequencer, the entries are forwarded to it."""
        if not self.is_sequencer:
            return await self.forward(entries)
        return await self.sequencer.submit(entries)

    async def forward(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        import httpx

        from ledger.encoding import b64d
        from ledger.errors import FetchError, PushbackError

        url = self.sequencer_url
        if not url:
            raise FetchError("this node is not the sequencer and knows no sequencer URL (peers.json)")
        async with httpx.AsyncClient(timeout=60) as client:
            try:
                r = await client.post(url.rstrip("/") + "/api/v1/ledger/entries", json={"entries": [e.to_json() for e in entries]})
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
        out: list[Receipt | Rejection] = []
        for item in r.json()["results"]:
            if item["accepted"]:
                out.append(Receipt(item["index"], b64d(item["leaf_hash"], "leaf_hash", size=32), item.get("duplicate", False)))
            else:
                out.append(Rejection(item["position"], AuthorizationError(item.get("error") or "refused")))
        return out

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

    def record_fork(self, reason: str, old: bytes | str, new: bytes | str) -> None:
        import json

        if self.store.get_meta(self.FORK_ALERT_KEY):
            return  # keep the first evidence
        as_text = lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v  # noqa: E731
        alert = {"reason": reason, "old": as_text(old), "new": as_text(new), "time": int(self.clock())}
        self.store.set_meta(self.FORK_ALERT_KEY, json.dumps(alert))
        log.error("FORK DETECTED: %s", reason)

    def witness_add_checkpoint(self, body: bytes) -> bytes:
        """Handle an add-checkpoint request with every witness key this node holds.

        Returns the cosignature lines. After a fork has been seen, refuses to cosign.
        """
        from ledger.errors import ConflictError, InconsistencyError, NotFoundError
        from ledger.witness import AddCheckpoint, SameSizeFork

        if not self.witnesses:
            raise NotFoundError("this node holds no witness key")
        if self.fork_alert() is not None:
            raise ConflictError("this witness has seen a fork of the log and stopped cosigning; see 'eduledger network status'")
        req = AddCheckpoint.parse(body)
        lines = []
        for w in self.witnesses.values():
            try:
                sig = w.add_checkpoint(req.old_size, req.proof, req.checkpoint)
            except SameSizeFork as e:
                self.record_fork(str(e), e.old, e.new)
                raise
            except InconsistencyError as e:
                self.record_fork(str(e), e.old, e.new)
                raise
            lines.append(sig.line())
        return "".join(lines).encode()
