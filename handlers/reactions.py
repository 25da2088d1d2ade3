"""`reaction_added` with PINBOT_PIN_REACTION (default :pushpin:) pins the message's files."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.pinning import SharedFile
from bot.services import Services

log = logging.getLogger(__name__)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("reaction_added")
    async def on_reaction(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        services.tasks.submit("reaction_added", accept, body, event, client, context.team_id,
                              context.bot_user_id)

    async def accept(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context_team: str | None, bot_user_id: str | None,
    ) -> None:
        reaction = str(event.get("reaction") or "").split("::")[0]
        item = event.get("item") or {}
        user = str(event.get("user") or "")
        if reaction != services.settings.pin_reaction or item.get("type") != "message":
            return
        if not user or user == bot_user_id:
            return
        team = str(body.get("team_id") or context_team or "")
        channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
        event_id = str(body.get("event_id") or "")
        if event_id and not await services.pins.first_delivery(event_id, team):
            log.info("duplicate reaction event %s ignored", event_id)
            return
        files = await services.pins.message_files(client, channel, ts)
        if not files:
            try:
                await client.chat_postEphemeral(
                    channel=channel, user=user, **blocks.notice(
                        f"That message has no files, so there is nothing to pin "
                        f"(:{services.settings.pin_reaction}: pins a message's files).",
                        emoji=":information_source:").as_kwargs())
            except SlackApiError as exc:
                log.info("could not tell %s: %s", user, exc.response.get("error"))
            return
        log.info("%s asked to pin %d file(s) of %s/%s by reaction", user, len(files), channel,
                 ts)
        for file in files:
            shared = SharedFile(team, file.id, channel, user, job_key=f"reaction:{event_id}",
                                explicit=True)
            await services.dispatch(shared, client, bot_user_id)
