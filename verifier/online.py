"""``--online``: fetch newer status and a consistency proof from a node (the only network code of the verifier).

Nothing fetched is believed: it becomes a :class:`~verifier.verify.StatusRefresh`
that ``verify`` checks like the bundle itself (the node's checkpoint against
the trust file's keys and quorum, the consistency proof from the bundle's
checkpoint, each status entry's inclusion proof and institution signature).
A network failure is not the bundle's fault: it is reported as a warning.

Endpoints read (the node's HTTP API, see portfolio_api/routers):

* ``GET {url}/checkpoint`` — the newest (cosigned) checkpoint, C2SP signed note;
* ``GET {url}/api/v1/ledger/proof/consistency?old=<size>&new=<size>`` — ``{"proof": [base64, ...]}``;
* ``GET {url}/api/v1/ledger/credentials/<digest hex>`` — ``{"status", "revocation_index",
  "supersession_index", "superseded_by", "anchor_index"}``;
* ``GET {url}/api/v1/ledger/entries/<index>`` — ``{"data": base64 leaf bytes}``;
* ``GET {url}/api/v1/ledger/proof/inclusion?size=<size>&index=<index>`` — ``{"proof": [base64, ...]}``.
"""

from __future__ import annotations

from typing import Any

import httpx

from ledger.errors import EduledgerError, FetchError, MalformedError
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.encoding import b64d
from ledger.tlog.note import parse_note
from ledger.tlog.tlog_proof import TlogProof
from verifier.verify import StatusRefresh

__all__ = ["NodeClient"]

MAX_RESPONSE = 1 << 20


class NodeClient:
    """Reads status from one node; one newest checkpoint per run, one consistency proof per bundle size."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.base = url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._checkpoint: tuple[bytes, int] | None = None
        self._consistency: dict[tuple[int, int], tuple[bytes, ...]] = {}

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            r = self.client.get(self.base + path, params=params)
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {self.base}: {e}") from None
        if r.status_code != 200:
            raise FetchError(f"{self.base}{path} answered HTTP {r.status_code}")
        if len(r.content) > MAX_RESPONSE:
            raise FetchError(f"{self.base}{path} answered more than {MAX_RESPONSE} bytes")
        return r

    def _json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            j = self._get(path, params).json()
        except ValueError:
            raise FetchError(f"{self.base}{path} did not answer JSON") from None
        if not isinstance(j, dict):
            raise FetchError(f"{self.base}{path} did not answer a JSON object")
        return j

    def checkpoint(self) -> tuple[bytes, int]:
        """The node's newest checkpoint note and its size (not verified here: ``verify`` does that)."""
        if self._checkpoint is None:
            note = self._get("/checkpoint").content
            try:
                size = parse_checkpoint(parse_note(note).text).size
            except MalformedError as e:
                raise FetchError(f"{self.base}/checkpoint is not a checkpoint: {e}") from None
            self._checkpoint = (note, size)
        return self._checkpoint

    def _proof(self, j: dict[str, Any], what: str) -> tuple[bytes, ...]:
        proof = j.get("proof")
        if not isinstance(proof, list) or len(proof) > 64:
            raise FetchError(f"the node's {what} proof is not a list of hashes")
        try:
            return tuple(b64d(h, f"{what} proof", size=32) for h in proof)
        except MalformedError as e:
            raise FetchError(f"the node's {what} proof is malformed: {e}") from None

    def consistency(self, a: int, b: int) -> tuple[bytes, ...]:
        old, new = min(a, b), max(a, b)
        if old == new or old == 0:
            return ()
        if (old, new) not in self._consistency:
            j = self._json("/api/v1/ledger/proof/consistency", {"old": old, "new": new})
            self._consistency[(old, new)] = self._proof(j, "consistency")
        return self._consistency[(old, new)]

    def _proven(self, index: int, size: int, note: bytes) -> TlogProof:
        data = self._json(f"/api/v1/ledger/entries/{index}").get("data")
        try:
            leaf = b64d(data, "entry data")
        except MalformedError as e:
            raise FetchError(f"the node's entry {index} is malformed: {e}") from None
        proof = self._proof(self._json("/api/v1/ledger/proof/inclusion", {"size": size, "index": index}), "inclusion")
        return TlogProof(index, proof, note, leaf)

    def refresh(self, digest: str, bundle_size: int) -> StatusRefresh:
        """Everything ``verify`` needs to re-check a digest's status as of the node's newest checkpoint."""
        try:
            note, size = self.checkpoint()
            consistency = self.consistency(bundle_size, size)
            status = self._json(f"/api/v1/ledger/credentials/{digest}")
            indices = [status.get("revocation_index"), status.get("supersession_index")]
            by = status.get("superseded_by")
            if isinstance(by, str):
                indices.append(self._json(f"/api/v1/ledger/credentials/{by}").get("anchor_index"))
            wanted = sorted({i for i in indices if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size})
            return StatusRefresh(note, consistency, tuple(self._proven(i, size, note) for i in wanted))
        except FetchError as e:
            return StatusRefresh(error=str(e))
        except EduledgerError as e:  # pragma: no cover - every parse above maps to FetchError
            return StatusRefresh(error=f"the node's answer is malformed: {e}")
