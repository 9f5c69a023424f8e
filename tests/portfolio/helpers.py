"""Shared fixtures of the e-portfolio tests: a three-institution network served by one app.

(No tests here; the module is imported by tests/portfolio/ and tests/web/.)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.node import Node, NodeOptions
from ledger.node.datadir import InstitutionSpec, init_network, load_keys
from ledger.storage import open_store
from portfolio_api.app import create_app
from portfolio_api.settings import Settings
from tests.nodeproc import FAST_KDF, PASSPHRASE

NET = "portfolio.example/net"
PASSWORD = "correct horse battery"
PEOPLE = {
    "net": ("net@example.org", "Администратор сети", "net_admin", None),
    "olymp_admin": ("admin@olymp.example.org", "Ольга Белова", "inst_admin", "olymp"),
    "olymp": ("staff@olymp.example.org", "Сергей Орлов", "staff", "olymp"),
    "school": ("staff@school.example.org", "Елена Лебедева", "staff", "school-1"),
    "uni": ("admissions@uni.example.org", "Приёмная комиссия", "inst_admin", "uni-1"),
    "maria": ("maria@example.org", "Мария Иванова", "student", None),
    "petr": ("petr@example.org", "Пётр Смирнов", "student", None),
    "anna": ("anna@example.org", "Анна Кузнецова", "teacher", None),
}

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%demo scan\n" + b"0" * 64 + b"\n%%EOF\n"


@dataclass
class Env:
    app: Any
    client: TestClient
    data: Path
    users: dict[str, Any] = field(default_factory=dict)

    @property
    def svc(self) -> Any:
        return self.app.state.portfolio

    @property
    def node(self) -> Any:
        return self.app.state.node

    def browser(self, who: str | None = None) -> TestClient:
        """A separate cookie jar, signed in as ``who`` (None: anonymous)."""
        c = TestClient(self.app, follow_redirects=False)
        c.get("/login")
        if who is not None:
            email = PEOPLE[who][0]
            r = c.post("/login", data={"email": email, "password": PASSWORD, "csrf": c.cookies.get("edu_csrf")})
            assert r.status_code == 303, r.text
        return c


def form(c: TestClient, url: str, data: dict | None = None, files: Any = None, **kw: Any):
    """POST a form the way a browser does: with the CSRF token of this cookie jar."""
    if c.cookies.get("edu_csrf") is None:
        c.get("/login")
    return c.post(url, data={**(data or {}), "csrf": c.cookies.get("edu_csrf")}, files=files, **kw)


def make_env(tmp_path: Path, database_url: str | None = None) -> tuple[Any, Path]:
    data = tmp_path / "node"
    genesis = init_network(
        data,
        network=NET,
        institutions=[
            InstitutionSpec("olymp", "Центр олимпиад «Перспектива»", "olympiad-organiser"),
            InstitutionSpec("school-1", "Школа № 1", "school"),
            InstitutionSpec("uni-1", "Государственный университет", "university"),
            # Four institutions: quorum 2 counts two of the three besides the sequencer, so one can be suspended.
            InstitutionSpec("lyc-1", "Лицей № 2", "school"),
        ],
        sequencer="olymp",
        quorum=2,
        passphrase=PASSPHRASE.encode(),
        created=int(time.time()) - 60,
        kdf_params=FAST_KDF,
    )
    url = database_url or f"sqlite:///{data / 'ledger.db'}"
    node = Node(open_store(url), genesis, load_keys(data, PASSPHRASE.encode()), options=NodeOptions(batch_ms=5))
    app = create_app(Settings(data_dir=data, database_url=url), node=node, passphrase=PASSPHRASE.encode())
    return app, data


@pytest.fixture
def env(tmp_path: Path):
    app, data = make_env(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        e = Env(app, client, data)
        for key, (email, name, role, inst) in PEOPLE.items():
            e.users[key] = e.svc.accounts.create(email, PASSWORD, name, role, inst)
        yield e
