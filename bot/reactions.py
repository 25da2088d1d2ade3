"""Reactions on the shared file's message: working, done, failed — visible at a glance."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

WORKING = "hourglass_flowing_sand"
DONE = "white_check_mark"
FAILED = "x"


class Reactions:
    """Keeps exactly one state reaction on a message; failures are logged, never raised."""

    def __init__(self, client: AsyncWebClient, channel: str, ts: str | None) -> None:
        self.client = client
        self.channel = channel
        self.ts = ts
        self.current: str | None = None

    async def set(self, name: str | None) -> None:
        if self.ts is None or name == self.current:
            return
        if self.current is not None:
            await self._call("remove", self.current)
        if name is not None:
            await self._call("add", name)
        self.current = name

    async def _call(self, verb: str, name: str) -> None:
        assert self.ts is not None
        try:
            if verb == "add":
                await self.client.reactions_add(channel=self.channel, timestamp=self.ts,
                                                name=name)
            else:
                await self.client.reactions_remove(channel=self.channel, timestamp=self.ts,
                                                   name=name)
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error not in ("already_reacted", "no_reaction"):
                log.info("reactions.%s %s failed: %s", verb, name, error)
