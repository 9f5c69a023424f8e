"""Wires the opportunity services onto the app's ``Services`` and runs the notification sender.

Kept apart from ``container.py`` so the issue-7 services can be attached by ``create_app`` alone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from portfolio_api.services.discovery import Discovery
from portfolio_api.services.follows import Follows
from portfolio_api.services.notify import Mailer, MailSettings
from portfolio_api.services.opportunities import Opportunities


def attach(services: Any, mail: MailSettings) -> None:
    ctx = services.ctx
    services.opportunities = Opportunities(ctx, services.accounts, services.credentials)
    services.mailer = Mailer(ctx, services.accounts, services.opportunities, mail)
    services.opportunities.on_queued = services.mailer.wake
    services.discovery = Discovery(ctx, services.accounts, services.portfolio)
    services.follows = Follows(ctx, services.accounts, services.credentials, services.portfolio)


def start_sender(services: Any) -> asyncio.Task[None]:
    """The background sender (also re-indexes stale discoverable profiles when idle). Cancel it to stop."""
    return asyncio.get_running_loop().create_task(services.mailer.run(extra_work=services.discovery.refresh_stale), name="notify-sender")


async def stop_sender(task: asyncio.Task[None]) -> None:
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
