"""`/pins [filters]` lists the team's pins; `/pins <pin id>` shows one."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import PinDetails, parse_pins
from bot.services import Services
from bot.w3ipfs import NotFoundError, W3IPFSError

from ._parse import parse_or_reply

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/pins")
    async def on_pins(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        parsed = await parse_or_reply(ack, command, parse_pins)
        if parsed is None:
            return
        await ack()
        try:
            if isinstance(parsed, PinDetails):
                pin = await services.pins.get_pin(parsed.pin_id)
                message = blocks.pin_details(pin, gateway_url=services.pins.gateway_url)
            else:
                page = await services.pins.list_pins(parsed)
                message = blocks.pins_list(page, parsed, gateway_url=services.pins.gateway_url)
        except NotFoundError:
            pin_id = parsed.pin_id if isinstance(parsed, PinDetails) else "?"
            message = blocks.notice(
                f"No pin with id `{blocks.escape(pin_id)}` exists on this account. "
                "`/pins` lists them all.", emoji=":grey_question:",
            )
        except W3IPFSError as exc:
            log.warning("/pins failed: %s", exc)
            message = blocks.failure("Could not list pins", exc.user_message)
        await respond(response_type="ephemeral", **message.as_kwargs())
