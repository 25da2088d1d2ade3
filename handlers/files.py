"""`file_shared`: a file shared in a channel is pinned, and the result lands in its thread."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services


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
        file_id = event.get("file_id") or (event.get("file") or {}).get("id")
        channel = event.get("channel_id")
        if not file_id or not channel:
            return  # nothing to pin (Bolt logs unexpected shapes itself)
        # Slack's 200 leaves when this returns: recording the job happens right after it.
        services.tasks.submit(
            "file_shared", services.intake.file_shared, client,
            team_id=str(body.get("team_id") or context.team_id or ""),
            event_id=str(body.get("event_id") or ""), file_id=str(file_id),
            channel_id=str(channel), user_id=str(event.get("user_id") or ""),
            event_time=_event_time(body, event),
        )
