"""The "Pin to IPFS" message shortcut: pin a message's files, one by one or as one folder."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.ids import MESSAGE_REF, InvalidId, parse_json
from bot.services import Services
from bot.slack_files import SlackFile
from bot.store import LedgerUnavailable

from ._parse import actor

log = logging.getLogger(__name__)

CALLBACK_ID = "pin_to_ipfs"
PIN_EACH, PIN_FOLDER = blocks.PIN_EACH, blocks.PIN_FOLDER


def _request_id(payload: dict[str, Any]) -> str:
    """The interaction's own identity: a retried delivery is the same request."""
    return str(payload.get("trigger_id") or payload.get("action_ts") or "")[:120]


def _clicked_in(body: dict[str, Any]) -> str:
    """The channel whose message held the clicked button, as Slack reports it."""
    for field, key in (("channel", "id"), ("container", "channel_id")):
        where = body.get(field)
        if isinstance(where, dict) and isinstance(where.get(key), str):
            return str(where[key])
    return ""


def register(app: AsyncApp, services: Services) -> None:
    @app.shortcut(CALLBACK_ID)
    async def on_shortcut(
        ack: AsyncAck, shortcut: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        services.tasks.submit("shortcut", shortcut_work, shortcut, respond, client)

    async def shortcut_work(shortcut: dict[str, Any], respond: AsyncRespond,
                            client: AsyncWebClient) -> None:
        team = str((shortcut.get("team") or {}).get("id") or "")
        channel = str((shortcut.get("channel") or {}).get("id") or "")
        user = str((shortcut.get("user") or {}).get("id") or "")
        message = shortcut.get("message") or {}
        ts = str(message.get("ts") or "")
        files = [SlackFile.from_api(f) for f in message.get("files") or []
                 if isinstance(f, dict) and f.get("id")]
        if not files:
            files = await services.intake.message_files(client, channel, ts)
        if not files:
            await respond(response_type="ephemeral", **blocks.notice(
                "That message has no files to pin.").as_kwargs())
            return
        if len(files) == 1:
            await services.intake.pin_each(client, team_id=team, channel_id=channel,
                                           message_ts=ts, user_id=user, files=files,
                                           request_id=_request_id(shortcut))
            await respond(response_type="ephemeral", **blocks.notice(
                f"Pinning *{blocks.inline_name(files[0].name)}*: the result will be in the "
                "message's thread.", emoji=":pushpin:").as_kwargs())
            return
        value = json.dumps({"c": channel, "ts": ts, "t": message.get("thread_ts")})
        choice = blocks.shortcut_choice(len(files), value)
        await respond(response_type="ephemeral", **choice.as_kwargs())

    @app.action(PIN_EACH)
    @app.action(PIN_FOLDER)
    async def on_choice(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any],
                        respond: AsyncRespond, client: AsyncWebClient,
                        context: AsyncBoltContext) -> None:
        await ack()
        services.tasks.submit("shortcut choice", choice_work, action, body, respond, client)

    async def choice_work(action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
                          client: AsyncWebClient) -> None:
        try:
            target = parse_json(action.get("value"), MESSAGE_REF)
            if target.c != _clicked_in(body):
                # The choice is shown only in the shortcut's channel. A value naming another
                # channel is forged: it would publish files of a channel the person may not
                # be able to read (the bot token reads them all).
                raise InvalidId("shortcut choice names another channel")
        except InvalidId:
            log.warning("shortcut choice with a malformed value %r", str(action.get("value"))[:80])
            await respond(replace_original=False, response_type="ephemeral", **blocks.notice(
                "pinbot could not tell which message that was, so nothing was pinned. Use "
                "*Pin to IPFS* on the message again.", emoji=":warning:").as_kwargs())
            return
        channel, ts, thread = target.c, target.ts, target.t
        team, user = actor(body)
        files = await services.intake.message_files(client, channel, ts)
        if action.get("action_id") == PIN_FOLDER:
            try:
                await services.intake.pin_folder(team_id=team, channel_id=channel,
                                                 message_ts=ts, thread_ts=thread, user_id=user,
                                                 files=files, request_id=_request_id(body))
            except LedgerUnavailable as exc:
                await respond(replace_original=True, **blocks.failure(
                    "Could not pin the folder", exc.user_message).as_kwargs())
                return
            await respond(replace_original=True, **blocks.notice(
                f"Pinning {len(files)} files as one folder: the result will be in the "
                "message's thread.", emoji=":pushpin:").as_kwargs())
            return
        await services.intake.pin_each(client, team_id=team, channel_id=channel, message_ts=ts,
                                       user_id=user, files=files, request_id=_request_id(body))
        await respond(replace_original=True, **blocks.notice(
            f"Pinning {len(files)} files: the results will be in the message's thread.",
            emoji=":pushpin:").as_kwargs())
