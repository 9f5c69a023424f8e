"""What every portfolio service shares: the database, the vault, the node, the clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ledger.errors import AuthorizationError, FetchError
from portfolio_api.vault import Vault


@dataclass
class Ctx:
    engine: sa.Engine
    vault: Vault
    node: Any  # ledger.node.node.Node (typed loosely: tests and the demo pass the real one)
    clock: Callable[[], float] = time.time
    loop: asyncio.AbstractEventLoop | None = None
    upload_max_bytes: int = 5 * 1024 * 1024
    session_seconds: int = 8 * 3600
    #: The network's public URL: credentials name their context and their issuer's did:web under it.
    network_url: str = "http://127.0.0.1:8000"
    extra: dict[str, Any] = field(default_factory=dict)

    def now(self) -> int:
        return int(self.clock())

    @property
    def network(self) -> str:
        return self.node.network

    def signer(self, institution: str) -> Any:
        """The node's signing key for ``institution`` (it signs ledger batches and credentials' proofs)."""
        signer = self.node.keys.signing.get(institution)
        if signer is None:
            raise AuthorizationError(f"this node holds no signing key for {institution}")
        return signer

    def status_publications(self, institution: str, numbers: Any, *, also: Any = None) -> list[Any]:
        """``status.publish`` statements for the institution's status lists ``numbers`` as the ledger has them,
        plus the bits of ``also`` (``verifier.statuslist.publish_statements``)."""
        from verifier.statuslist import publish_statements

        registry = self.node.log.registry
        return publish_statements(
            lambda n: registry.status_list_bits(institution, n), self.signer(institution), network=self.network,
            network_url=self.network_url, institution=institution, numbers=numbers, created=self.now(), also=also,
        )  # fmt: skip

    def submit(self, institution: str, statements: Sequence[Any]) -> list[Any]:
        """Sign ``statements`` with the node's key for ``institution`` and wait until committed.

        Services are synchronous and run in worker threads; the node's sequencer
        lives on the app's event loop, so the coroutine is handed to that loop.
        Never call this on the loop thread itself.
        """
        if self.loop is None:
            raise FetchError("the node is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            raise RuntimeError("Ctx.submit called on the event loop thread; run the service in a worker thread")
        fut = asyncio.run_coroutine_threadsafe(self.node.submit_statements(institution, list(statements)), self.loop)
        return fut.result(timeout=120)
