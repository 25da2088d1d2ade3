"""One middleware for every interactive payload: a replay is acknowledged and does nothing.

Registered once for the whole app (not per listener), so every button, menu, modal submission
and shortcut — today's and any added later — is covered; which deliveries count as the same is
decided by `bot.replays.interaction_key`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse

from bot.replays import ReplayGuard
from bot.services import Services

from ._parse import actor

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    guard = ReplayGuard(services.ledger)

    @app.middleware
    async def drop_replays(body: dict[str, Any],
                           next_: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        """A second delivery of the same interaction gets an empty 200 (what an ack sends)
        and no listener runs; one log line says so."""
        if await guard.first_delivery(body):
            await next_()
            return None
        log.warning("dropped a replayed %s from %s", body.get("type"), actor(body)[1][:32])
        return BoltResponse(status=200, body="")
