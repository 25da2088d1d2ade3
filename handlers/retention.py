"""`/pin retention`, `/pin keep|unkeep`, the Keep button and the apply-to-existing preview's
Confirm / Cancel: parse, call `services.retention` or `services.keeping`, answer ephemerally."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.commands import Keep, Retention
from bot.ids import RETENTION_REF, InvalidId, parse_json, parse_pin_id
from bot.pins.channel_retention import NotAdmin
from bot.pins.keep import unknown
from bot.services import Services
from bot.store import LedgerUnavailable

from ._parse import actor
from .actions import acked

log = logging.getLogger(__name__)

EPHEMERAL: dict[str, Any] = {"replace_original": False, "response_type": "ephemeral"}
STALE = ("That button is no longer valid, so nothing changed. Run `/pin retention <duration> "
         "--apply-to-existing` again.")


def _value(action: dict[str, Any]) -> str:
    value = action.get("value")
    return value if isinstance(value, str) else ""


def _click_channel(body: dict[str, Any]) -> str | None:
    """The channel the clicked message is in (a preview is only ever valid there)."""
    for field in (body.get("container"), body.get("channel")):
        if isinstance(field, dict):
            channel = field.get("channel_id") or field.get("id")
            if isinstance(channel, str) and channel:
                return channel
    return None


async def retention_command(services: Services, parsed: Retention, command: dict[str, Any],
                            respond: AsyncRespond, client: AsyncWebClient) -> None:
    team, user = command.get("team_id", ""), command.get("user_id", "")
    channel = command.get("channel_id", "")
    try:
        if parsed.seconds is None:
            message = await services.retention.show(team, channel)
        elif parsed.apply_to_existing and parsed.seconds > 0:
            message = await services.retention.preview(client, team, channel, user,
                                                       parsed.seconds)
        else:
            message = await services.retention.change(client, team, channel, user,
                                                      parsed.seconds)
    except NotAdmin as refusal:
        message = blocks.notice(str(refusal), emoji=":no_entry:")
    except LedgerUnavailable as exc:
        message = blocks.failure("Could not read or change the retention policy",
                                 exc.user_message)
    await respond(response_type="ephemeral", **message.as_kwargs())


async def keep_command(services: Services, parsed: Keep, command: dict[str, Any],
                       respond: AsyncRespond, client: AsyncWebClient) -> None:
    await respond(response_type="ephemeral", **(await _keep(
        services, client, command.get("team_id", ""), command.get("user_id", ""),
        parsed.pin_id, parsed.keep)).as_kwargs())


async def _keep(services: Services, client: AsyncWebClient, team: str, user: str,
                pin_id: str, keep: bool) -> blocks.Message:
    try:
        return await services.keeping.keep(client, team, user, pin_id, keep)
    except LedgerUnavailable as exc:
        return blocks.failure("Could not change the pin", exc.user_message)


def register(app: AsyncApp, services: Services) -> None:
    async def on_keep_button(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        team, user = actor(body)
        try:
            pin_id = parse_pin_id(_value(action))
        except InvalidId:
            log.warning("keep button from %s with a malformed value %r", user[:32],
                        _value(action)[:80])
            await respond(**EPHEMERAL, **unknown(_value(action)).as_kwargs())
            return
        message = await _keep(services, client, team, user, pin_id, True)
        await respond(**EPHEMERAL, **message.as_kwargs())

    async def on_apply(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        team, user = actor(body)
        try:
            ref = parse_json(_value(action), RETENTION_REF)
            if _click_channel(body) not in (None, ref.c):
                raise InvalidId("the preview was for another channel")
        except InvalidId as exc:
            log.warning("retention confirm from %s refused: %s", user[:32], exc)
            await respond(**EPHEMERAL, **blocks.notice(STALE, emoji=":warning:").as_kwargs())
            return
        try:
            message = await services.retention.apply(client, team, ref.c, user, ref.s)
        except NotAdmin as refusal:
            await respond(**EPHEMERAL,
                          **blocks.notice(str(refusal), emoji=":no_entry:").as_kwargs())
            return
        except LedgerUnavailable as exc:
            await respond(**EPHEMERAL, **blocks.failure(
                "Could not apply the retention policy", exc.user_message).as_kwargs())
            return
        await respond(replace_original=True, **message.as_kwargs())

    async def on_cancel(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await respond(replace_original=True, **blocks.notice(
            "Cancelled: the retention policy and the pins' expiries are unchanged."
        ).as_kwargs())

    for action_id, work in ((blocks.KEEP_BUTTON, on_keep_button),
                            (blocks.RETENTION_APPLY, on_apply),
                            (blocks.RETENTION_CANCEL, on_cancel)):
        app.action(action_id)(acked(services, work))
