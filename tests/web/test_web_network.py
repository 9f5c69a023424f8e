"""The web UI shows the node's alerts: a banner on every page (Russian by default,
English on request) and the network page with peers, the latest final checkpoint,
its cosigners, and a fork's two signed checkpoints as evidence."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from ledger.node.datadir import witness_name
from ledger.tlog import merkle
from ledger.tlog.checkpoint import Checkpoint
from ledger.tlog.note import sign_note
from tests.portfolio.helpers import NET, env  # noqa: F401 - the fixture


def signed_view(node, tag: str, n: int) -> bytes:
    """A checkpoint signed with the node's log key over a tree of its own: one side of a split view."""
    cp = Checkpoint(NET, n, merkle.root([merkle.leaf_hash(f"{tag} {i}".encode()) for i in range(n)]))
    return (cp.body() + "\n" + sign_note(cp.body(), NET, node.keys.log).line()).encode()


def english(app) -> TestClient:
    c = TestClient(app, follow_redirects=False)
    c.cookies.set("edu_lang", "en")
    return c


def test_no_banner_and_the_network_page_shows_the_final_checkpoint_and_its_cosigners(env):
    home = env.client.get("/")
    assert home.status_code == 200 and "alert-banner" not in home.text
    page = env.client.get("/network")
    assert page.status_code == 200
    assert "Сеть организаций" in page.text and 'id="no-alert"' in page.text
    final = env.node.store.latest_final()
    assert f'id="final-size">{final[0]}<' in page.text
    cosigned = [witness_name(NET, inst) for inst in ("olymp", "school-1", "uni-1") if witness_name(NET, inst) in final[1].decode()]
    assert len(cosigned) >= 2 and all(name in page.text for name in cosigned)
    assert "Institution network" in english(env.app).get("/network").text


def test_a_fork_alert_shows_a_banner_on_every_page_and_both_checkpoints_on_the_network_page(env):
    view_a, view_b = signed_view(env.node, "a", 8), signed_view(env.node, "b", 10)
    env.node.record_fork("a log-signed tree of size 10 has another root at size 8", view_a, view_b, [bytes(32)])
    for path in ("/", "/verify", "/login", "/opportunities"):
        r = env.client.get(path)
        assert 'id="fork-alert"' in r.text and "Обнаружено раздвоение реестра" in r.text, path
    assert "Ledger fork detected" in english(env.app).get("/verify").text
    page = env.client.get("/network")
    assert 'id="fork-evidence"' in page.text
    for note in (view_a, view_b):
        assert note.decode() in page.text
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" in page.text  # the proof


def test_a_storage_alert_shows_its_banner_in_both_languages(env):
    env.node.store.set_meta(env.node.STORAGE_ALERT_KEY, json.dumps({"reason": "entry 5: stored entry bytes no longer hash to the verified leaf", "time": 1}))
    r = env.client.get("/")
    assert 'id="storage-alert"' in r.text and "База данных узла изменена" in r.text
    assert "This node&#39;s database was altered" in english(env.app).get("/").text
    page = env.client.get("/network")
    assert 'id="storage-evidence"' in page.text and "entry 5" in page.text
