"""Team cleanup (admins): `/pins cleanup` or App Home -> filters -> preview -> confirm."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.ids import InvalidId
from bot.pins.cleanup import CleanupFilter, parse_filters
from bot.services import Services
from bot.slack import replies
from bot.store import LedgerUnavailable

from ._parse import actor

log = logging.getLogger(__name__)

NOT_ADMIN = ("Only admins (workspace admins, or users in PINBOT_ADMIN_USERS) can run a team "
             "cleanup.")



async def open_cleanup(
    services: Services, client: AsyncWebClient, trigger_id: str, team: str, user: str
) -> None:
    """Admins get the filters dialog; anyone else a modal saying who can."""
    admin = await services.cleanup.is_admin(client, team, user)
    view = blocks.cleanup_modal() if admin else blocks.notice_modal("Team cleanup", NOT_ADMIN)
    await replies.open_view(client, trigger_id, view)


def register(app: AsyncApp, services: Services) -> None:
    @app.action(blocks.HOME_CLEANUP)
    async def on_home_cleanup(ack: AsyncAck, body: dict[str, Any],
                              client: AsyncWebClient) -> None:
        await ack()
        services.tasks.submit("cleanup dialog", open_cleanup, services, client,
                              str(body.get("trigger_id") or ""), *actor(body))

    @app.view(blocks.CLEANUP_MODAL)
    async def on_filters(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                         client: AsyncWebClient) -> None:
        team, user = actor(body)
        state = view.get("state")
        parsed = parse_filters(state.get("values") if isinstance(state, dict) else None)
        if isinstance(parsed, dict):
            await ack(response_action="errors", errors=parsed)
            return
        if not await services.cleanup.is_admin(client, team, user):
            await ack(response_action="update",
                      view=blocks.notice_modal("Team cleanup", NOT_ADMIN))
            return
        try:
            rows = await services.cleanup.preview(team, parsed)
        except LedgerUnavailable as exc:
            await ack(response_action="update",
                      view=blocks.notice_modal("Team cleanup", exc.user_message))
            return
        size = sum(r.size or 0 for r in rows)
        await ack(response_action="update", view=blocks.cleanup_preview(
            parsed.describe(), [r.as_pin() for r in rows[:10]], len(rows), size,
            parsed.to_json()))

    @app.view(blocks.CLEANUP_CONFIRM)
    async def on_confirm(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                         client: AsyncWebClient) -> None:
        team, user = actor(body)
        try:
            flt = CleanupFilter.from_json(view.get("private_metadata"))
        except InvalidId as exc:
            log.warning("cleanup confirm from %s with malformed filters: %s", user[:32], exc)
            await ack(response_action="update", view=blocks.notice_modal(
                "Team cleanup", "That cleanup could not be read, so nothing was unpinned. "
                "Start again with `/pins cleanup`."))
            return
        await ack()  # closes the dialog; progress arrives as a message
        services.tasks.submit("cleanup", confirmed, client, team, user, flt)

    async def confirmed(client: AsyncWebClient, team: str, user: str,
                        flt: CleanupFilter) -> None:
        if not await services.cleanup.is_admin(client, team, user):
            log.warning("cleanup confirm by non-admin %s refused", user)
            return
        await services.cleanup.run(client, team, user, flt)
