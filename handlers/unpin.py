"""`/unpin <pin id> [more ids]`: look the pins up, check who may, ask to confirm."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Unpin, parse_unpin
from bot.services import Services

from ._parse import parse_or_reply
from ._unpin import confirm_step

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/unpin")
    async def on_unpin(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        parsed = await parse_or_reply(ack, command, parse_unpin)
        if parsed is None:
            return
        await ack()
        services.tasks.submit("/unpin", unpin, parsed, command, respond, client)

    async def unpin(
        parsed: Unpin, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        message = await confirm_step(services, client, command.get("team_id", ""),
                                     command.get("user_id", ""), list(parsed.pin_ids))
        await respond(response_type="ephemeral", **message.as_kwargs())



