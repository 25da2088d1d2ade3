"""Shared first step of every slash command: parse, or ack at once with help or the error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.async_app import AsyncAck

from bot import blocks
from bot.commands import CommandError, HelpRequested

log = logging.getLogger(__name__)
T = TypeVar("T")


async def parse_or_reply(
    ack: AsyncAck, command: dict[str, Any], parse: Callable[[str], T]
) -> T | None:
    """The parsed request, or None once usage/the error has been acked (ephemeral)."""
    try:
        parsed = parse(command.get("text", ""))
    except HelpRequested as request:
        await ack(response_type="ephemeral", **blocks.usage(request.command).as_kwargs())
        return None
    except CommandError as exc:
        log.info("%s by %s refused: %s", command.get("command"), command.get("user_id"), exc)
        await ack(response_type="ephemeral",
                  **blocks.notice(str(exc), emoji=":warning:").as_kwargs())
        return None
    return parsed


def actor(body: dict[str, Any]) -> tuple[str, str]:
    """(team id, user id) of an interactive payload: buttons, menus, modals, shortcuts."""
    user = body.get("user")
    user = user if isinstance(user, dict) else {}
    team_field = body.get("team")
    team = (team_field.get("id") if isinstance(team_field, dict) else None) or user.get("team_id")
    return str(team or ""), str(user.get("id") or "")
