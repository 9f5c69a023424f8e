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
        return cls(open_store(database_url), genesis, keys, options=options, clock=clock)

    @property
    def network(self) -> str:
        return self.genesis.network

    @property
    def is_sequencer(self) -> bool:
        return self.keys.log is not None

    async def start(self) -> None:
        await asyncio.to_thread(self.log.open)
        await self.sequencer.start()

    async def stop(self) -> None:
        await self.sequencer.stop()
        self.store.close()

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
        """Sequence checked entries; returns when they are committed."""
        return await self.sequencer.submit(entries)

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
