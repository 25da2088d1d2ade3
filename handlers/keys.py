"""Per-workspace pinning keys: `/pin setup` and App Home open the modal; uninstall forgets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, logs
from bot.keys import last4
from bot.services import Services
from bot.store import LedgerUnavailable
from bot.w3ipfs import AuthenticationError, W3IPFSError

from ._parse import actor

log = logging.getLogger(__name__)

CHECK_WITHIN = 2.5  # seconds: a view submission must be answered within Slack's 3 s


async def open_keys(services: Services, client: AsyncWebClient, trigger_id: str, team: str,
                    user: str) -> None:
    """Admins get the keys dialog; others (or a bot without PINBOT_ENCRYPTION_KEY) a notice."""
    if services.pins.vault is None:
        view = blocks.notice_modal("Pinning keys", "Per-workspace keys need "
                                   "PINBOT_ENCRYPTION_KEY set on the server first.")
    elif not await services.pins.admins.is_admin(client, team, user):
        view = blocks.notice_modal("Pinning keys", "Only admins can change the pinning keys.")
    else:
        try:
            stored = await services.pins.keys.get(team)
        except LedgerUnavailable as exc:
            view = blocks.notice_modal("Pinning keys", exc.user_message)
        else:
            view = blocks.keys_modal(stored.last4 if stored else None)
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        log.warning("views.open (keys) failed: %s", exc.response.get("error"))


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
        vault = services.pins.vault
        if vault is None or not await services.pins.admins.is_admin(client, team, user):
            await ack(response_action="update", view=blocks.notice_modal(
                "Pinning keys", "Only admins can change the pinning keys."))
            return
        errors = {b: "Required" for b, v in (("api_key", api_key), ("secret_key", secret_key))
                  if not v}
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        candidate = services.w3ipfs.with_credentials(api_key, secret_key)
        try:
            await asyncio.wait_for(candidate.test_authentication(), CHECK_WITHIN)
        except AuthenticationError:
            await ack(response_action="errors",
                      errors={"api_key": "The pinning service rejected this key pair."})
            return
        except (W3IPFSError, TimeoutError):
            await ack(response_action="errors", errors={
                "api_key": "The pinning service could not be reached to check the keys; "
                           "try again in a minute."})
            return
        try:
            await services.pins.keys.put(team, vault.encrypt(api_key), vault.encrypt(secret_key),
                                         last4(api_key), user)
        except LedgerUnavailable as exc:
            await ack(response_action="errors", errors={"api_key": exc.user_message[:150]})
            return
        services.pins.forget_team(team)
        log.info("team %s: pinning keys set by %s (…%s)", team, user, last4(api_key))
        await ack(response_action="update", view=blocks.notice_modal(
            "Pinning keys", f"Saved. Pins from this workspace now go to the account whose API "
                            f"key ends in `{blocks.escape(last4(api_key))}`."))

    @app.event("app_uninstalled")
    async def on_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        services.tasks.submit("forget workspace", forget, str(body.get("team_id") or
                                                              context.team_id or ""))

    @app.event("tokens_revoked")
    async def on_tokens_revoked(body: dict[str, Any], event: dict[str, Any],
                                context: AsyncBoltContext) -> None:
        if (event.get("tokens") or {}).get("bot"):
            services.tasks.submit("forget workspace", forget, str(body.get("team_id") or
                                                                  context.team_id or ""))

    async def forget(team: str) -> None:
        """An uninstalled workspace's tokens and pinning keys are deleted, not kept around.

        (Bolt runs only the first listener that matches an event, so this one also does
        what Bolt's own token-revocation listeners would.)
        """
        if services.installations is not None:
            try:
                await services.installations.async_delete_all(enterprise_id=None, team_id=team)
            except Exception as exc:  # the store's driver errors are not one family
                log.error("could not delete the installation of team %s: %r", team, exc)
        try:
            removed = await services.pins.keys.delete(team)
        except LedgerUnavailable as exc:
            log.error("could not delete keys of uninstalled team %s: %s", team, exc)
            return
        services.pins.forget_team(team)
        log.info("team %s uninstalled: keys %s", team, "deleted" if removed else "none stored")
