"""Slack request → durable job(s): dedupe, auto-pin, fan-out, in one place.

Every way of asking for a pin ends here: a shared file, a 📌 reaction, the "Pin to IPFS"
shortcut (each file, or one folder), `/pin CID`, and catch-up after downtime. Intake writes a
job record (idempotent on the request's own identity, so a Slack retry is one job) and hands
its id to the dispatcher; from then on the job survives any crash. Intake itself is quick:
it runs right after the ack.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..dedupe import TTLSet
from ..jobs import Job, JobStore, PinRequest
from ..slack.files import message_files
from ..slack.replies import ephemeral
from ..slack_files import SlackFile
from ..store import Ledger, LedgerUnavailable
from ..store.ledger import ChannelSettings
from ..store.workspaces import Watermarks

log = logging.getLogger(__name__)

DAY = 24 * 3600
#: Waits between attempts to record a share while the database is unreachable.
LEDGER_RETRY_DELAYS = (2, 5, 15, 30, 60, 120, 300, 600, 900)
#: A file event moves the workspace's watermark at most this often (one write, not one per event).
WATERMARK_EVERY = timedelta(seconds=10)

Dispatch = Callable[[Job], Awaitable[None]]
AutoPinDefault = Callable[[str], bool]


class Intake:
    def __init__(
        self,
        *,
        ledger: Ledger,
        jobs: JobStore,
        dispatch: Dispatch,
        auto_pin_default: AutoPinDefault,
        pin_reaction: str,
    ) -> None:
        self.ledger = ledger
        self.jobs = jobs
        self.dispatch = dispatch
        self.auto_pin_default = auto_pin_default
        self.pin_reaction = pin_reaction
        self.channels = ChannelSettings(ledger)
        self.watermarks = Watermarks(ledger)
        self._events_fallback = TTLSet(DAY)
        self._watermarked: dict[str, datetime] = {}
        self._retries: set[asyncio.Task[None]] = set()

    # -- shared policy ---------------------------------------------------------------------

    async def auto_pins_in(self, team_id: str, channel_id: str) -> bool:
        """An admin's choice for the channel if there is one, else PINBOT_AUTO_PIN."""
        try:
            override = await self.channels.get(team_id, channel_id)
        except LedgerUnavailable as exc:
            log.warning("auto-pin setting unreadable, using the default: %s", exc)
            override = None
        return override if override is not None else self.auto_pin_default(channel_id)

    async def first_delivery(self, event_id: str, team_id: str) -> bool:
        """Whether this event id is new (Slack retries and re-deliveries are dropped)."""
        try:
            return await self.ledger.first_delivery(event_id, team_id)
        except LedgerUnavailable as exc:
            # The job's request key still makes the pin exactly-once; this only saves work.
            log.warning("event dedupe falls back to memory: %s", exc)
            return self._events_fallback.add(event_id)

    async def submit(self, request: PinRequest, key: str, *, pin_key: str | None = None
                     ) -> Job | None:
        """Record the job (once per key) and dispatch it; None when it already existed."""
        job, created = await self.jobs.create(request, key, pin_key=pin_key)
        if not created:
            log.info("request %s already has job %d", key, job.id)
            return None
        await self.dispatch(job)
        return job

    # -- entry points --------------------------------------------------------------------

    async def file_shared(
        self, client: AsyncWebClient, *, team_id: str, event_id: str, file_id: str,
        channel_id: str, user_id: str, event_time: float | None,
    ) -> None:
        """`file_shared`: one job per event (the file's claim makes the upload exactly-once).

        Slack's retries of an event are dropped by the job's key (`share:<event id>`, one
        write), not by a separate event-id record first (a second write on every share).
        """
        await self._watermark(team_id, event_time)
        if not await self.auto_pins_in(team_id, channel_id):
            log.info("file %s in %s not pinned: auto-pin is off there", file_id, channel_id)
            return
        request = PinRequest("share", team_id, channel_id, user_id, file_id=file_id,
                             event_time=event_time)
        key = f"share:{event_id or f'{file_id}:{channel_id}'}"
        await self._submit_or_retry(client, request, key, f"file:{file_id}")

    async def _submit_or_retry(self, client: AsyncWebClient, request: PinRequest, key: str,
                               pin_key: str) -> None:
        """Record the job; while the database is down, keep trying (bounded), and say so."""
        if await self._try_submit(request, key, pin_key):
            return
        await ephemeral(client, request.channel_id, request.user_id, blocks.notice(
            "pinbot cannot reach its database right now, so it has not started pinning "
            "your file yet. It will pin it as soon as the database is back.",
            emoji=":hourglass_flowing_sand:"))
        task = asyncio.get_running_loop().create_task(
            self._retry(client, request, key, pin_key), name=f"record {key}")
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, client: AsyncWebClient, request: PinRequest, key: str,
                     pin_key: str) -> None:
        for delay in LEDGER_RETRY_DELAYS:
            await asyncio.sleep(delay)
            if await self._try_submit(request, key, pin_key):
                return
        await ephemeral(client, request.channel_id, request.user_id, blocks.notice(
            "pinbot's database stayed unreachable, so your file was not pinned. "
            "Please share it again later.", emoji=":x:"))

    async def _try_submit(self, request: PinRequest, key: str, pin_key: str) -> bool:
        try:
            await self.submit(request, key, pin_key=pin_key)
        except LedgerUnavailable as exc:
            log.warning("cannot record %s yet: %s", key, exc)
            return False
        return True

    async def message_files(self, client: AsyncWebClient, channel: str, ts: str
                            ) -> list[SlackFile]:
        """The files of one message (for the shortcut and the reaction)."""
        return await message_files(client, channel, ts)

    async def reaction(
        self, client: AsyncWebClient, *, team_id: str, event_id: str, channel_id: str,
        message_ts: str, user_id: str,
    ) -> None:
        """A 📌 on a message: pin each of its files (answering whoever reacted)."""
        if event_id and not await self.first_delivery(event_id, team_id):
            log.info("duplicate reaction event %s ignored", event_id)
            return
        files = await message_files(client, channel_id, message_ts)
        if not files:
            await ephemeral(client, channel_id, user_id, blocks.notice(
                "That message has no files, so there is nothing to pin "
                f"(:{self.pin_reaction}: pins a message's files).",
                emoji=":information_source:"))
            return
        log.info("%s asked to pin %d file(s) of %s/%s by reaction", user_id, len(files),
                 channel_id, message_ts)
        for file in files:
            request = PinRequest("reaction", team_id, channel_id, user_id, file_id=file.id,
                                 message_ts=message_ts)
            await self._submit_or_retry(client, request, f"reaction:{event_id}:{file.id}",
                                        f"file:{file.id}")

    async def pin_each(
        self, client: AsyncWebClient, *, team_id: str, channel_id: str, message_ts: str,
        user_id: str, files: Sequence[SlackFile], request_id: str,
    ) -> None:
        """The shortcut's "pin each file": one job per file."""
        for file in files:
            request = PinRequest("shortcut", team_id, channel_id, user_id, file_id=file.id,
                                 message_ts=message_ts)
            await self._submit_or_retry(client, request,
                                        f"shortcut:{request_id}:{file.id}", f"file:{file.id}")

    async def pin_folder(
        self, *, team_id: str, channel_id: str, message_ts: str, thread_ts: str | None,
        user_id: str, files: Sequence[SlackFile], request_id: str,
    ) -> None:
        """The shortcut's "pin as one folder". Raises `LedgerUnavailable` (nothing started)."""
        request = PinRequest("folder", team_id, channel_id, user_id,
                             file_ids=tuple(f.id for f in files), message_ts=message_ts,
                             thread_ts=thread_ts)
        await self.submit(request, f"folder:{request_id}",
                          pin_key=f"folder:{channel_id}:{message_ts}")

    async def pin_cid(
        self, *, team_id: str, channel_id: str, user_id: str, cid: str, name: str | None,
        response_url: str | None, request_id: str,
    ) -> None:
        """`/pin CID`. Raises `LedgerUnavailable` (then nothing was pinned)."""
        request = PinRequest("cid", team_id, channel_id, user_id, cid=cid, name=name,
                             response_url=response_url)
        await self.submit(request, f"cid:{request_id}", pin_key=f"cid:{cid}")

    # -- catch-up after downtime -------------------------------------------------------------

    async def _watermark(self, team_id: str, event_time: float | None) -> None:
        if not event_time:
            return
        at = datetime.fromtimestamp(event_time, UTC)
        last = self._watermarked.get(team_id)
        if last is not None and at - last < WATERMARK_EVERY:
            return
        try:
            await self.watermarks.advance(team_id, at)
            self._watermarked[team_id] = at
        except LedgerUnavailable as exc:
            log.info("watermark not moved: %s", exc)

    async def aclose(self) -> None:
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)
