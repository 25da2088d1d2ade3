"""`reaction_added` with PINBOT_PIN_REACTION (default :pushpin:) pins the message's files."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("reaction_added")
    async def on_reaction(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        reaction = str(event.get("reaction") or "").split("::")[0]
        item = event.get("item") or {}
        user = str(event.get("user") or "")
        if reaction != services.settings.pin_reaction or item.get("type") != "message":
            return
        if not user or user == context.bot_user_id:
            return
        services.tasks.submit(
            "reaction_added", services.intake.reaction, client,
            team_id=str(body.get("team_id") or context.team_id or ""),
            event_id=str(body.get("event_id") or ""), channel_id=str(item.get("channel") or ""),
            message_ts=str(item.get("ts") or ""), user_id=user,
        )
