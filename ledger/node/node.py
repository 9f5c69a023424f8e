"""A running node: storage + log + sequencer + the keys it holds.

The HTTP layer (portfolio_api) and the CLI talk to this object only. It turns
submissions (JSON or statements to sign with a held institution key) into
checked entries, hands them to the sequencer, and answers reads.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.errors import AuthorizationError, MalformedError, PushbackError
from ledger.model.entries import Entry, Statement, sign_batch
from ledger.model.genesis import Genesis
from ledger.model.receipts import Receipt, Rejection
from ledger.model.submission import parse_submission, results_from_json, to_submission
from ledger.network.cosigners import Cosigner, LocalCosigner, RemoteCosigner
from ledger.network.leader import Leadership, SoleWriter, leadership_for
from ledger.network.witness import Witness, WitnessStateStore
from ledger.node import datadir
from ledger.node.integrity import Integrity
from ledger.node.log import Log
from ledger.node.roles import Roles
from ledger.node.sequencer import Sequencer
from ledger.node.statuslists import StatusSlots
from ledger.storage import LedgerStore, open_store
from ledger.tlog.note import Verifier

log = logging.getLogger("eduledger.node")


@dataclass(frozen=True)
class NodeOptions:
    batch_max: int = 256
    batch_ms: int = 250
    queue_max: int = 100_000
    group_max: int = 16
    #: How long a starting witness waits for its peers before cosigning without their
    #: checkpoints (ledger/network/witness_catchup.py).
    witness_catchup_wait: float = 5.0


class Node(Roles, Integrity):
    """The node's facade: what the HTTP layer and the CLI call. Its role loops are in
    :mod:`ledger.node.roles`, its integrity checks in :mod:`ledger.node.integrity`."""

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
        witness_store: WitnessStateStore | None = None,
    ) -> None:
        """``witness_store``: where the witness keys' states live. ``from_data_dir`` (every
        ``eduledger run``) gives the witness directory's own store; without one the states
        are kept in ``store`` itself, which only in-process harnesses and tests do (a copy
        of such a database would carry the witness state)."""
        self.store = store
        self.witness_store: WitnessStateStore = witness_store if witness_store is not None else store  # type: ignore[assignment]
        self._witness_dir: Any = None
        self.leadership: Leadership = leadership or SoleWriter()
        self.is_leader = False
        self._tasks: list[asyncio.Task[None]] = []
        self._storage_cursor = 0
        # Split-view detection: pairs already proved consistent, and why others are not yet.
        self._proved_consistent: set[tuple[int, bytes, int, bytes]] = set()
        self.split_view_pending: list[str] = []
        self._http_peers: dict[str, Any] = {}
        self._halted: str | None = None
        self._remirror_lock = threading.Lock()  # one re-mirroring at a time (Integrity._remirror)
        self.genesis = genesis
        self.keys = keys
        self.clock = clock
        log_verifier = Verifier.from_vkey(genesis.log_vkey)
        # Before any replay: the founders' witnesses other than the sequencer's (it never counts for itself).
        witness_verifiers = [Verifier.from_vkey(f.witness_vkey) for f in genesis.founders if f.id != genesis.sequencer]
        # Witness keys held here: each checks consistency against its own stored state.
        self.witnesses = {
            inst: Witness(
                datadir.witness_name(genesis.network, inst), signer, {genesis.network: log_verifier}, self.witness_store, clock,
                stopped=self._witness_stopped,
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
        # Status list slots reserved for credentials being issued here (ledger/node/statuslists.py).
        self.status_slots = StatusSlots(lambda: self.log.registry)

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
        cls,
        data_dir: Path,
        database_url: str,
        passphrase: bytes,
        *,
        options: NodeOptions = NodeOptions(),
        clock: Callable[[], float] = time.time,
        witness_dir: Path | None = None,
        witness_db: str | None = None,
    ) -> "Node":
        """Open a node's data directory and its witness directory (default ``<data>.witness``;
        ``witness_db``: the witness state in a database of its own, see ``ledger.node.witnessdir``).

        The witness directory is locked for this process and the old layout migrated into it
        first; WitnessDirInUse if another process holds it."""
        from ledger.node.witnessdir import open_witness_dir

        genesis = datadir.load_genesis(data_dir)
        store = open_store(database_url)
        wdir = witness_dir or datadir.default_witness_dir(data_dir)
        try:
            opened = open_witness_dir(
                wdir, data_dir=data_dir, log_store=store, network=genesis.network, witness_db=witness_db, log_database_url=database_url
            )
        except Exception:
            store.close()
            raise
        if opened._users == 1:  # opened here, not by 'eduledger run' before the server started (it reports)
            for line in opened.migrated:
                log.warning("witness directory %s: %s", opened.path, line)
        try:
            keys = datadir.load_keys(data_dir, passphrase, witness_dir=wdir)
        except Exception:
            opened.close()
            store.close()
            raise
        node = cls(
            store,
            genesis,
            keys,
            options=options,
            peers=datadir.load_peers(data_dir),
            clock=clock,
            # On PostgreSQL every write then checks, before its COMMIT, that this process still holds the lock.
            leadership=leadership_for(database_url, genesis.network, fence=getattr(store, "fence", None)),
            witness_store=opened.store,
        )
        node._witness_dir = opened
        return node

    @property
    def network(self) -> str:
        return self.genesis.network

    @property
    def holds_log_key(self) -> bool:
        return self.keys.log is not None

    @property
    def is_sequencer(self) -> bool:
        """This process sequences now: it holds the log key and the writer role
        (ledger.network.leader), the registry names one of its institutions as the
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

    @property
    def final_size(self) -> int:
        """The tree size of the latest final checkpoint (0 before the first)."""
        final = self.store.latest_final()
        return final[0] if final is not None else 0

    async def wait_final(self, size: int, timeout: float, *, poll: float = 0.05) -> bool:
        """Wait until a final checkpoint covers the first ``size`` entries; False after ``timeout`` seconds.

        What ``POST /api/v1/ledger/entries?wait=final`` waits for: an entry acknowledged on commit can
        still be lost with its sequencer before a quorum cosigns it (docs/network.md, "What acknowledged
        means"); once final it cannot."""
        deadline = time.monotonic() + timeout
        while self.final_size < size:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(poll)
        return True

    def newest_checkpoint(self) -> bytes:
        """The newest log-signed checkpoint with every cosignature collected for it so far;
        not necessarily final. For monitors and operators; the log's state is
        ``final_checkpoint``."""
        from ledger.errors import NotFoundError
        from ledger.tlog.checkpoint import add_signatures
        from ledger.tlog.note import parse_signature_line

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
    # Every process starts by asking for the writer role (ledger.network.leader; always
    # granted on SQLite). The leader opens the log for writing and runs the
    # sequencer (log key held) or the mirroring follower; a standby loads the
    # shared database read-only, refreshes it, and polls for the role.

    def parse_submission(self, payload: Any) -> list[Entry]:
        """Checked entries of a JSON submission, either form (ledger.model.submission), signatures verified."""
        return parse_submission(payload, self.network)

    async def submit(self, entries: Sequence[Entry]) -> list[Receipt | Rejection]:
        """Sequence checked entries; returns when they are committed.

        On a node that is not the sequencer, the entries are forwarded to it."""
        if self.is_sequencer and not self._handing_over:
            return await self.sequencer.submit(entries)
        if self.holds_log_key and not self.is_leader:
            # A standby of the sequencing institution: the leader writes (ledger.network.leader).
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
        detail = r.text
        if r.status_code != 200 and r.headers.get("content-type", "").startswith("application/json"):
            try:
                body = r.json()
            except ValueError:
                body = None
            if isinstance(body, dict) and isinstance(body.get("detail"), str):
                detail = body["detail"]
        if r.status_code == 503:
            # The sequencer's own reason and Retry-After, passed through (a refusal after an alert
            # says why and for how long; a full queue says so).
            retry = r.headers.get("retry-after", "")
            raise PushbackError(f"the sequencer refused the entries: {str(detail)[:1000]}", retry_after=int(retry) if retry.isdigit() else 5)
        if r.status_code != 200:
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
