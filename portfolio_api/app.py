"""The node's HTTP application, built by ``create_app(settings)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from ledger.node import Node, NodeOptions
from portfolio_api import errors
from portfolio_api.bodylimit import BodyLimit
from portfolio_api.routers import contexts, credentials_api, didweb, health, ledger, network, statuslists, tlog, witness
from portfolio_api.security_headers import SecurityHeaders
from portfolio_api.settings import Settings

log = logging.getLogger("eduledger.app")


def create_app(settings: Settings, *, node: Node | None = None, passphrase: bytes | None = None) -> FastAPI:
    """Build the app. Pass ``node`` to serve an already-constructed node (tests);
    otherwise the node is opened from ``settings.data_dir`` at start-up with ``passphrase``
    (or the one resolved from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        n = node
        if n is None:
            from keys.passphrase import resolve_passphrase

            pw = passphrase if passphrase is not None else resolve_passphrase(prompt=False)
            n = Node.from_data_dir(
                settings.data_dir,
                settings.effective_database_url,
                pw,
                options=NodeOptions(
                    batch_max=settings.batch_max, batch_ms=settings.batch_ms, queue_max=settings.queue_max, group_max=settings.group_max,
                    witness_catchup_wait=settings.witness_catchup_wait,
                ),
                witness_dir=settings.witness_dir,
                witness_db=settings.witness_db,
            )
        await n.start()
        app.state.node = n
        services = None
        if settings.portfolio:
            import asyncio

            from portfolio_api.services.container import Services

            pw = passphrase if passphrase is not None else _resolve_quietly()
            services = await asyncio.to_thread(
                Services.open, node=n, data_dir=settings.data_dir, database_url=settings.effective_database_url, passphrase=pw,
                upload_max_bytes=settings.upload_max_bytes, loop=asyncio.get_running_loop(), network_url=settings.effective_network_url,
            )
            app.state.portfolio = services
            # After a crash or a restore the e-portfolio follows the ledger: in the background, since
            # anchoring may wait for a sequencer (services/credentials.py, reconcile).
            reconciling = asyncio.ensure_future(asyncio.to_thread(services.credentials.reconcile))
            services.background.add(reconciling)
            reconciling.add_done_callback(services.background.discard)
            from portfolio_api.services import opportunity_suite

            opportunity_suite.attach(services, settings.mail_settings)
            sender = opportunity_suite.start_sender(services)
            if settings.demo_seed:
                from portfolio_api.demo import seed_demo

                app.state.demo_logins = await asyncio.to_thread(seed_demo, services)
            if settings.verify_process:
                from portfolio_api.services.verifier_process import VerifierProcess

                documents = services.documents
                app.state.verifier_process = VerifierProcess(lambda: n.log.state, lambda: documents.trust().to_bytes())
                await app.state.verifier_process.start()
        if settings.gc_tuning:
            from verifier import gcpolicy

            gcpolicy.tune_process()  # process-wide: only the eduledger run process asks for it
        try:
            yield
        finally:
            if getattr(app.state, "verifier_process", None) is not None:
                await app.state.verifier_process.close()
            if services is not None:
                await opportunity_suite.stop_sender(sender)
                await services.close()
            await n.stop()

    app = FastAPI(
        title="eduledger node",
        version="0.1.0",
        description="A tamper-evident, cosigned record of learning achievements. "
        "Static C2SP tlog-tiles reads at the root; JSON API under /api/v1.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    errors.install(app)
    # Outside routing, CSRF checks and multipart parsing: no body is read past its route's limit.
    app.add_middleware(BodyLimit, settings=settings)
    app.add_middleware(SecurityHeaders)
    # Routes are matched in the order they are included, at a few microseconds each: the
    # endpoints a load balancer or a university's bulk checks call most come first.
    app.include_router(health.router)
    if settings.portfolio:
        from portfolio_api.routers import verify_api

        app.include_router(verify_api.router)
    app.include_router(tlog.router)
    app.include_router(ledger.router)
    app.include_router(witness.router)
    app.include_router(network.router)
    app.include_router(credentials_api.router)
    app.include_router(contexts.router)
    app.include_router(didweb.router)
    app.include_router(statuslists.router)
    if settings.portfolio:
        from pathlib import Path

        from fastapi.staticfiles import StaticFiles

        from portfolio_api.routers import (
            clr_api,
            opportunities_api,
            portfolio_api,
            web_admin,
            web_auth,
            web_network,
            web_opportunities,
            web_portfolio,
            web_qr,
            web_staff,
            web_verify,
        )
        from portfolio_api.web import ErrorPages

        app.state.render_error = ErrorPages()
        app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
        for r in (
            web_auth, web_portfolio, web_staff, web_verify, web_admin, web_network, portfolio_api, web_opportunities, opportunities_api,
        ):
            app.include_router(r.router)
        app.include_router(web_opportunities.unsubscribe_router)
        app.include_router(clr_api.router)  # GET /api/v1/shares/<token>/clr: a share link's CLR 2.0 record
        app.include_router(web_qr.router)  # GET /q/<digest>/<secret>: what a diploma's QR code opens
    return app


def _resolve_quietly() -> bytes | None:
    """The key passphrase from the environment, if set (needed only to onboard institutions)."""
    try:
        from keys.passphrase import resolve_passphrase

        return resolve_passphrase(prompt=False)
    except Exception:
        return None
