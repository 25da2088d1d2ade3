"""Catch-up after downtime: files shared while pinbot was not listening get pinned too.

Slack retries an event three times within minutes, then gives up; a deploy, a crash or an
outage longer than that loses the `file_shared` events. So pinbot keeps, per workspace,
the newest event it has seen and how far catch-up has listed; at start and every
`PINBOT_CATCHUP_INTERVAL` it lists the files shared since the last pass (`files.list`, paged)
and makes a job for each one in an auto-pin channel that has none. Never earlier than the
workspace's first start (installing pinbot must not pin a channel's history) nor than
`PINBOT_MAX_EVENT_AGE`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from ..jobs import Job, JobStore, PinRequest
from ..slack.clients import SlackClients
from ..slack.files import files_shared
from ..slack_files import SlackFile
from ..store import LedgerUnavailable
from ..store.ledger import utcnow
from ..store.workspaces import Watermarks

log = logging.getLogger(__name__)

#: Files are listed from this long before the watermark: events and listings race a little.
OVERLAP = timedelta(minutes=2)
#: Files younger than this are left to their own events, which Slack delivers within
#: seconds; should both come, the later request is answered by the pin's claim, silently.
GRACE = timedelta(seconds=10)

AutoPinsIn = Callable[[str, str], Awaitable[bool]]
Submit = Callable[..., Awaitable[Job | None]]


class CatchUp:
    def __init__(self, clients: SlackClients, watermarks: Watermarks, jobs: JobStore,
                 auto_pins_in: AutoPinsIn, submit: Submit, max_event_age: float,
                 grace: timedelta = GRACE) -> None:
        self.clients = clients
        self.watermarks = watermarks
        self.jobs = jobs
        self.auto_pins_in = auto_pins_in
        self.submit = submit
        self.max_event_age = max_event_age
        self.grace = grace

    async def run_forever(self, interval: float) -> None:
        """At start, then every `interval` seconds (0: only at start)."""
        while True:
            try:
                await self.run_once()
            except LedgerUnavailable as exc:
                log.warning("catch-up skipped, database unreachable: %s", exc)
            except Exception:
                log.exception("catch-up failed")
            if interval <= 0:
                return
            await asyncio.sleep(interval)

    async def run_once(self) -> int:
        """One pass over every workspace; the number of jobs it made."""
        made = 0
        for team in await self.clients.teams():
            workspace = await self.clients.workspace(team)
            if workspace is None:
                continue
            made += await self._team(team, workspace.client)
        return made

    async def _team(self, team: str, client: AsyncWebClient) -> int:
        now = utcnow()
        state = await self.watermarks.get_or_start(team, now)
        # From where the last pass got to: live events say pinbot was up, not that it saw
        # every file before them (a restart's first events arrive before this pass runs).
        since = max((state.caught_up_to or state.first_seen) - OVERLAP, state.first_seen,
                    now - timedelta(seconds=self.max_event_age))
        until = now - self.grace
        if until <= since:
            return 0
        files = await files_shared(client, since, until)
        if files is None:
            return 0  # Slack did not answer: the watermark stays, the next pass retries
        made = 0
        for file, created in files:
            if created < state.first_seen or await self.jobs.for_file(team, file.id):
                continue
            for channel in _channels(file):
                if not await self.auto_pins_in(team, channel):
                    continue
                request = PinRequest("catchup", team, channel, file.user or "",
                                     file_id=file.id, event_time=created.timestamp())
                if await self.submit(request, f"catchup:{file.id}:{channel}",
                                     pin_key=f"file:{file.id}"):
                    made += 1
        if made:
            log.info("catch-up: %d file(s) shared while pinbot was away in %s", made, team)
        await self.watermarks.caught_up(team, until)
        return made


def _channels(file: SlackFile) -> list[str]:
    """Where the file was shared: its shares, else the channels files.list names."""
    channels = {share.channel for share in file.shares}
    for key in ("channels", "groups"):
        channels.update(str(c) for c in file.raw.get(key) or [] if c)
    return sorted(channels)
