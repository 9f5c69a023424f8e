"""Replicas: follow another node's log with static reads and re-derive everything.

A replica fetches the peer's final checkpoint, verifies the log signature and
the cosignature quorum, then fetches block headers (``/api/v1/ledger/blocks``)
and entry bundles (C2SP ``/tile/entries/...``) and applies each block through
``Log.apply_remote_block``, which re-derives it exactly as the audit does
before storing it unchanged. A checkpoint whose root differs from the root
the replica computes at that size is a fork: InconsistencyError with both
checkpoints as evidence. Network failures raise FetchError (not the data's
fault); bad data raises a VerificationError subclass.
"""

from __future__ import annotations

import logging
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


class HttpPeer:
    """Reads of one peer node (its tlog-tiles paths and block headers)."""

    def __init__(self, base_url: str, client: httpx.Client | None = None, timeout: float = 10) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)

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
            bundle = tiles.parse_entry_bundle(self._get("/" + path).content)
            if len(bundle) != width:
                raise MalformedError(f"{path} holds {len(bundle)} entries, want {width}")
            base = n * tiles.TILE_WIDTH
            out += bundle[max(0, start - base) : end - base]
        return out


@dataclass(frozen=True)
class SyncResult:
    size: int
    blocks_applied: int


def sync(local: Log, peer: HttpPeer) -> SyncResult:
    """Bring ``local`` up to the peer's latest final checkpoint, verifying everything."""
    note = peer.checkpoint()
    vc = verify_checkpoint(
        note, log=local.log_verifier, witnesses=local.witness_verifiers, quorum=local.quorum, origin=local.origin
    )
    target = vc.checkpoint.size
    applied = 0
    while local.size < target:
        blocks = peer.blocks(local.store.block_count(), 100)
        if not blocks:
            raise FetchError(f"peer has no blocks after height {local.store.block_count()} but claims size {target}")
        for b in blocks:
            if b.first_index + b.count > target:
                break
            local.apply_remote_block(b, peer.entries(b.first_index, b.first_index + b.count, target))
            applied += 1
        else:
            continue
        break
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
