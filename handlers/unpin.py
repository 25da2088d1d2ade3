"""`/unpin <pin id> [more ids]`: look the pins up, ask to confirm (actions.py finishes)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import parse_unpin
from bot.services import Services
from bot.w3ipfs import W3IPFSError

from ._parse import parse_or_reply

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/unpin")
    async def on_unpin(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        parsed = await parse_or_reply(ack, command, parse_unpin)
        if parsed is None:
            return
        await ack()
        try:
            pins, unknown = await services.pins.lookup(parsed.pin_ids)
        except W3IPFSError as exc:
            log.warning("/unpin lookup failed: %s", exc)
            await respond(response_type="ephemeral",
                          **blocks.failure("Could not look up those pins", exc.user_message)
                          .as_kwargs())
            return
        await respond(response_type="ephemeral", **blocks.unpin_confirm(pins, unknown).as_kwargs())
