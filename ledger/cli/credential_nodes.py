"""How ``eduledger credential`` reaches a node: in this process over a data directory (:class:`LocalNode`), or a
running node over HTTP with the institution's key file (:class:`RemoteNode`), behind one :class:`NodeAccess`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from ledger.cli.common import fail
from ledger.errors import EduledgerError, MalformedError, NotFoundError
from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt, Rejection
from ledger.tlog.canonical import canonical_digest
from verifier.credentials import DEFAULT_NETWORK_URL

BUNDLE_RETRY_SECONDS = 60.0

# --- nodes ----------------------------------------------------------------------------------


class NodeAccess(Protocol):
    """What the commands need from a node; :class:`LocalNode` and :class:`RemoteNode` provide it."""

    network: str
    institution: str
    institution_name: str
    #: The network's public URL, named in the credentials' @context (``verifier.credentials.contexts``).
    network_url: str
    #: The institution's signing key (``.sign``, ``.public_key``): it signs the batches and the credentials' proofs.
    signer: Any

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]: ...

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]: ...

    async def status_list(self, number: int) -> dict[str, Any]:
        """The ledger's view of the institution's status list ``number``: ``taken`` slots, ``set`` bits, ``published_index``."""
        ...

    async def reserve_slots(self, count: int) -> tuple[list[tuple[int, int]], list[int]]:
        """``count`` free status list slots (list, index) and the lists among them not yet published."""
        ...

    async def slot_of(self, digest: str) -> tuple[int, int] | None:
        """The status list slot of an anchored credential, if it has one."""
        ...

    async def close(self) -> None: ...


async def with_status(node: NodeAccess, digest: str, statement: Statement) -> list[Statement]:
    """``statement`` (a revocation or supersession of ``digest``), followed, when the credential has a status list
    slot, by its list as it stands after it: submitted in one batch, outside verifiers see the change at once."""
    slot = await node.slot_of(digest)
    if slot is None:
        return [statement]
    return [statement, *await status_publications(node, [slot[0]], also={slot[0]: [slot[1]]})]


async def status_publications(node: NodeAccess, numbers: Sequence[int], *, also: dict[int, list[int]] | None = None) -> list[Statement]:
    """``status.publish`` statements for ``numbers`` as the ledger has them, plus ``also`` (``verifier.statuslist``)."""
    from verifier.statuslist import publish_statements

    states = {n: await node.status_list(n) for n in set(numbers)}
    return publish_statements(
        lambda n: states[n]["set"], node.signer, network=node.network, network_url=node.network_url, institution=node.institution,
        numbers=numbers, created=int(time.time()), also=also,
    )  # fmt: skip


def network_url_from_env(fallback: str) -> str:
    """EDULEDGER_NETWORK_URL, else EDULEDGER_PUBLIC_URL (as ``eduledger run`` reads them), else ``fallback``."""
    return os.environ.get("EDULEDGER_NETWORK_URL") or os.environ.get("EDULEDGER_PUBLIC_URL") or fallback


def pick_institution(institution: str | None, candidates: Sequence[str], where: str, hint: str) -> str:
    if institution is not None:
        if institution not in candidates:
            raise NotFoundError(f"{where} holds no signing key for {institution}; {hint}")
        return institution
    if len(candidates) != 1:
        found = ", ".join(candidates) or "none"
        raise MalformedError(f"{where} holds signing keys for {found}; choose one with --institution")
    return candidates[0]


class LocalNode:
    """The node of a data directory, started in this process for one command."""

    def __init__(self, node: Any, institution: str | None) -> None:
        self.node = node
        self.network = node.network
        self.network_url = network_url_from_env(DEFAULT_NETWORK_URL)
        self.signer: Any = None
        self.institution, self.institution_name = "", ""
        if institution is not None:  # None: reading only (export)
            inst = node.log.registry.institutions.get(institution)
            if inst is None:
                raise NotFoundError(f"institution {institution} is not registered on the ledger")
            self.institution, self.institution_name = institution, inst.name
            self.signer = node.keys.signing[institution]

    @classmethod
    async def open(cls, data_dir: Path, database_url: str | None, institution: str | None, *, signs: bool = True) -> "LocalNode":
        from ledger.cli.common import db_url, passphrase
        from ledger.node import Node, NodeOptions
        from ledger.node.datadir import GENESIS_FILE

        if not (data_dir / GENESIS_FILE).exists():
            raise NotFoundError(f"no network in {data_dir}; pass --data-dir of a node, or --url of a running one")
        node = Node.from_data_dir(data_dir, db_url(data_dir, database_url), passphrase(data_dir), options=NodeOptions(batch_ms=20))
        await node.start()
        try:
            return cls(node, pick_institution(institution, sorted(node.keys.signing), str(data_dir), "pass --url and --key instead") if signs else None)
        except EduledgerError:
            await node.stop()
            raise

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]:
        return await self.node.submit_statements(self.institution, list(statements))

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]:
        from ledger.model.issuance import final_bundle

        anchor = self.node.log.registry.anchors.get(canonical_digest(credential).hex())
        if anchor is None:
            raise NotFoundError("the credential is not anchored on this ledger")
        return await asyncio.to_thread(final_bundle, self.node, credential, anchor.index, wait_seconds=BUNDLE_RETRY_SECONDS)

    async def status_list(self, number: int) -> dict[str, Any]:
        reg = self.node.log.registry
        return {
            "taken": sorted(reg.status_used.get(self.institution, {}).get(number, ())),
            "set": sorted(reg.status_list_bits(self.institution, number)),
            "published_index": reg.status_published.get((self.institution, number)),
        }

    async def reserve_slots(self, count: int) -> tuple[list[tuple[int, int]], list[int]]:
        return self.node.status_slots.reserve(self.institution, count)

    async def slot_of(self, digest: str) -> tuple[int, int] | None:
        return self.node.log.registry.status_slots.get(digest)

    async def close(self) -> None:
        await self.node.stop()


class RemoteNode:
    """A running node over HTTP; entries are signed here, with the institution's key file."""

    def __init__(self, client: Any, url: str, signer: Any, network: str, institution: str, institution_name: str) -> None:
        self.client, self.url, self.signer = client, url, signer
        self.network, self.institution, self.institution_name = network, institution, institution_name
        self.network_url = network_url_from_env(url.rstrip("/"))  # a node of the network serves the context too

    @classmethod
    async def open(cls, url: str, key: Path | None, institution: str | None) -> "RemoteNode":
        import httpx

        from keys.keyfile import load_key_file
        from keys.passphrase import resolve_passphrase
        from verifier.trust import TrustPolicy

        if key is None:
            raise MalformedError("--url needs --key: the institution's signing key file signs the entries")
        signer = load_key_file(key, resolve_passphrase(prompt=sys.stdin.isatty())).signer
        client = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=120)
        try:
            trust = TrustPolicy.from_bytes((await cls._get(client, url, "/api/v1/trust")).content)
            mine = [e.id for e in trust.roster.values() if any(k.key == signer.public_key for k in e.keys)]
            chosen = pick_institution(institution, mine, f"the roster of {url} (for key {key})", "check --key")
        except BaseException:
            await client.aclose()
            raise
        return cls(client, url, signer, trust.network, chosen, trust.roster[chosen].name)

    @staticmethod
    async def _get(client: Any, url: str, path: str) -> Any:
        import httpx

        from ledger.errors import FetchError

        try:
            r = await client.get(path)
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {url}: {e}; is the node running?") from None
        if r.status_code != 200:
            raise FetchError(f"{url}{path} answered {r.status_code}: {r.text[:200]}")
        return r

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        import httpx

        from ledger.errors import FetchError

        try:
            return await self.client.post(path, content=json.dumps(body, ensure_ascii=False).encode(), headers={"content-type": "application/json"})
        except httpx.HTTPError as e:
            raise FetchError(f"cannot reach {self.url}: {e}; is the node running?") from None

    @staticmethod
    def _refusal(r: Any) -> EduledgerError:
        from ledger.errors import FetchError

        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        if 400 <= r.status_code < 500:
            return Refused(str(detail), r.status_code)
        return FetchError(f"the node answered {r.status_code}: {str(detail)[:300]}")

    async def submit(self, statements: Sequence[Statement]) -> list[Receipt | Rejection]:
        from ledger.model.submission import results_from_json, to_submission

        entries = sign_batch(list(statements), self.signer)
        body = to_submission(entries)  # one compact batch: statements and the batch signature
        while True:
            r = await self._post("/api/v1/ledger/entries", body)
            if r.status_code != 503:
                break
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))  # the sequencer's queue is full: pushback
        if r.status_code != 200:
            err = self._refusal(r)
            if isinstance(err, Refused):  # every entry was refused: the node answers with the first reason
                return [Rejection(n, err) for n in range(len(entries))]
            raise err
        return results_from_json(r.json()["results"])

    async def bundle(self, credential: dict[str, Any]) -> dict[str, Any]:
        deadline = time.monotonic() + BUNDLE_RETRY_SECONDS
        while True:
            r = await self._post("/api/v1/credentials/bundle", {"credential": credential})
            if r.status_code == 200:
                return r.json()
            if r.status_code != 503 or time.monotonic() > deadline:
                err = self._refusal(r)
                raise NotFoundError(str(err)) if r.status_code == 404 else err
            await asyncio.sleep(float(r.headers.get("retry-after", "1")))

    async def status_list(self, number: int) -> dict[str, Any]:
        return (await self._get(self.client, self.url, f"/api/v1/ledger/status-lists/{self.institution}/{number}")).json()

    async def reserve_slots(self, count: int) -> tuple[list[tuple[int, int]], list[int]]:
        """Free slots as the node reports them, picked here. Another issuer picking the same slot at the same
        moment makes the ledger refuse one anchor, naming the slot: that row is issued again."""
        from ledger.model.statuslist import SLOTS_PER_LIST, allocate

        states: dict[int, dict[str, Any]] = {}
        number, room = 0, 0
        while room < count:
            states[number] = await self.status_list(number)
            room += max(0, SLOTS_PER_LIST - len(states[number]["taken"]))
            number += 1
        slots = allocate({n: set(st["taken"]) for n, st in states.items()}, count)
        return slots, sorted({n for n, _ in slots if states[n]["published_index"] is None})

    async def slot_of(self, digest: str) -> tuple[int, int] | None:
        found = (await self._get(self.client, self.url, f"/api/v1/ledger/credentials/{digest}")).json()
        return None if found.get("status_list") is None else (found["status_list"], found["status_index"])

    async def close(self) -> None:
        await self.client.aclose()


class Refused(EduledgerError):
    """The node refused a request (4xx), with its reason."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


async def open_node(data_dir: Path, database_url: str | None, url: str | None, key: Path | None, institution: str | None, signs: bool) -> NodeAccess:
    if url is not None:
        if not signs and key is None:  # a bundle is public proof: asked for with the credential, no key needed
            import httpx

            return RemoteNode(httpx.AsyncClient(base_url=url.rstrip("/"), timeout=120), url, None, "", "", "")
        return await RemoteNode.open(url, key, institution)
    if key is not None:
        raise MalformedError("--key goes with --url; with --data-dir the node's own key file is used")
    return await LocalNode.open(data_dir, database_url, institution, signs=signs)


def run_with_node(
    work: Callable[[NodeAccess], Any], data_dir: Path, database_url: str | None, url: str | None, key: Path | None, institution: str | None,
    *, signs: bool = True,
) -> Any:
    """Open the node, run ``work(node)`` (a coroutine function), close the node; domain errors exit 2."""

    async def go() -> Any:
        node = await open_node(data_dir, database_url, url, key, institution, signs)
        try:
            return await work(node)
        finally:
            await node.close()

    try:
        return asyncio.run(go())
    except EduledgerError as e:
        raise fail(str(e)) from None
