"""A node over HTTP: checkpoints, tiles, proofs, submissions and clear errors for bad input."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from keys.keyfile import load_signer
from ledger.errors import PushbackError
from ledger.model.entries import Statement, sign_batch
from ledger.model.receipts import Receipt
from ledger.node import Node, NodeOptions
from ledger.node.datadir import InstitutionSpec, init_network, load_keys
from ledger.node.sequencer import Sequencer
from ledger.storage import open_store
from ledger.tlog import merkle, tiles
from ledger.tlog.checkpoint import verify_checkpoint
from ledger.tlog.encoding import b64d
from ledger.tlog.note import Verifier
from ledger.tlog.timefmt import format_time
from portfolio_api.app import create_app
from portfolio_api.settings import Settings
from tests.keyutil import RawSigner
from tests.nodeproc import FAST_KDF, PASSPHRASE

NET = "http.example/net"


@pytest.fixture
def network(tmp_path: Path):
    return make_network(tmp_path)


def make_network(tmp_path: Path):
    """A three-institution network (quorum 2) in ``tmp_path/node``: (data dir, genesis)."""
    data = tmp_path / "node"
    genesis = init_network(
        data,
        network=NET,
        institutions=[
            InstitutionSpec("seq-inst", "Sequencer", "olympiad-organiser"),
            InstitutionSpec("school-1", "School", "school"),
            InstitutionSpec("uni-1", "University", "university"),
        ],
        sequencer="seq-inst",
        quorum=2,
        passphrase=PASSPHRASE.encode(),
        created=int(time.time()) - 60,
        kdf_params=FAST_KDF,
    )
    return data, genesis


@pytest.fixture
def client(network, request):
    data, genesis = network
    url = getattr(request, "param", None) or f"sqlite:///{data / 'ledger.db'}"
    node = Node(open_store(url), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    app = create_app(Settings(data_dir=data), node=node)
    with TestClient(app) as c:
        c.node = node  # type: ignore[attr-defined]
        c.genesis = genesis  # type: ignore[attr-defined]
        c.signer = load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]  # type: ignore[attr-defined]
        yield c


def anchors(n: int, start: int = 0, inst: str = "school-1") -> list[Statement]:
    t = format_time(int(time.time()) - 5)
    return [Statement(NET, "credential.anchor", inst, {"digest": f"{i:064x}", "type": "olympiad-diploma", "issued_at": t}) for i in range(start, start + n)]


def submit(client, statements, signer=None):
    entries = sign_batch(statements, signer or client.signer)
    return client.post("/api/v1/ledger/entries", json={"entries": [e.to_json() for e in entries]})


def verified_checkpoint(client):
    g = client.genesis
    return verify_checkpoint(
        client.get("/checkpoint").content,
        log=Verifier.from_vkey(g.log_vkey),
        witnesses=[Verifier.from_vkey(f.witness_vkey) for f in g.founders],
        quorum=g.quorum,
        origin=NET,
    )


def test_submitted_entries_are_proven_under_a_quorum_cosigned_checkpoint(client):
    r = submit(client, anchors(10))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert all(x["accepted"] for x in results)
    vc = verified_checkpoint(client)
    assert vc.checkpoint.size == 13 and len(vc.cosigners) >= 2
    for item in results:
        p = client.get("/api/v1/ledger/proof/inclusion", params={"index": item["index"], "size": vc.checkpoint.size}).json()
        merkle.verify_inclusion(b64d(item["leaf_hash"], "h"), item["index"], vc.checkpoint.size, [b64d(h, "p") for h in p["proof"]], vc.checkpoint.root)


def test_tiles_let_a_mirror_recompute_the_root(client):
    submit(client, anchors(300))
    vc = verified_checkpoint(client)
    size = vc.checkpoint.size
    full, partial = tiles.tiles_for_size(0, size)
    datas: list[bytes] = []
    for n in range(full):
        datas += tiles.parse_entry_bundle(client.get(f"/tile/entries/{tiles.encode_index(n)}").content)
    datas += tiles.parse_entry_bundle(client.get(f"/tile/entries/{tiles.encode_index(full)}.p/{partial}").content)
    assert len(datas) == size
    leaves = merkle.hash_leaves(datas)
    assert merkle.root(leaves) == vc.checkpoint.root
    hash_tile = client.get("/tile/0/000").content
    assert tiles.parse_hash_tile(hash_tile) == leaves[:256]
    assert client.get("/tile/0/000").headers["cache-control"].endswith("immutable")
    assert client.get(f"/tile/0/{tiles.encode_index(full)}.p/{partial + 1}").status_code == 404
    assert client.get("/tile/9/000").status_code == 404
    assert client.get("/tile/entries/abc").status_code == 404


def test_consistency_proof_between_two_checkpoints(client):
    submit(client, anchors(5))
    old = verified_checkpoint(client).checkpoint
    submit(client, anchors(7, start=100))
    new = verified_checkpoint(client).checkpoint
    p = client.get("/api/v1/ledger/proof/consistency", params={"old": old.size, "new": new.size}).json()
    merkle.verify_consistency(old.size, new.size, old.root, new.root, [b64d(h, "p") for h in p["proof"]])


def test_resubmission_is_idempotent(client):
    statements = anchors(3)
    first = submit(client, statements).json()["results"]
    size = client.get("/api/v1/ledger/status").json()["size"]
    again = submit(client, statements).json()["results"]
    assert [x["index"] for x in again] == [x["index"] for x in first]
    assert all(x["duplicate"] for x in again)
    assert client.get("/api/v1/ledger/status").json()["size"] == size


def test_blocks_are_hash_chained(client):
    submit(client, anchors(3))
    submit(client, anchors(3, start=50))
    blocks = client.get("/api/v1/ledger/blocks").json()
    assert len(blocks) >= 3
    for prev, cur in zip(blocks, blocks[1:]):
        assert cur["header"]["prev"] == prev["hash"]
        assert cur["header"]["first_index"] == prev["header"]["tree_size"]


def test_credential_status_endpoint(client):
    submit(client, anchors(1, start=77))
    assert client.get(f"/api/v1/ledger/credentials/{77:064x}").json()["status"] == "valid"
    assert client.get(f"/api/v1/ledger/credentials/{78:064x}").json()["status"] == "unknown"
    assert client.get("/api/v1/ledger/credentials/nothex").status_code == 400


@pytest.mark.parametrize(
    "body, status, words",
    [
        (b"not json", 400, "not valid JSON"),
        (b"[]", 400, "entries"),
        (b'{"entries": []}', 400, "at least one"),
        (b'{"entries": [{"v": 1}]}', 400, "entry 0"),
    ],
)
def test_malformed_submissions_get_a_clear_4xx(client, body, status, words):
    size = client.get("/api/v1/ledger/status").json()["size"]
    r = client.post("/api/v1/ledger/entries", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status and words in r.json()["detail"]
    assert client.get("/api/v1/ledger/status").json()["size"] == size


def test_forged_signature_is_refused_and_nothing_written(client):
    entries = sign_batch(anchors(2), client.signer)
    body = [e.to_json() for e in entries]
    body[1]["body"]["digest"] = "f" * 64
    size = client.get("/api/v1/ledger/status").json()["size"]
    r = client.post("/api/v1/ledger/entries", json={"entries": body})
    assert r.status_code == 403 and "signature" in r.json()["detail"]
    assert client.get("/api/v1/ledger/status").json()["size"] == size


def test_unregistered_key_is_refused_with_403_and_nothing_written(client):
    size = client.get("/api/v1/ledger/status").json()["size"]
    r = submit(client, anchors(2), signer=RawSigner())
    assert r.status_code == 403 and "not a key of school-1" in r.json()["detail"]
    assert client.get("/api/v1/ledger/status").json()["size"] == size


def test_bad_proof_queries_are_4xx(client):
    assert client.get("/api/v1/ledger/proof/inclusion", params={"index": 99, "size": 3}).status_code == 400
    assert client.get("/api/v1/ledger/proof/inclusion", params={"index": 0, "size": 999}).status_code == 404
    assert client.get("/api/v1/ledger/proof/inclusion", params={"index": "x", "size": 1}).status_code == 422
    assert client.get("/api/v1/ledger/proof/consistency", params={"old": 5, "new": 2}).status_code == 400
    assert client.get("/api/v1/ledger/entries/999").status_code == 404
    assert client.get("/api/v1/ledger/blocks/999").status_code == 404


def test_full_queue_answers_503_with_retry_after(client, monkeypatch):
    async def full(entries):
        raise PushbackError("sequencing queue is full", retry_after=2)

    monkeypatch.setattr(client.node.sequencer, "submit", full)
    r = submit(client, anchors(1))
    assert r.status_code == 503 and r.headers["retry-after"] == "2"


def test_openapi_documents_the_ledger_api(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/checkpoint", "/api/v1/ledger/entries", "/api/v1/ledger/proof/inclusion", "/api/v1/ledger/proof/consistency"):
        assert p in paths


class _BlockingLog:
    """A Log double whose store step blocks until released (to fill the queue)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.store = type("S", (), {"latest_checkpoint": staticmethod(lambda: (10**9, b""))})()

    def prepare_blocks(self, groups):
        return groups

    def store_prepared(self, groups):
        self.release.wait(10)

    def finish_prepared(self, groups):
        return [[Receipt(i, b"\0" * 32) for i, _ in enumerate(entries)] for entries in groups], sum(map(len, groups))


def test_sequencer_pushes_back_when_the_queue_is_full():
    async def scenario():
        log = _BlockingLog()
        seq = Sequencer(log, batch_max=2, batch_ms=0, queue_max=2)  # type: ignore[arg-type]
        await seq.start()
        statements = anchors(5)
        first = asyncio.create_task(seq.submit(statements[:2]))  # taken into a block, blocks in append
        await asyncio.sleep(0.05)
        second = asyncio.create_task(seq.submit(statements[2:4]))  # waits in the queue
        await asyncio.sleep(0.05)
        with pytest.raises(PushbackError):
            await seq.submit(statements[4:5])
        log.release.set()
        assert len(await first) == 2 and len(await second) == 2
        await seq.stop()

    asyncio.run(scenario())


def test_restart_keeps_everything_and_resigns_nothing_new(network):
    data, genesis = network
    url = f"sqlite:///{data / 'ledger.db'}"

    def open_node():
        return Node(open_store(url), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))

    with TestClient(create_app(Settings(data_dir=data), node=open_node())) as c:
        c.genesis, c.signer = genesis, load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]
        submit(c, anchors(4))
        before = c.get("/checkpoint").content
    with TestClient(create_app(Settings(data_dir=data), node=open_node())) as c:
        assert c.get("/checkpoint").content == before
        assert c.get("/api/v1/ledger/status").json()["size"] == 7


def test_status_reports_the_final_size(client):
    submit(client, anchors(2))
    s = client.get("/api/v1/ledger/status").json()
    assert s["final_size"] == s["size"] == 5 and s["network"] == NET
    assert s["sequencer"] is True


@pytest.mark.postgres
def test_the_same_node_code_runs_on_postgresql(network, pg_store_url):
    data, genesis = network
    node = Node(open_store(pg_store_url), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    with TestClient(create_app(Settings(data_dir=data), node=node)) as c:
        c.genesis, c.signer, c.node = genesis, load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0], node
        r = submit(c, anchors(40))
        assert r.status_code == 200 and all(x["accepted"] for x in r.json()["results"])
        vc = verified_checkpoint(c)
        assert vc.checkpoint.size == 43
        item = r.json()["results"][7]
        p = c.get("/api/v1/ledger/proof/inclusion", params={"index": item["index"], "size": 43}).json()
        merkle.verify_inclusion(b64d(item["leaf_hash"], "h"), item["index"], 43, [b64d(h, "p") for h in p["proof"]], vc.checkpoint.root)
    from ledger.node.audit import audit

    store = open_store(pg_store_url)
    try:
        assert audit(store, genesis).entries == 43
    finally:
        store.close()


def test_checkpoint_serves_only_final_checkpoints_and_the_newest_signed_one_has_its_own_path(network):
    """A sequencer whose witnesses never answer: its checkpoints are signed but never final."""
    from dataclasses import replace

    from ledger.errors import QuorumError

    data, genesis = network
    keys = replace(load_keys(data, PASSPHRASE.encode()), witness={})  # no witness reachable
    node = Node(open_store(f"sqlite:///{data / 'ledger.db'}"), genesis, keys, options=NodeOptions(batch_ms=5))
    with TestClient(create_app(Settings(data_dir=data), node=node)) as c:
        c.genesis, c.signer = genesis, load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]
        assert submit(c, anchors(2)).status_code == 200
        r = c.get("/checkpoint")
        assert r.status_code == 404 and "final" in r.json()["detail"] and "/api/v1/ledger/checkpoint/latest" in r.json()["detail"]
        newest = c.get("/api/v1/ledger/checkpoint/latest")
        assert newest.status_code == 200
        with pytest.raises(QuorumError):
            verify_checkpoint(
                newest.content,
                log=Verifier.from_vkey(genesis.log_vkey),
                witnesses=[Verifier.from_vkey(f.witness_vkey) for f in genesis.founders],
                quorum=genesis.quorum,
                origin=NET,
            )
        assert newest.content.startswith(f"{NET}\n5\n".encode())


def test_the_newest_checkpoint_is_the_final_one_once_cosigned(client):
    submit(client, anchors(3))
    assert client.get("/api/v1/ledger/checkpoint/latest").content == client.get("/checkpoint").content
    assert verified_checkpoint(client).checkpoint.size == 6


@pytest.mark.parametrize("witnesses", [("seq-inst", "school-1"), ("school-1",), ("school-1", "uni-1")])
def test_the_sequencers_own_witness_never_makes_a_checkpoint_final(network, witnesses):
    """Quorum 2: the sequencer's witness plus one other institution cosign, yet the checkpoint is not final;
    the two institutions besides the sequencer make it final."""
    from dataclasses import replace

    data, genesis = network
    everything = load_keys(data, PASSPHRASE.encode())
    keys = replace(everything, witness={i: s for i, s in everything.witness.items() if i in witnesses})
    node = Node(open_store(f"sqlite:///{data / 'ledger.db'}"), genesis, keys, options=NodeOptions(batch_ms=5))
    with TestClient(create_app(Settings(data_dir=data), node=node)) as c:
        c.genesis, c.signer = genesis, load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]
        assert submit(c, anchors(2)).status_code == 200
        size, _ = node.store.latest_checkpoint()
        cosigned = {name.rsplit("/", 1)[-1] for name, _ in node.store.cosignatures(size)}
        assert cosigned == set(witnesses)
        final = c.get("/checkpoint")
        if set(witnesses) == {"school-1", "uni-1"}:
            assert final.status_code == 200 and node.store.latest_final()[0] == size
        else:
            assert final.status_code == 404 and node.store.latest_final() is None


def test_wait_final_acknowledges_once_a_quorum_cosigned_and_the_status_says_final(client):
    statements = anchors(2, start=500)
    entries = sign_batch(statements, client.signer)
    r = client.post("/api/v1/ledger/entries?wait=final", json={"entries": [e.to_json() for e in entries]})
    assert r.status_code == 200 and r.json()["final"] is True
    last = max(x["index"] for x in r.json()["results"])
    assert r.json()["final_size"] > last
    status = client.get(f"/api/v1/ledger/credentials/{statements[0].body['digest']}").json()
    assert status["status"] == "valid" and status["final"] is True


def test_wait_final_answers_202_when_no_quorum_comes_in_time(network):
    from dataclasses import replace

    data, genesis = network
    keys = replace(load_keys(data, PASSPHRASE.encode()), witness={})  # no witness reachable: nothing becomes final
    node = Node(open_store(f"sqlite:///{data / 'ledger.db'}"), genesis, keys, options=NodeOptions(batch_ms=5))
    with TestClient(create_app(Settings(data_dir=data), node=node)) as c:
        signer = load_signer(data / "keys" / "school-1.signing.key", PASSPHRASE.encode())[0]
        statements = anchors(1, start=600)
        body = {"entries": [e.to_json() for e in sign_batch(statements, signer)]}
        r = c.post("/api/v1/ledger/entries?wait=final&timeout=0.3", json=body)
        assert r.status_code == 202 and r.json()["final"] is False and r.json()["results"][0]["accepted"]
        assert c.get(f"/api/v1/ledger/credentials/{statements[0].body['digest']}").json()["final"] is False
        for bad in ("wait=eventually", "wait=final&timeout=0", "wait=final&timeout=3600"):
            assert c.post(f"/api/v1/ledger/entries?{bad}", json=body).status_code in (400, 422)


def test_status_answers_before_the_node_holds_any_checkpoint(client, monkeypatch):
    """A replica that has not mirrored a checkpoint yet (just started, its witness still catching up) is
    asked for its status by operators and tests alike: it answers, with a null checkpoint, never a 404."""
    monkeypatch.setattr(client.node.store, "latest_final", lambda: None)
    monkeypatch.setattr(client.node.store, "latest_checkpoint", lambda: None)
    r = client.get("/api/v1/ledger/status")
    assert r.status_code == 200 and r.json()["checkpoint"] is None and r.json()["final_size"] is None
    assert "sequencer" in r.json()
