"""``--online``: fetch newer status and a consistency proof from a node (the only network code of the verifier).

Nothing fetched is believed: it becomes a :class:`~verifier.verify.StatusRefresh`
that ``verify`` checks like the bundle itself (the node's checkpoint against
the trust file's keys and quorum, the consistency proof from the bundle's
checkpoint against the node's signed root, each status entry's inclusion proof
and institution signature).

What can go wrong, and whose fault it is (``StatusRefresh.problem``, codes of
:mod:`verifier.report`). A *failure* is about the data: the report fails at the
step it concerns and ``eduledger verify`` exits 1. An *environment error* means
the node's view could not be had: no step is blamed, the report is incomplete
(never ok) and ``eduledger verify`` exits 2. Neither is ever a warning that passes.

Environment errors (exit 2), the node ...

* ``unreachable`` — cannot be reached (connection, timeout, TLS);
* ``halted`` — answers HTTP 503 ``{"error": "halted", "detail": ...}``: its storage
  or fork alert is set (portfolio_api/errors.py), and it serves no log data;
* ``unavailable`` — answers another HTTP error (or a 503 that is not a halt) to
  anything but the consistency proof, or something that is not a checkpoint at
  all to ``GET /checkpoint``: busy, not an eduledger node, a proxy's error page;
* ``lagging`` — serves a newest checkpoint smaller than the bundle's.

Failures (exit 1), the node ...

* ``refused`` (step 5) — answers the consistency proof with an HTTP error other than 503;
* ``invalid-proof`` (step 5) — answers a consistency proof that is malformed or
  does not verify against its own signed root (it proves nothing either way);
* ``invalid-checkpoint`` (step 5) — serves a checkpoint the trust file does not
  vouch for (wrong log key, network or quorum);
* ``fork`` (step 5) — proves that its log does not extend the bundle's checkpoint:
  the proof verifies against its signed root and shows another root at the
  bundle's size (the evidence: both checkpoints and the proof);
* ``invalid-status`` (step 8) — answers status that is malformed or does not verify;
* a proven revocation or supersession fails step 8 as one carried in the bundle does.

In short: until the node has shown a checkpoint, not being able to talk to it
is the environment's fault; from then on, what it answers is held against it
(HTTP errors on the status reads excepted).

Whatever arrived before an environment error (a checkpoint and its consistency
proof) is still checked, so a proven fork is reported even when the status
reads that follow fail. The newest checkpoint is fetched once per run, and a
node that could not give it is not asked again for every file.

Endpoints read (the node's HTTP API, see portfolio_api/routers):

* ``GET {url}/checkpoint`` — the newest (cosigned) checkpoint, C2SP signed note;
* ``GET {url}/api/v1/ledger/proof/consistency?old=<size>&new=<size>`` —
  ``{"old_root": base64, "proof": [base64, ...]}``;
* ``GET {url}/api/v1/ledger/credentials/<digest hex>`` — ``{"status", "revocation_index",
  "supersession_index", "superseded_by", "anchor_index"}``;
* ``GET {url}/api/v1/ledger/entries/<index>`` — ``{"data": base64 leaf bytes}``;
* ``GET {url}/api/v1/ledger/proof/inclusion?size=<size>&index=<index>`` — ``{"proof": [base64, ...]}``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from ledger.errors import MalformedError
from ledger.tlog.checkpoint import parse_checkpoint
from ledger.tlog.encoding import b64d
from ledger.tlog.note import parse_note
from ledger.tlog.tlog_proof import TlogProof
from verifier.report import HALTED, INVALID_PROOF, INVALID_STATUS, LAGGING, REFUSED, UNAVAILABLE, UNREACHABLE
from verifier.verify import StatusRefresh

__all__ = ["NodeClient"]

MAX_RESPONSE = 1 << 20
MAX_DETAIL = 300  # characters of a node's error body quoted in a message


class _Problem(Exception):
    """Ends one refresh: ``code`` (verifier.report) and a sentence naming the node. Never leaves this module."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NodeClient:
    """Reads status from one node; one newest checkpoint per run, one consistency proof per bundle size."""

    def __init__(self, url: str, *, client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        self.base = url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._checkpoint: tuple[bytes, int] | tuple[str, str] | None = None  # (note, size), or (code, message)
        self._consistency: dict[tuple[int, int], tuple[bytes, tuple[bytes, ...]]] = {}

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, params: dict[str, Any] | None = None, *, http_error: str = UNAVAILABLE, bad: str) -> httpx.Response:
        """A 200 answer to GET ``path``; otherwise _Problem: ``http_error`` for an HTTP error (503 is a
        halt or unavailability), ``bad`` for an answer too large to be what was asked."""
        try:
            r = self.client.get(self.base + path, params=params)
        except httpx.HTTPError as e:
            raise _Problem(UNREACHABLE, f"cannot reach the node {self.base} ({str(e) or type(e).__name__})") from None
        if r.status_code == 503:
            error, detail = _error_body(r)
            if error == "halted":
                raise _Problem(HALTED, f"the node {self.base} has halted: {detail or 'HTTP 503'}")
            raise _Problem(UNAVAILABLE, f"the node {self.base} answered HTTP 503 to GET {path}{': ' + detail if detail else ''}")
        if r.status_code != 200:
            _, detail = _error_body(r)
            raise _Problem(http_error, f"the node {self.base} answered HTTP {r.status_code} to GET {path}{': ' + detail if detail else ''}")
        if len(r.content) > MAX_RESPONSE:
            raise _Problem(bad, f"the node {self.base} answered GET {path} with more than {MAX_RESPONSE} bytes")
        return r

    def _json(self, path: str, params: dict[str, Any] | None = None, *, http_error: str = UNAVAILABLE, bad: str) -> dict[str, Any]:
        try:
            j = self._get(path, params, http_error=http_error, bad=bad).json()
        except ValueError:
            raise _Problem(bad, f"the node {self.base} did not answer GET {path} with JSON") from None
        if not isinstance(j, dict):
            raise _Problem(bad, f"the node {self.base} did not answer GET {path} with a JSON object")
        return j

    def checkpoint(self) -> tuple[bytes, int]:
        """The node's newest checkpoint note and its size (not verified here: ``verify`` does that).

        _Problem if the node could not give one; remembered for the run, like the note itself."""
        if self._checkpoint is None:
            try:
                note = self._get("/checkpoint", bad=UNAVAILABLE).content
                try:
                    size = parse_checkpoint(parse_note(note).text).size
                except MalformedError as e:
                    raise _Problem(UNAVAILABLE, f"the node {self.base} answered GET /checkpoint with something that is not a checkpoint ({e})") from None
                self._checkpoint = (note, size)
            except _Problem as p:
                self._checkpoint = (p.code, p.message)
        first, second = self._checkpoint
        if isinstance(first, str):
            raise _Problem(first, str(second))  # a fresh exception each time: re-raising one grows its traceback
        return first, second  # type: ignore[return-value]

    def _proof(self, j: dict[str, Any], what: str, bad: str) -> tuple[bytes, ...]:
        proof = j.get("proof")
        if not isinstance(proof, list) or len(proof) > 64:
            raise _Problem(bad, f"the {what} proof of the node {self.base} is not a list of hashes")
        try:
            return tuple(b64d(h, f"{what} proof", size=32) for h in proof)
        except MalformedError as e:
            raise _Problem(bad, f"the {what} proof of the node {self.base} is malformed: {e}") from None

    def consistency(self, old: int, new: int) -> tuple[bytes | None, tuple[bytes, ...]]:
        """The node's root at ``old`` and its RFC 9162 proof from ``old`` to ``new`` (``old <= new``);
        (None, ()) when there is nothing to prove (equal sizes: the roots are compared as they are)."""
        if not 0 <= old <= new:
            raise ValueError(f"a consistency proof goes from a smaller size to a larger one, not {old} to {new}")
        if old == new or old == 0:
            return None, ()
        if (old, new) not in self._consistency:
            j = self._json("/api/v1/ledger/proof/consistency", {"old": old, "new": new}, http_error=REFUSED, bad=INVALID_PROOF)
            try:
                old_root = b64d(j.get("old_root"), "old_root", size=32)
            except MalformedError as e:
                raise _Problem(INVALID_PROOF, f"the consistency answer of the node {self.base} has no usable old_root: {e}") from None
            self._consistency[(old, new)] = (old_root, self._proof(j, "consistency", INVALID_PROOF))
        return self._consistency[(old, new)]

    def _proven(self, index: int, size: int, note: bytes) -> TlogProof:
        data = self._json(f"/api/v1/ledger/entries/{index}", bad=INVALID_STATUS).get("data")
        try:
            leaf = b64d(data, "entry data")
        except MalformedError as e:
            raise _Problem(INVALID_STATUS, f"entry {index} of the node {self.base} is malformed: {e}") from None
        j = self._json("/api/v1/ledger/proof/inclusion", {"size": size, "index": index}, bad=INVALID_STATUS)
        return TlogProof(index, self._proof(j, "inclusion", INVALID_STATUS), note, leaf)

    def _status_entries(self, digest: str, size: int, note: bytes) -> tuple[TlogProof, ...]:
        status = self._json(f"/api/v1/ledger/credentials/{digest}", bad=INVALID_STATUS)
        indices = [status.get("revocation_index"), status.get("supersession_index")]
        by = status.get("superseded_by")
        if isinstance(by, str):
            indices.append(self._json(f"/api/v1/ledger/credentials/{by}", bad=INVALID_STATUS).get("anchor_index"))
        wanted = sorted({i for i in indices if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < size})
        return tuple(self._proven(i, size, note) for i in wanted)

    def refresh(self, digest: str, bundle_size: int) -> StatusRefresh:
        """Everything ``verify`` needs to re-check a digest's status as of the node's newest checkpoint;
        what went wrong, if anything, in ``problem`` and ``error`` (see the module docstring)."""
        node = self.base
        try:
            note, size = self.checkpoint()
        except _Problem as p:
            return StatusRefresh(node=node, problem=p.code, error=p.message)
        if size < bundle_size:  # it cannot prove anything about a tree it does not have yet
            return StatusRefresh(
                node=node,
                problem=LAGGING,
                error=f"the node {node} is behind this bundle: its newest checkpoint is of log size {size}, the bundle's of log size {bundle_size}",
            )
        try:
            old_root, proof = self.consistency(bundle_size, size)
        except _Problem as p:
            return StatusRefresh(note, node=node, problem=p.code, error=p.message)
        found = StatusRefresh(note, proof, node=node, old_root=old_root)
        try:
            return replace(found, entries=self._status_entries(digest, size, note))
        except _Problem as p:  # the checkpoint and its proof are still checked: a fork is never lost
            return replace(found, problem=p.code, error=p.message)


def _error_body(r: httpx.Response) -> tuple[str | None, str]:
    """(``error``, ``detail``) of a node's JSON error body (portfolio_api/errors.py), else (None, the text's start)."""
    try:
        j = r.json()
    except ValueError:
        j = None
    if isinstance(j, dict):
        error = j.get("error") if isinstance(j.get("error"), str) else None
        detail = j.get("detail")
        return error, " ".join(str(detail).split())[:MAX_DETAIL] if detail is not None else ""
    return None, " ".join(r.text[:MAX_DETAIL].split())
