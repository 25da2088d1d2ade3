"""`/pin quota [<size>|off]`: show the channel's quota and the person's use, or (admins)
change the quota; answered ephemerally through the command's response_url."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands import Quota
from bot.services import Services


async def quota_command(services: Services, parsed: Quota, command: dict[str, Any],
                        respond: AsyncRespond, client: AsyncWebClient) -> None:
    team, user = command.get("team_id", ""), command.get("user_id", "")
    channel = command.get("channel_id", "")
    if parsed.change:
        message = await services.quotas.change(client, team, user, channel, parsed.limit)
    else:
        message = await services.quotas.show(team, user, channel)
    await respond(response_type="ephemeral", **message.as_kwargs())
