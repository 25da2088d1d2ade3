"""`file_shared`: a file shared in a channel is pinned, and the result lands in its thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.pinning import SharedFile
from bot.services import Services

log = logging.getLogger(__name__)


def _event_time(body: dict[str, Any], event: dict[str, Any]) -> float | None:
    """When Slack says it happened: the envelope's event_time, else the event's own ts."""
    for value in (body.get("event_time"), event.get("event_ts")):
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            continue
    return None


def register(app: AsyncApp, services: Services) -> None:
    @app.event("file_shared")
    async def on_file_shared(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        # Slack's 200 leaves when this returns: dedupe and queueing happen after it.
        services.tasks.submit("file_shared", accept, body, event, client, context.team_id,
                              context.bot_user_id)

    async def accept(
        body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient,
        context_team: str | None, bot_user_id: str | None,
    ) -> None:
        event_id = str(body.get("event_id") or "")
        team_id = str(body.get("team_id") or context_team or "")
        file_id = event.get("file_id") or (event.get("file") or {}).get("id")
        channel = event.get("channel_id")
        if not file_id or not channel:
            log.warning("file_shared without file or channel id (event %s)", event_id)
            return
        if not await services.pins.auto_pins_in(team_id, str(channel)):
            log.info("file %s in %s not pinned: auto-pin is off there", file_id, channel)
            return
        if event_id and services.queue is not None and not await (
            services.queue.first_delivery(event_id)
        ):
            log.info("duplicate delivery of event %s (file %s) ignored", event_id, file_id)
            return
        if event_id and not await services.pins.first_delivery(event_id, team_id):
            log.info("duplicate delivery of event %s (file %s) ignored", event_id, file_id)
            return
        shared = SharedFile(
            team_id=team_id,
            file_id=str(file_id),
            channel_id=str(channel),
            user_id=str(event.get("user_id") or ""),
            event_ts=event.get("event_ts"),
            event_time=_event_time(body, event),
            job_key=event_id or None,
        )
        await services.dispatch(shared, client, bot_user_id)
