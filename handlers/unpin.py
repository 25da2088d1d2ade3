"""`/unpin <pin id> [more ids]`: look the pins up, ask to confirm (actions.py finishes)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import CommandError, Help, parse_unpin
from bot.services import Services
from bot.w3ipfs import W3IPFSError

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/unpin")
    async def on_unpin(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            parsed = parse_unpin(command.get("text", ""))
        except CommandError as exc:
            log.info("/unpin by %s refused: %s", command.get("user_id"), exc)
            await ack(response_type="ephemeral",
                      **blocks.notice(str(exc), emoji=":warning:").as_kwargs())
            return
        if isinstance(parsed, Help):
            await ack(response_type="ephemeral", **blocks.usage("/unpin").as_kwargs())
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
