"""`/pin <CID> [name]`: pin content already on IPFS (once per team)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import PinCID, parse_pin
from bot.services import Services
from bot.store import LedgerUnavailable
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
        services.tasks.submit("/pin", pin, parsed, command, respond)

    async def pin(parsed: PinCID, command: dict[str, Any], respond: AsyncRespond) -> None:
        user = command.get("user_id", "")
        try:
            result = await services.pins.pin_cid(
                parsed.cid, parsed.name, team_id=command.get("team_id", ""), user_id=user,
                channel_id=command.get("channel_id"),
            )
        except (W3IPFSError, LedgerUnavailable) as exc:
            log.warning("/pin %s failed: %s", parsed.cid, exc)
            message = blocks.failure(f"Could not pin {parsed.cid}", exc.user_message)
            if isinstance(exc, LedgerUnavailable):
                message = blocks.failure(
                    f"Did not pin {parsed.cid}",
                    "pinbot cannot reach its database right now, so it could not check whether "
                    "the team already has this CID. Nothing was pinned; please try again in a "
                    "minute.",
                )
            await respond(response_type="ephemeral", **message.as_kwargs())
            return
        if result.existing is not None:
            owner = blocks.Owner(result.existing.user_id, result.existing.channel_id)
            who = owner.describe()
            card = blocks.pin_card(
                result.pin, gateway_url=services.pins.gateway_url,
                note=f"The team already has this CID ({who or 'pinned before'}); "
                     "not pinned again.",
            )
        else:
            card = blocks.pin_card(result.pin, gateway_url=services.pins.gateway_url,
                                   shared_by=user)
        await respond(response_type="ephemeral", **card.as_kwargs())
