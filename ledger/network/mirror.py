"""Replicas: follow another node's log with static reads and re-derive everything.

A replica fetches the peer's final checkpoint, verifies the log signature and
the cosignature quorum, then fetches block headers (``/api/v1/ledger/blocks``)
and entry bundles (C2SP ``/tile/entries/...``) and applies each block through
``Log.apply_remote_block``, which re-derives it exactly as the audit does
before storing it unchanged. A checkpoint whose root differs from the root
the replica computes at that size is a fork: InconsistencyError with both
checkpoints as evidence. Network failures raise FetchError (not the data's
fault); bad data raises a VerificationError subclass.

Fetching runs ahead of re-deriving (``_Ahead``): a thread reads the next blocks'
headers and entry bundles while this one applies the current block, so the
peer serving and this node re-deriving use both cores instead of taking turns.
It changes when bytes are read, never what is checked: blocks are applied one
by one, in order, through the same ``Log.apply_remote_block``, and a fetch
error surfaces after the blocks fetched before it are applied, as before.
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ledger.errors import FetchError, InconsistencyError, MalformedError
from ledger.storage import StoredBlock
from ledger.tlog import tiles
from ledger.tlog.canonical import canonical_bytes
from ledger.tlog.checkpoint import verify_checkpoint

if TYPE_CHECKING:  # types only: the node's log is called, never imported (network sits below node)
    from ledger.network.splitview import PrefixProof
    from ledger.node.log import Log

log = logging.getLogger("eduledger.mirror")


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (its CA bundle, SSL_CERT_FILE and SSL_CERT_DIR honoured), made
    once per process. ``httpx.Client()`` makes a new one by default, loading every CA certificate:
    tens of milliseconds of CPU, and the follower makes an HttpPeer every round (profiled at a
    fifth of a loaded replica's round, which delayed every replica's finality by as much)."""
    return httpx.create_ssl_context()


class HttpPeer:
    """Reads of one peer node (its tlog-tiles paths and block headers)."""

    def __init__(self, base_url: str, client: httpx.Client | None = None, timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout, verify=_tls_context())
        # The last entry bundle read, by its path: a block rarely ends on a tile boundary, so
        # the next block starts in the bundle this one ended in. A path names a fixed range
        # of a log (a full tile, or the first W entries of one), so its bytes do not change.
        self._bundle: tuple[str, list[bytes]] | None = None

    def _get(self, path: str, **params: object) -> httpx.Response:
        try:
            r = self.client.get(self.base_url + path, params=params or None)
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {self.base_url}: {e}") from None
        if r.status_code != 200:
            raise FetchError(f"{self.base_url}{path} answered {r.status_code}")
        return r

    def checkpoint(self) -> bytes:
        return self._get("/checkpoint").content

    def witnessed(self) -> bytes:
        """The newest checkpoint the peer's witness cosigned (log-signed note)."""
        return self._get("/api/v1/network/witnessed").content

    def consistency(self, old: int, new: int) -> "PrefixProof":
        """The peer's root at ``old`` and its consistency proof to ``new`` (its own log).

        Unchecked: ``ledger.network.splitview.check_prefix`` authenticates it against a
        signed root. FetchError if the peer's log does not reach ``new``."""
        from ledger.network.splitview import PrefixProof
        from ledger.tlog.encoding import b64d

        j = self._get("/api/v1/ledger/proof/consistency", old=old, new=new).json()
        try:
            return PrefixProof(
                old,
                new,
                b64d(j["old_root"], "old_root", size=32),
                tuple(b64d(h, "consistency proof hash", size=32) for h in j["proof"]),
            )
        except (KeyError, TypeError) as e:
            raise MalformedError(f"{self.base_url} sent a consistency proof without {e}") from None

    def blocks(self, start: int, limit: int = 100) -> list[StoredBlock]:
        out = []
        for b in self._get("/api/v1/ledger/blocks", start=start, limit=limit).json():
            header = canonical_bytes(b["header"])
            out.append(StoredBlock(b["header"]["height"], b["header"]["first_index"], b["header"]["count"], header, bytes.fromhex(b["hash"])))
        return out

    def entries(self, start: int, end: int, tree_size: int) -> list[bytes]:
        """Leaf data of entries [start, end) via entry bundles valid at ``tree_size``."""
        out: list[bytes] = []
        for n in range(start // tiles.TILE_WIDTH, (end - 1) // tiles.TILE_WIDTH + 1):
            full, partial = tiles.tiles_for_size(0, tree_size)
            width = tiles.TILE_WIDTH if n < full else partial
            path = tiles.TileRef(-1, n, width).path()
            if self._bundle is not None and self._bundle[0] == path:
                bundle = self._bundle[1]
            else:
                bundle = tiles.parse_entry_bundle(self._get("/" + path).content)
                if len(bundle) != width:
                    raise MalformedError(f"{path} holds {len(bundle)} entries, want {width}")
                self._bundle = (path, bundle)
            base = n * tiles.TILE_WIDTH
            out += bundle[max(0, start - base) : end - base]
        return out


@dataclass(frozen=True)
class SyncResult:
    size: int
    blocks_applied: int


#: How far fetching may run ahead of re-deriving: entries fetched and not yet applied (one
#: block more when a single block is larger), so mirroring a long log holds little in memory.
PREFETCH_ENTRIES = 16 * tiles.TILE_WIDTH


class _Ahead:
    """Blocks with their entries, fetched by a thread ahead of the one that applies them.

    ``fetch(put)`` runs in the thread and hands over each block in order; it stops when
    ``put`` returns False (the consumer gave up). Whatever it raises is raised by ``get``
    after every block handed over before it, so errors surface in the order the
    sequential loop met them. ``get`` returns None at the end."""

    def __init__(self, fetch: Callable[[Callable[[StoredBlock, list[bytes]], bool]], None], limit: int) -> None:
        self._limit = limit
        self._cond = threading.Condition()
        self._items: deque[tuple[StoredBlock, list[bytes]]] = deque()
        self._buffered = 0  # entries in _items
        self._ended = False
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(fetch,), name="mirror-fetch", daemon=True)
        self._thread.start()

    def _run(self, fetch: Callable[[Callable[[StoredBlock, list[bytes]], bool]], None]) -> None:
        try:
            fetch(self._put)
        except BaseException as e:  # noqa: BLE001 - not handled here: handed to the consumer, which raises it in order
            with self._cond:
                self._error = e
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _put(self, block: StoredBlock, datas: list[bytes]) -> bool:
        with self._cond:
            while self._items and self._buffered + len(datas) > self._limit and not self._closed:
                self._cond.wait()
            if self._closed:
                return False
            self._items.append((block, datas))
            self._buffered += len(datas)
            self._cond.notify_all()
            return True

    def get(self) -> tuple[StoredBlock, list[bytes]] | None:
        with self._cond:
            while not self._items and not self._ended:
                self._cond.wait()
            if self._items:
                item = self._items.popleft()
                self._buffered -= len(item[1])
                self._cond.notify_all()
                return item
            if self._error is not None:
                raise self._error
            return None

    def close(self) -> None:
        """Stop the thread (after at most the request it is waiting for) and wait for it."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        self._thread.join()


def _fetch_blocks(peer: HttpPeer, height: int, target: int, put: Callable[[StoredBlock, list[bytes]], bool]) -> None:
    """Every block from ``height`` that ends at or before ``target``, with its entries, in
    order: what the sequential loop read, page by page. It stops after the page in which
    the blocks reach ``target``, or at the first block that goes beyond it (the caller then
    finds the log short of ``target``)."""
    while True:
        blocks = peer.blocks(height, 100)
        if not blocks:
            raise FetchError(f"peer has no blocks after height {height} but claims size {target}")
        reached = None
        for b in blocks:
            if b.first_index + b.count > target:
                return
            if not put(b, peer.entries(b.first_index, b.first_index + b.count, target)):
                return
            height += 1  # applied (or the consumer stopped): the local block count
            reached = b.first_index + b.count
        if reached is not None and reached >= target:
            return


def sync(local: Log, peer: HttpPeer) -> SyncResult:
    """Bring ``local`` up to the peer's latest final checkpoint, verifying everything."""
    note = peer.checkpoint()
    vc = verify_checkpoint(
        note, log=local.log_verifier, witnesses=local.witness_verifiers, quorum=local.quorum, origin=local.origin
    )
    target = vc.checkpoint.size
    applied = 0
    if local.size < target:
        height = local.store.block_count()
        ahead = _Ahead(lambda put: _fetch_blocks(peer, height, target, put), PREFETCH_ENTRIES)
        try:
            while (item := ahead.get()) is not None:
                local.apply_remote_block(*item)
                applied += 1
        finally:
            ahead.close()
    if local.size < target:
        raise FetchError(f"could not reach size {target}: blocks do not end at the checkpoint size")
    if local.tree.root(target) != vc.checkpoint.root:
        mine = local.store.checkpoint(target) or b""
        raise InconsistencyError(
            f"fork: the peer's checkpoint at size {target} has another root than this replica's log",
            old=mine.decode("utf-8", "replace"),
            new=note.decode("utf-8", "replace"),
        )
    if local.store.checkpoint(target) is None:
        local.store.add_checkpoint(target, note)
    final = local.store.latest_final()
    if final is None or final[0] < target:
        local.store.set_final(target, note)
    return SyncResult(local.size, applied)
