"""The verifier process (portfolio_api/services/verifier_process.py): POST /api/v1/verify answers from it
exactly as in process, follows the ledger's growth, and falls back to in-process verification when it dies."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from fastapi.testclient import TestClient

from portfolio_api.app import create_app
from portfolio_api.services.credentials import IssueRequest
from portfolio_api.settings import Settings
from tests.portfolio.helpers import PASSWORD, PEOPLE, Env, make_env


@pytest.fixture
def pair(tmp_path):
    """One node's data served by two apps: with the verifier process and without it."""
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        env = Env(app, client, data)
        for key, (email, name, role, inst) in PEOPLE.items():
            env.users[key] = env.svc.accounts.create(email, PASSWORD, name, role, inst)
        node = app.state.node
        with_process = create_app(Settings(data_dir=data, database_url=f"sqlite:///{data / 'ledger.db'}", verify_process=True), node=node)
        yield env, with_process


def _issue(env, title: str) -> bytes:
    c = env.svc.credentials.issue(env.users["olymp"], IssueRequest("maria@example.org", "olympiad", title, "2026-03-01"))
    return env.svc.documents.bundle(c.id)


def _post(client, body: bytes | list, **kw):
    if isinstance(body, list):
        return client.post("/api/v1/verify", json=body)
    return client.post("/api/v1/verify", content=body, headers={"content-type": "application/json"}, **kw)


def test_reports_from_the_process_are_the_in_process_reports(pair):
    env, app = pair
    bundle = _issue(env, "Победитель олимпиады")
    tampered = json.loads(bundle)
    tampered["credential"]["credentialSubject"]["name"] = "Сидоров Сидор"
    with TestClient(app) as client:
        process = app.state.verifier_process
        assert process.running
        for body in (bundle, [json.loads(bundle), tampered]):
            ours, reference = _post(client, body), _post(env.client, body)
            assert ours.status_code == reference.status_code == 200
            assert ours.content == reference.content  # byte for byte
        files = {"file": ("diploma.json", bundle, "application/json")}
        assert client.post("/api/v1/verify", files=files).json() == env.client.post("/api/v1/verify", files=files).json()
        assert _post(client, b'{"format": ').status_code == 400  # not JSON: still a bad request
        assert process.answered == 4  # every document above went through the process
    assert not process.running  # stopped with the app


def test_the_process_is_sent_the_new_trust_file_when_the_ledger_grows(pair):
    env, app = pair
    first = _issue(env, "Победитель олимпиады")
    with TestClient(app) as client:
        assert _post(client, first).json()["status"] == "verified"
        later = _issue(env, "Призёр олимпиады")  # a later checkpoint, a larger log
        report = _post(client, later).json()
        assert report["status"] == "verified" and report["checkpoint"]["size"] > json.loads(_post(client, first).content)["checkpoint"]["size"]


def test_when_the_process_dies_requests_are_verified_in_process_and_it_is_started_again(pair, monkeypatch):
    from portfolio_api.services import verifier_process

    env, app = pair
    bundle = _issue(env, "Победитель олимпиады")
    monkeypatch.setattr(verifier_process, "RESTART_EVERY", 0.5)
    with TestClient(app) as client:
        process = app.state.verifier_process
        first_pid = process.pid
        os.kill(first_pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.running and time.monotonic() < deadline:
            assert _post(client, bundle).json()["status"] == "verified"  # in process, or from it before it noticed
            time.sleep(0.05)
        assert not process.running
        assert _post(client, bundle).json()["status"] == "verified"  # too soon to restart: in process
        time.sleep(0.6)
        assert _post(client, bundle).json()["status"] == "verified"
        assert process.running and process.pid != first_pid


def test_a_process_that_hangs_is_killed_and_its_requests_are_verified_in_process(pair, monkeypatch):
    from portfolio_api.services import verifier_process

    env, app = pair
    bundle = _issue(env, "Победитель олимпиады")
    with TestClient(app) as client:
        process = app.state.verifier_process
        assert _post(client, bundle).json()["status"] == "verified"  # warm: its first answer may take long on a busy machine
        monkeypatch.setattr(verifier_process, "ANSWER_WITHIN", 0.5)
        os.kill(process.pid, signal.SIGSTOP)  # alive, but answers nothing
        started = time.monotonic()
        assert _post(client, bundle).json()["status"] == "verified"
        assert time.monotonic() - started < 10 and not process.running
