"""Per-workspace pinning keys: `/pin setup` and App Home open the modal; uninstall forgets."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, logs
from bot.pins.workspace import NotAllowed
from bot.services import Services
from bot.slack import replies
from bot.store import LedgerUnavailable

from ._parse import actor

log = logging.getLogger(__name__)

CHECK_WITHIN = 2.5  # seconds: a view submission must be answered within Slack's 3 s


async def open_keys(services: Services, client: AsyncWebClient, trigger_id: str, team: str,
                    user: str) -> None:
    """Admins get the keys dialog; others (or a bot without PINBOT_ENCRYPTION_KEY) a notice."""
    state = await services.workspaces.keys_state(client, team, user)
    view = (blocks.notice_modal("Pinning keys", state.reason) if state.reason
            else blocks.keys_modal(state.last4))
    await replies.open_view(client, trigger_id, view)


def _text(values: dict[str, Any], block: str) -> str:
    return str(((values.get(block) or {}).get("v") or {}).get("value") or "").strip()


def register(app: AsyncApp, services: Services) -> None:
    @app.action(blocks.HOME_KEYS)
    async def on_home_keys(ack: AsyncAck, body: dict[str, Any],
                           client: AsyncWebClient) -> None:
        await ack()
        services.tasks.submit("keys dialog", open_keys, services, client,
                              str(body.get("trigger_id") or ""), *actor(body))

    @app.view(blocks.KEYS_MODAL)
    async def on_keys(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any],
                      client: AsyncWebClient) -> None:
        team, user = actor(body)
        values = (view.get("state") or {}).get("values") or {}
        api_key, secret_key = _text(values, "api_key"), _text(values, "secret_key")
        logs.add_secret(api_key, secret_key)  # never logged from here on, whatever happens
        errors = {b: "Required" for b, v in (("api_key", api_key), ("secret_key", secret_key))
                  if not v}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        try:
            ending = await services.workspaces.set_keys(client, team, user, api_key, secret_key)
        except NotAllowed as refusal:
            await ack(response_action="update", view=blocks.notice_modal(
                "Pinning keys", str(refusal)))
            return
        except ValueError as problem:
            await ack(response_action="errors", errors={"api_key": str(problem)})
            return
        except LedgerUnavailable as exc:
            await ack(response_action="errors", errors={"api_key": exc.user_message[:150]})
            return
        await ack(response_action="update", view=blocks.notice_modal(
            "Pinning keys", f"Saved. Pins from this workspace now go to the account whose API "
                            f"key ends in `{blocks.escape(ending)}`."))

    @app.event("app_uninstalled")
    async def on_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        services.tasks.submit("forget workspace", services.workspaces.forget,
                              str(body.get("team_id") or context.team_id or ""))

    @app.event("tokens_revoked")
    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any],
                                context: AsyncBoltContext) -> None:
        if (event.get("tokens") or {}).get("bot"):
            services.tasks.submit("forget workspace", services.workspaces.forget,
                                  str(body.get("team_id") or context.team_id or ""))
