"""Every message pinbot sends to Slack, in one place: post, update, ephemeral, respond, link.

Replies are best effort by design: the pin is the durable thing, and a failed reply must not
undo it or crash the job. So these never raise; a Slack error is logged once, here, with the
method and Slack's error code (never the token or the message body).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from ..blocks import Message

log = logging.getLogger(__name__)

#: The reactions that show a shared file's state on its message.
WORKING = "hourglass_flowing_sand"
DONE = "white_check_mark"
FAILED = "x"


def _error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or "unknown_error")
    return type(exc).__name__


async def post(
    client: AsyncWebClient, channel: str, message: Message, *, thread_ts: str | None = None
) -> str | None:
    """Post to a channel (in a thread when given); the message's ts, or None if it failed."""
    kwargs: dict[str, Any] = {"channel": channel, **message.as_kwargs()}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        response = await client.chat_postMessage(**kwargs)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.error("chat.postMessage to %s failed: %s", channel, _error(exc))
        return None
    return str(response.get("ts"))


async def update(client: AsyncWebClient, channel: str, ts: str, message: Message) -> bool:
    try:
        await client.chat_update(channel=channel, ts=ts, **message.as_kwargs())
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.error("chat.update %s/%s failed: %s", channel, ts, _error(exc))
        return False
    return True


async def ephemeral(
    client: AsyncWebClient, channel: str, user: str, message: Message,
    *, thread_ts: str | None = None,
) -> None:
    kwargs: dict[str, Any] = {"channel": channel, "user": user, **message.as_kwargs()}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    try:
        await client.chat_postEphemeral(**kwargs)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.error("chat.postEphemeral in %s failed: %s", channel, _error(exc))


async def respond(response_url: str, message: Message, *, replace_original: bool = False) -> None:
    """Answer a slash command or button through its response_url (ephemeral)."""
    webhook = AsyncWebhookClient(response_url)
    try:
        response = await webhook.send(
            response_type="ephemeral", replace_original=replace_original, **message.as_kwargs()
        )
    except (SlackClientError, OSError) as exc:
        log.error("response_url reply failed: %s", _error(exc))
        return
    if response.status_code >= 400:
        log.error("response_url reply refused: HTTP %s", response.status_code)


async def permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """A link to a message (the card a duplicate request points at), if Slack gives one."""
    try:
        response = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.info("chat.getPermalink %s/%s failed: %s", channel, ts, _error(exc))
        return None
    link = response.get("permalink")
    return str(link) if link else None


async def show_state(client: AsyncWebClient, channel: str, ts: str | None, name: str) -> None:
    """Leave exactly one state reaction (working, done or failed) on a message.

    A job only moves from working to done or failed, so the end states remove "working"
    whatever this process remembers: the job may have been started by one that died.
    """
    if not ts:
        return
    if name != WORKING:
        await _reaction(client.reactions_remove, channel, ts, WORKING)
    await _reaction(client.reactions_add, channel, ts, name)


async def _reaction(method: Any, channel: str, ts: str, name: str) -> None:
    try:
        await method(channel=channel, timestamp=ts, name=name)
    except (SlackApiError, SlackClientError, OSError) as exc:
        if _error(exc) not in ("already_reacted", "no_reaction"):
            log.info("reaction %s on %s/%s failed: %s", name, channel, ts, _error(exc))


async def dm(client: AsyncWebClient, user: str, message: Message) -> tuple[str, str] | None:
    """Post in the app's DM with a person; (channel, ts) to update it later."""
    try:
        response = await client.chat_postMessage(channel=user, **message.as_kwargs())
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("DM to %s failed: %s", user, _error(exc))
        return None
    return str(response.get("channel") or user), str(response.get("ts"))


async def open_view(client: AsyncWebClient, trigger_id: str, view: dict[str, Any]) -> None:
    """Open a modal (the trigger id is valid for 3 s after the click)."""
    try:
        await client.views_open(trigger_id=trigger_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.open failed: %s", _error(exc))


async def publish_home(client: AsyncWebClient, user: str, view: dict[str, Any]) -> None:
    try:
        await client.views_publish(user_id=user, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        log.warning("views.publish for %s failed: %s", user, _error(exc))
