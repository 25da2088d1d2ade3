"""`/pins [mine|here] [filters]` lists the team's pins; `/pins <pin id>` shows one;
`/pins audit` (admins) summarises the audit."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.commands import Audit, Cleanup, PinDetails, PinsQuery, parse_pins
from bot.services import Services
from bot.store import LedgerUnavailable
from bot.w3ipfs import NotFoundError, W3IPFSError

from ._parse import parse_or_reply
from .cleanup import open_cleanup

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    gateway = services.accounts.gateway_url

    @app.command("/pins")
    async def on_pins(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond,
                      client: AsyncWebClient) -> None:
        parsed = await parse_or_reply(ack, command, parse_pins)
        if parsed is None:
            return
        await ack()
        if isinstance(parsed, Cleanup):
            services.tasks.submit("cleanup dialog", open_cleanup, services, client,
                                  command.get("trigger_id", ""), command.get("team_id", ""),
                                  command.get("user_id", ""))
            return
        if isinstance(parsed, Audit):
            services.tasks.submit("/pins audit", audit, command, respond, client)
            return
        services.tasks.submit("/pins", pins, parsed, command, respond)

    async def audit(command: dict[str, Any], respond: AsyncRespond,
                    client: AsyncWebClient) -> None:
        try:
            message = await services.audit.report(client, command.get("team_id", ""),
                                                  command.get("user_id", ""))
        except LedgerUnavailable as exc:
            log.warning("/pins audit failed: %s", exc)
            message = blocks.failure("Could not show the audit", exc.user_message)
        await respond(response_type="ephemeral", **message.as_kwargs())

    async def pins(
        parsed: PinsQuery | PinDetails, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        team = command.get("team_id", "")
        try:
            if isinstance(parsed, PinDetails):
                pin, owner = await services.listing.details(parsed.pin_id, team)
                message = blocks.pin_details(pin, gateway_url=await gateway(team),
                                             owner=owner)
            else:
                query = parsed.for_context(command.get("user_id"), command.get("channel_id"))
                listing = await services.listing.list_pins(query, team)
                message = blocks.pins_list(listing.page, query,
                                           gateway_url=await gateway(team),
                                           owners=listing.owners)
        except NotFoundError:
            message = blocks.unknown_pin(parsed.pin_id if isinstance(parsed, PinDetails)
                                         else "?")
        except (W3IPFSError, LedgerUnavailable) as exc:
            log.warning("/pins failed: %s", exc)
            message = blocks.failure("Could not list pins", exc.user_message)
        await respond(response_type="ephemeral", **message.as_kwargs())
