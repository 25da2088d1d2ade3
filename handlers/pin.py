"""`/pin <CID> [name]`: pin content already on IPFS (once per team)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.commands import AutoPin, Keep, PinCID, Quota, Retention, Setup, parse_pin
from bot.pins.workspace import NotAllowed
from bot.services import Services
from bot.store import LedgerUnavailable

from ._parse import parse_or_reply
from .keys import open_keys
from .quota import quota_command
from .retention import keep_command, retention_command

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/pin")
    async def on_pin(
        ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        parsed = await parse_or_reply(ack, command, parse_pin)
        if parsed is None:
            return
        if isinstance(parsed, Setup):
            await ack()
            services.tasks.submit("keys dialog", open_keys, services, client,
                                  command.get("trigger_id", ""), command.get("team_id", ""),
                                  command.get("user_id", ""))
            return
        if isinstance(parsed, AutoPin):
            await ack()
            services.tasks.submit("/pin auto", auto_pin, parsed, command, respond, client)
            return
        if isinstance(parsed, Retention):
            await ack()
            services.tasks.submit("/pin retention", retention_command, services, parsed,
                                  command, respond, client)
            return
        if isinstance(parsed, Keep):
            await ack()
            services.tasks.submit("/pin keep", keep_command, services, parsed, command,
                                  respond, client)
            return
        if isinstance(parsed, Quota):
            await ack()
            services.tasks.submit("/pin quota", quota_command, services, parsed, command,
                                  respond, client)
            return
        await ack(response_type="ephemeral",
                  text=f":hourglass_flowing_sand: Pinning `{parsed.cid}`…")
        services.tasks.submit("/pin", pin, parsed, command, respond)

    async def auto_pin(
        parsed: AutoPin, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        team, user = command.get("team_id", ""), command.get("user_id", "")
        channel = command.get("channel_id", "")
        try:
            enabled = await services.workspaces.auto_pin(client, team, channel, user,
                                                         parsed.enabled)
        except NotAllowed as refusal:
            await respond(response_type="ephemeral",
                          **blocks.notice(str(refusal), emoji=":no_entry:").as_kwargs())
            return
        except LedgerUnavailable as exc:
            await respond(response_type="ephemeral",
                          **blocks.failure("Could not change auto-pinning",
                                           exc.user_message).as_kwargs())
            return
        state = "on" if enabled else "off"
        verb = "is now" if parsed.enabled is not None else "is"
        message = blocks.notice(
            f"Automatic pinning of shared files {verb} *{state}* in <#{channel}>."
            + ("" if parsed.enabled is not None else
               " Admins can change it with `/pin auto on` or `/pin auto off`."),
            emoji=":pushpin:" if enabled else ":no_entry_sign:")
        await respond(response_type="ephemeral", **message.as_kwargs())

    async def pin(parsed: PinCID, command: dict[str, Any], respond: AsyncRespond) -> None:
        """Record the job; its answer comes through the command's response_url."""
        try:
            await services.intake.pin_cid(
                team_id=command.get("team_id", ""), channel_id=command.get("channel_id", ""),
                user_id=command.get("user_id", ""), cid=parsed.cid, name=parsed.name,
                response_url=command.get("response_url"),
                request_id=str(command.get("trigger_id") or parsed.cid),
            )
        except LedgerUnavailable as exc:
            log.warning("/pin %s not recorded: %s", parsed.cid, exc)
            await respond(response_type="ephemeral", **blocks.failure(
                f"Did not pin {parsed.cid}",
                "pinbot cannot reach its database right now, so it could not check whether "
                "the team already has this CID. Nothing was pinned; please try again in a "
                "minute.").as_kwargs())
