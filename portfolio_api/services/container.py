"""All portfolio services of one app, built once at start-up (app.state.portfolio)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from portfolio_api.db import create_engine, migrate, portfolio_url
from portfolio_api.services.accounts import Accounts
from portfolio_api.services.admin import Admin
from portfolio_api.services.audit import AuditLog
from portfolio_api.services.batches import Batches
from portfolio_api.services.context import Ctx
from portfolio_api.services.credentials import Credentials
from portfolio_api.services.documents import Documents
from portfolio_api.services.erasure import Erasure
from portfolio_api.services.shares import Portfolio
from portfolio_api.services.signin_links import SignInLinks
from portfolio_api.services.uploads import Uploads
from portfolio_api.vault import Vault, load_or_create_master_key


class Services:
    def __init__(self, ctx: Ctx, *, data_dir: Path, passphrase: bytes | None) -> None:
        self.ctx = ctx
        self.accounts = Accounts(ctx)
        self.links = SignInLinks(ctx, self.accounts)  # e-mailed sign-in and registration links (issue 16)
        self.credentials = Credentials(ctx, self.accounts)
        self.uploads = Uploads(ctx, self.accounts, self.credentials)
        self.portfolio = Portfolio(ctx, self.accounts, self.credentials, self.uploads)
        self.documents = Documents(ctx, self.accounts, self.credentials)
        self.batches = Batches(ctx, self.credentials)
        self.admin = Admin(ctx, self.accounts, data_dir, passphrase)
        self.audit = AuditLog(ctx)
        self.erasure = Erasure(ctx)
        self.background: set[asyncio.Future[Any]] = set()

    @classmethod
    def open(cls, *, node: Any, data_dir: Path, database_url: str, passphrase: bytes | None, upload_max_bytes: int,
             loop: asyncio.AbstractEventLoop | None, network_url: str) -> "Services":
        engine = create_engine(portfolio_url(database_url, data_dir))
        migrate(engine)
        ctx = Ctx(engine=engine, vault=Vault(load_or_create_master_key(data_dir)), node=node, clock=node.clock, loop=loop,
                  upload_max_bytes=upload_max_bytes, network_url=network_url)
        return cls(ctx, data_dir=data_dir, passphrase=passphrase)

    async def close(self) -> None:
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        self.ctx.engine.dispose()
