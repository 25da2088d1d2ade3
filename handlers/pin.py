"""`/pin <CID> [name]`: pin content already on IPFS."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import parse_pin
from bot.services import Services
from bot.w3ipfs import W3IPFSError

from ._parse import parse_or_reply

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/pin")
    async def on_pin(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        parsed = await parse_or_reply(ack, command, parse_pin)
        if parsed is None:
            return
        await ack(response_type="ephemeral",
                  text=f":hourglass_flowing_sand: Pinning `{parsed.cid}`…")
        try:
            pin = await services.pins.pin_cid(
                parsed.cid, parsed.name, command.get("team_id", ""), command.get("user_id", "")
            )
        except W3IPFSError as exc:
            log.warning("/pin %s failed: %s", parsed.cid, exc)
            await respond(response_type="ephemeral",
                          **blocks.failure(f"Could not pin {parsed.cid}", exc.user_message)
                          .as_kwargs())
            return
        card = blocks.pin_card(
            pin, gateway_url=services.pins.gateway_url, shared_by=command.get("user_id")
        )
        await respond(response_type="ephemeral", **card.as_kwargs())
