"""Use cases: pin a shared file, pin a CID, list, show, unpin — the orchestration.

Handlers parse and ack; everything that takes time or talks to the pinning API or the ledger
happens here, so the same behaviour serves every entry point. Slack is reached through
slack_sdk's `AsyncWebClient` (an adapter), the pinning API through `W3IPFSClient`, bytes
through `SlackDownloader`, the ledger through `Ledger`; replies are rendered by `blocks`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from pydantic import SecretStr
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from . import blocks, metrics
from .cid import StreamingCID, same_content
from .commands import PAGE_SIZE, PinsQuery
from .dedupe import TTLSet
from .format import human_size
from .jobs import InProcessJobs
from .keys import KeyVault
from .permissions import Admins, unpin_refusal
from .pins.accounts import Accounts
from .progress import ProgressReporter
from .reactions import DONE, FAILED, WORKING, Reactions
from .settings import Settings
from .slack_files import (
    Share,
    SlackDownload,
    SlackDownloader,
    SlackDownloadError,
    SlackFile,
    check_file,
)
from .store import Ledger, LedgerUnavailable, PinRecord
from .store.ledger import RECHECK_AFTER, ChannelSettings, utcnow
from .w3ipfs import (
    DirectoryEntry,
    NotFoundError,
    Pin,
    PinPage,
    PinState,
    Totals,
    W3IPFSClient,
    W3IPFSError,
)

log = logging.getLogger(__name__)

DAY = 24 * 3600
#: Waits between attempts while the database is unreachable (then the user is told it failed).
LEDGER_RETRY_DELAYS = (2, 5, 15, 30, 60, 120, 300, 600, 900)
#: How long a second channel's share waits for the first upload of the same file.
WAIT_FOR_OTHER_UPLOAD = 900.0


@dataclass(frozen=True, slots=True)
class SharedFile:
    """What a `file_shared` event tells us (files.info supplies the rest)."""

    team_id: str
    file_id: str
    channel_id: str
    user_id: str
    event_ts: str | None = None
    #: When Slack says the event happened (epoch seconds), for skipping a stale backlog.
    event_time: float | None = None
    #: Identifies the job across retries (the event id): a retried job owns its own claim.
    job_key: str | None = None
    #: Someone asked for this pin (reaction, shortcut): answer them even if it is a duplicate.
    explicit: bool = False

    @property
    def key(self) -> str:
        return f"file:{self.file_id}"


@dataclass(frozen=True, slots=True)
class PinnedFile:
    pin: Pin
    file: SlackFile
    verified: bool
    local_cid: str


@dataclass(frozen=True, slots=True)
class CIDPinResult:
    pin: Pin
    existing: PinRecord | None  # set when the team had already pinned this CID


@dataclass(frozen=True, slots=True)
class Listing:
    page: PinPage
    owners: dict[str, blocks.Owner]


class PinService:
    def __init__(
        self,
        settings: Settings,
        w3ipfs: W3IPFSClient,
        downloader: SlackDownloader,
        ledger: Ledger,
        jobs: InProcessJobs,
        admins: Admins | None = None,
    ) -> None:
        self.settings = settings
        self.w3ipfs = w3ipfs
        self.downloader = downloader
        self.ledger = ledger
        self.jobs = jobs
        self.admins = admins or Admins(settings.admin_users)
        self.channels = ChannelSettings(ledger)
        self.vault = KeyVault(settings.encryption_key) if settings.encryption_key else None
        self.accounts = Accounts(w3ipfs, ledger, self.vault)
        self.keys = self.accounts.keys
        self._events_fallback = TTLSet(DAY)

    @property
    def gateway_url(self) -> str:
        return self.settings.w3ipfs_gateway_url

    # -- which pinning account ------------------------------------------------------------

    async def client_for(self, team_id: str) -> W3IPFSClient:
        return await self.accounts.client_for(team_id)

    def forget_team(self, team_id: str) -> None:
        self.accounts.forget(team_id)

    # -- events ------------------------------------------------------------------------------

    async def auto_pins_in(self, team_id: str, channel_id: str) -> bool:
        """An admin's choice for the channel if there is one, else PINBOT_AUTO_PIN."""
        try:
            override = await self.channels.get(team_id, channel_id)
        except LedgerUnavailable as exc:
            log.warning("auto-pin setting unreadable, using the default: %s", exc)
            override = None
        return override if override is not None else self.settings.auto_pins_in(channel_id)

    async def first_delivery(self, event_id: str, team_id: str) -> bool:
        """Whether this event id is new (Slack retries and re-deliveries are dropped)."""
        try:
            return await self.ledger.first_delivery(event_id, team_id)
        except LedgerUnavailable as exc:
            # The file-level claim still guarantees exactly-once; this only saves work.
            log.warning("event dedupe falls back to memory: %s", exc)
            return self._events_fallback.add(event_id)

    # -- shared files ------------------------------------------------------------------------

    async def handle_shared_file(
        self, shared: SharedFile, client: AsyncWebClient, bot_user_id: str | None,
        attempt: int = 0,
    ) -> None:
        """From `file_shared` to a result card in the file's thread. Never raises."""
        if shared.event_time and time.time() - shared.event_time > self.settings.max_event_age:
            age_h = (time.time() - shared.event_time) / 3600
            log.info("skipping file %s: its event is %.1f h old (PINBOT_MAX_EVENT_AGE)",
                     shared.file_id, age_h)
            metrics.JOBS.labels("too_old").inc()
            return
        try:
            info = await client.files_info(file=shared.file_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            log.warning("files.info %s failed: %s", shared.file_id, error)
            if error in ("file_not_found", "file_deleted"):
                text = "The file you shared was deleted before pinbot could pin it."
            else:
                text = (
                    "pinbot could not read the file you shared "
                    f"(Slack said `{blocks.inline_name(error, 80)}`), so it was not pinned."
                )
            metrics.JOBS.labels("refused").inc()
            await self._ephemeral(client, shared, None, blocks.notice(text, emoji=":warning:"))
            return
        file = SlackFile.from_api(info.get("file") or {})
        share = file.share_in(shared.channel_id)
        thread_ts = share.reply_to if share else None

        refusal = check_file(
            file, max_bytes=self.settings.max_file_bytes, bot_user_id=bot_user_id
        )
        if refusal is not None:
            log.info("not pinning %s (%s): %s", file.id, refusal.reason, refusal.message)
            metrics.JOBS.labels("refused").inc()
            if refusal.message:
                await self._ephemeral(
                    client, shared, thread_ts, blocks.notice(refusal.message, emoji=":warning:")
                )
            return

        try:
            claim = await self.ledger.claim(
                shared.team_id, shared.key, name=file.name, size=file.size,
                channel_id=shared.channel_id, user_id=shared.user_id,
                slack_file_id=file.id, message_ts=share.ts if share else None,
                owner=shared.job_key,
            )
            if not claim.won:
                await self._already_claimed(claim.record, shared, file, share_ts=(
                    share.ts if share else None), thread_ts=thread_ts, client=client,
                    bot_user_id=bot_user_id, attempt=attempt)
                return
        except LedgerUnavailable as exc:
            await self._retry_when_ledger_is_back(exc, shared, client, bot_user_id, attempt,
                                                  thread_ts)
            return
        await self._pin_claimed(claim.record, shared, file, share, thread_ts, client)

    async def _pin_claimed(
        self, record: PinRecord, shared: SharedFile, file: SlackFile, share: Share | None,
        thread_ts: str | None, client: AsyncWebClient,
    ) -> None:
        """This job owns the claim: show progress, stream, record, and say how it went."""
        reactions = Reactions(client, shared.channel_id, share.ts if share else None)
        await reactions.set(WORKING)
        placeholder = record.reply_ts  # set when this job ran before and its worker died
        if placeholder is None:
            placeholder = await self._post(
                client, shared.channel_id, thread_ts, blocks.pinning(file.name, file.size)
            )
            if placeholder is None:
                await self._forget(record)
                await reactions.set(None)
                return
            await self._quietly(self.ledger.set_reply(record.id, placeholder))
        else:
            log.info("resuming %s (earlier attempt did not finish)", file.id)
            metrics.JOBS.labels("retried").inc()

        async def publish(done: int, elapsed: float) -> None:
            await self._update(client, shared.channel_id, placeholder,
                               blocks.uploading(file.name, file.size, done, elapsed))
            await self._quietly(self.ledger.touch(record.id))

        progress = ProgressReporter(publish, interval=self.settings.progress_interval)
        started = time.monotonic()
        try:
            found = await self._find_existing_upload(shared, file) if record.reply_ts else None
            result = found or await self.pin_slack_file(file, shared, progress.advance,
                                                        token=_token_of(client))
        except (SlackDownloadError, W3IPFSError) as exc:
            await progress.aclose()
            log.warning("pinning %s failed: %s", file.id, exc)
            metrics.JOBS.labels("failed").inc()
            await self._fail(record, str(exc))
            await self._update(client, shared.channel_id, placeholder,
                               blocks.failure(f"Could not pin {file.name}", exc.user_message))
            await reactions.set(FAILED)
            return
        except Exception:
            await progress.aclose()
            log.exception("pinning %s failed unexpectedly", file.id)
            metrics.JOBS.labels("failed").inc()
            await self._fail(record, "unexpected error")
            await self._update(
                client, shared.channel_id, placeholder,
                blocks.failure(
                    f"Could not pin {file.name}",
                    "Something unexpected went wrong; it has been logged for the admins.",
                ),
            )
            await reactions.set(FAILED)
            return
        await progress.aclose()
        metrics.UPLOAD_SECONDS.observe(time.monotonic() - started)
        metrics.JOBS.labels("pinned").inc()
        note = await self._record(record, result.pin, result.verified)
        pending = result.pin.state is PinState.PINNING and self.settings.status_poll_seconds > 0
        if pending:
            note = (note + " " if note else "") + (
                ":hourglass_flowing_sand: The service is still pinning; this card will update "
                "when it is done."
            )
        card = blocks.pin_card(
            result.pin, gateway_url=self.gateway_url, file_name=file.name, size=file.size,
            shared_by=shared.user_id, verified=result.verified, local_cid=result.local_cid,
            note=note,
        )
        await self._update(client, shared.channel_id, placeholder, card)
        if pending:
            self.jobs.submit(f"follow {result.pin.id}", self.follow_status, result, shared,
                             client, placeholder, reactions)
        else:
            await reactions.set(DONE if result.pin.state is not PinState.FAILED else FAILED)

    async def follow_status(
        self, result: PinnedFile, shared: SharedFile, client: AsyncWebClient, ts: str,
        reactions: Reactions,
    ) -> None:
        """Poll a pin the service is still working on (backoff, bounded); update the card."""
        delay = self.settings.status_poll_interval
        deadline = time.monotonic() + self.settings.status_poll_seconds
        pin = result.pin
        while pin.state is PinState.PINNING and time.monotonic() < deadline:
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 300.0)
            try:
                pin = await (await self.client_for(shared.team_id)).get_pin(pin.id)
            except W3IPFSError as exc:
                log.info("status of %s not read: %s", pin.id, exc)
        if pin.state is PinState.PINNING:
            note = (":hourglass_flowing_sand: Still pinning after "
                    f"{blocks.duration(self.settings.status_poll_seconds)}; `/pins {pin.id}` "
                    "shows the current status.")
        else:
            note = None
            await self._quietly(self.ledger.reconcile(shared.team_id, [pin]))
        card = blocks.pin_card(
            pin, gateway_url=self.gateway_url, file_name=result.file.name,
            size=result.file.size, shared_by=shared.user_id, verified=result.verified,
            local_cid=result.local_cid, note=note,
        )
        await self._update(client, shared.channel_id, ts, card)
        if pin.state is PinState.PINNED:
            await reactions.set(DONE)
        elif pin.state is PinState.FAILED:
            await reactions.set(FAILED)

    async def _find_existing_upload(
        self, shared: SharedFile, file: SlackFile
    ) -> PinnedFile | None:
        """After a worker died mid-job, the upload may have reached the service: find it by
        the metadata every upload carries, instead of pinning the file a second time."""
        try:
            page = await (await self.client_for(shared.team_id)).list_pins(
                limit=5, pinned="true",
                metadata={"slack_team": shared.team_id, "slack_file": file.id},
            )
        except W3IPFSError as exc:
            log.info("could not look for an earlier upload of %s: %s", file.id, exc)
            return None
        for pin in page.pins:
            keyvalues = pin.metadata.keyvalues or {}
            if keyvalues.get("slack_file") == file.id and pin.size in (None, file.size):
                log.info("found the earlier upload of %s: pin %s", file.id, pin.id)
                return PinnedFile(pin, file, verified=False, local_cid="")
        return None

    async def _already_claimed(
        self, record: PinRecord, shared: SharedFile, file: SlackFile, *, share_ts: str | None,
        thread_ts: str | None, client: AsyncWebClient, bot_user_id: str | None, attempt: int,
    ) -> None:
        """Another delivery owns this file: drop a duplicate, or point at the existing pin."""
        same_message = record.channel_id == shared.channel_id and record.message_ts == share_ts
        if same_message and not shared.explicit:
            log.info("file %s: duplicate delivery for the same message ignored", file.id)
            return
        if same_message:  # someone asked again for a file of this very message
            if record.state == "pending":
                record = await self.ledger.wait_final(shared.team_id, shared.key,
                                                      WAIT_FOR_OTHER_UPLOAD) or record
            if record.state == "failed":
                await self.handle_shared_file(shared, client, bot_user_id, attempt)
                return
            await self._ephemeral(client, shared, thread_ts, blocks.pin_card(
                record.as_pin(), gateway_url=self.gateway_url, file_name=file.name,
                size=file.size, verified=record.verified,
                note="Already pinned; the card is in this message's thread."))
            return
        if record.state == "pending":
            waited = await self.ledger.wait_final(shared.team_id, shared.key,
                                                  WAIT_FOR_OTHER_UPLOAD)
            if waited is not None and waited.state == "pending":
                await self._post(client, shared.channel_id, thread_ts, blocks.notice(
                    f"*{blocks.inline_name(file.name)}* is still being pinned from "
                    f"<#{waited.channel_id}>; the result will be in that thread."))
                return
            if waited is None or waited.state == "failed":
                # The first attempt failed (or its row vanished): this share may pin it.
                await self.handle_shared_file(shared, client, bot_user_id, attempt)
                return
            record = waited
        where = (f" (first pinned in <#{record.channel_id}>)"
                 if record.channel_id and record.channel_id != shared.channel_id else "")
        card = blocks.pin_card(
            record.as_pin(), gateway_url=self.gateway_url, file_name=file.name, size=file.size,
            shared_by=shared.user_id, verified=record.verified,
            note=f"Already pinned{where}; not uploaded again.",
        )
        await self._post(client, shared.channel_id, thread_ts, card)

    async def _retry_when_ledger_is_back(
        self, exc: LedgerUnavailable, shared: SharedFile, client: AsyncWebClient,
        bot_user_id: str | None, attempt: int, thread_ts: str | None,
    ) -> None:
        log.warning("ledger unavailable for %s (attempt %d): %s", shared.file_id, attempt + 1,
                    exc)
        if attempt == 0:
            await self._ephemeral(client, shared, thread_ts, blocks.notice(
                "pinbot cannot reach its database right now, so it has not started pinning "
                "your file yet. It will pin it as soon as the database is back.",
                emoji=":hourglass_flowing_sand:"))
        if attempt < len(LEDGER_RETRY_DELAYS):
            self.jobs.submit_later(
                LEDGER_RETRY_DELAYS[attempt], f"pin {shared.file_id} (retry)",
                self.handle_shared_file, shared, client, bot_user_id, attempt + 1,
            )
            return
        await self._ephemeral(client, shared, thread_ts, blocks.notice(
            "pinbot's database stayed unreachable, so your file was not pinned. "
            "Please share it again later.", emoji=":x:"))

    async def _record(self, record: PinRecord, pin: Pin, verified: bool, attempt: int = 0
                      ) -> str | None:
        """Write the outcome to the ledger; if the database is down, keep retrying in the
        background and say so on the card (the pin itself exists at the service)."""
        try:
            await self.ledger.complete(record.id, pin, verified=verified)
        except LedgerUnavailable as exc:
            if attempt >= len(LEDGER_RETRY_DELAYS):
                log.error("giving up recording pin %s in the ledger: %s", pin.id, exc)
                return None
            log.warning("recording pin %s deferred: %s", pin.id, exc)
            self.jobs.submit_later(LEDGER_RETRY_DELAYS[attempt], f"record {pin.id}",
                                   self._record, record, pin, verified, attempt + 1)
            return ("pinbot's database is unavailable: this pin will be added to the team's "
                    "list as soon as it is back.")
        return None

    async def _fail(self, record: PinRecord, error: str) -> None:
        try:
            await self.ledger.fail(record.id, error)
        except LedgerUnavailable as exc:
            # A pending claim goes stale and can be taken over later; nothing else to do.
            log.warning("could not mark %s failed: %s", record.key, exc)

    async def _forget(self, record: PinRecord) -> None:
        try:
            await self.ledger.release(record.id)
        except LedgerUnavailable as exc:
            log.warning("could not release %s: %s", record.key, exc)

    async def pin_slack_file(
        self, file: SlackFile, shared: SharedFile,
        on_progress: Callable[[int], None] | None = None,
        token: SecretStr | None = None,
    ) -> PinnedFile:
        """Stream the file from Slack into the pinning API, hashing the bytes on the way.

        The source is re-openable (a retry downloads again from Slack), so a pinning API hiccup
        mid-upload is retried like any other call. The first download is opened before the
        upload starts, so a login page or wrong size is refused without touching the API.
        """
        assert file.size is not None
        first: list[SlackDownload] = [await self.downloader.open(file, token)]
        opened: list[SlackDownload] = []
        hashers: list[StreamingCID] = []

        async def source() -> AsyncIterator[bytes]:
            download = first.pop() if first else await self.downloader.open(file, token)
            opened.append(download)
            hashers.append(StreamingCID())
            async for chunk in download:
                yield chunk

        try:
            pin = await (await self.client_for(shared.team_id)).pin_file(
                source, file.name, file.size,
                {
                    "slack_team": shared.team_id,
                    "slack_channel": shared.channel_id,
                    "slack_user": shared.user_id,
                    "slack_file": file.id,
                },
                content_type=file.mimetype or "application/octet-stream",
                on_chunk=lambda chunk: hashers[-1].update(chunk),
                on_progress=on_progress,
            )
        finally:
            for download in first + opened:
                download.close()
        local_cid = hashers[-1].finalize()
        metrics.BYTES_STREAMED.inc(file.size)
        verified = bool(pin.cid) and same_content(local_cid, pin.cid)
        if not verified:
            log.warning("CID mismatch for %s: local %s, service %s", file.id, local_cid, pin.cid)
        return PinnedFile(pin, file, verified, local_cid)

    # -- explicit requests: reaction, message shortcut ---------------------------------------

    async def message_files(
        self, client: AsyncWebClient, channel: str, ts: str
    ) -> list[SlackFile]:
        """The files of one message (channel history, or its thread when it is a reply)."""
        try:
            history = await client.conversations_history(
                channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1
            )
            messages = history.get("messages") or []
            if not messages:
                replies = await client.conversations_replies(channel=channel, ts=ts, limit=1)
                messages = [m for m in replies.get("messages") or [] if m.get("ts") == ts]
        except SlackApiError as exc:
            log.warning("reading message %s/%s failed: %s", channel, ts,
                        exc.response.get("error"))
            return []
        files = (messages[0].get("files") if messages else None) or []
        return [SlackFile.from_api(f) for f in files if isinstance(f, dict) and f.get("id")]

    async def pin_folder(
        self, client: AsyncWebClient, *, team_id: str, channel_id: str, message_ts: str,
        thread_ts: str | None, user_id: str, files: Sequence[SlackFile],
    ) -> None:
        """Pin a message's files as one folder (one CID for the set). Never raises."""
        shared = SharedFile(team_id, "", channel_id, user_id, explicit=True)
        reply_to = thread_ts or message_ts
        infos = []
        for listed in files:
            try:
                info = await client.files_info(file=listed.id)
                infos.append(SlackFile.from_api(info.get("file") or {}))
            except SlackApiError as exc:
                log.warning("files.info %s failed: %s", listed.id, exc.response.get("error"))
        usable: list[SlackFile] = []
        skipped: list[SlackFile] = []
        for file in infos:
            refusal = check_file(file, max_bytes=self.settings.max_file_bytes, bot_user_id=None)
            (skipped if refusal else usable).append(file)
        if not usable:
            await self._ephemeral(client, shared, reply_to, blocks.notice(
                "None of this message's files can be pinned.", emoji=":warning:"))
            return
        total = sum(f.size or 0 for f in usable)
        if total > self.settings.max_file_bytes:
            await self._ephemeral(client, shared, reply_to, blocks.notice(
                f"Together these files are {human_size(total)}, over the pinning limit of "
                f"{human_size(self.settings.max_file_bytes)}.", emoji=":warning:"))
            return
        folder = f"slack-{channel_id}-{message_ts.replace('.', '-')}"
        key = f"folder:{channel_id}:{message_ts}"
        try:
            claim = await self.ledger.claim(team_id, key, name=folder, size=total,
                                            channel_id=channel_id, user_id=user_id,
                                            message_ts=message_ts, owner=key)
        except LedgerUnavailable as exc:
            await self._ephemeral(client, shared, reply_to, blocks.failure(
                "Could not pin the folder", exc.user_message))
            return
        if not claim.won and claim.record.state != "failed":
            await self._ephemeral(client, shared, reply_to, blocks.notice(
                "These files are already pinned as a folder (or being pinned): see the "
                "message's thread.", emoji=":pushpin:"))
            return
        names = _unique_names([f.name for f in usable])
        placeholder = claim.record.reply_ts or await self._post(
            client, channel_id, reply_to,
            blocks.pinning(f"{len(usable)} files as folder {folder}", total))
        if placeholder is None:
            await self._forget(claim.record)
            return
        await self._quietly(self.ledger.set_reply(claim.record.id, placeholder))
        entries = [DirectoryEntry(name, self._reopenable(file, _token_of(client)), file.size)
                   for name, file in zip(names, usable, strict=True)]
        try:
            pin = await (await self.client_for(team_id)).pin_directory(
                folder, entries, {"slack_team": team_id, "slack_channel": channel_id,
                                  "slack_user": user_id, "slack_message": message_ts},
            )
        except (SlackDownloadError, W3IPFSError) as exc:
            await self._fail(claim.record, str(exc))
            await self._update(client, channel_id, placeholder,
                               blocks.failure("Could not pin the folder", exc.user_message))
            return
        metrics.BYTES_STREAMED.inc(total)
        note = await self._record(claim.record, pin, verified=False)
        listing = "\n".join(f"• `{folder}/{blocks.inline_name(n)}`" for n in names[:20])
        if len(names) > 20:
            listing += f"\n…and {len(names) - 20} more"
        if skipped:
            listing += "\nSkipped: " + ", ".join(blocks.inline_name(f.name) for f in skipped[:10])
        card = blocks.pin_card(pin, gateway_url=self.gateway_url, file_name=folder,
                               size=total, shared_by=user_id,
                               note=(note + "\n" if note else "") + listing)
        await self._update(client, channel_id, placeholder, card)

    def _reopenable(
        self, file: SlackFile, token: SecretStr | None
    ) -> Callable[[], AsyncIterator[bytes]]:
        """A source that downloads the file again each time it is read (so retries work)."""

        async def stream() -> AsyncIterator[bytes]:
            download = await self.downloader.open(file, token)
            try:
                async for chunk in download:
                    yield chunk
            finally:
                download.close()

        return stream

    # -- commands ----------------------------------------------------------------------------

    async def pin_cid(
        self, cid: str, name: str | None, *, team_id: str, user_id: str, channel_id: str | None
    ) -> CIDPinResult:
        """Pin by CID once per team: a CID the team already has answers with that pin.

        Raises `LedgerUnavailable` (nothing was pinned) or `W3IPFSError`.
        """
        existing = await self.ledger.find_pinned_cid(team_id, cid)
        if existing is None:
            claim = await self.ledger.claim(team_id, f"cid:{cid}", name=name or cid,
                                            channel_id=channel_id, user_id=user_id)
            if not claim.won:
                settled = await self.ledger.wait_final(team_id, claim.record.key, 60)
                if settled is not None and settled.state == "pinned":
                    existing = settled
                else:
                    return await self.pin_cid(cid, name, team_id=team_id, user_id=user_id,
                                              channel_id=channel_id)
            else:
                try:
                    pin = await (await self.client_for(team_id)).pin_by_hash(
                        cid, {"slack_team": team_id, "slack_user": user_id}, name=name or cid
                    )
                except W3IPFSError as exc:
                    await self._fail(claim.record, str(exc))
                    raise
                await self._record(claim.record, pin, verified=False)
                return CIDPinResult(pin, None)
        assert existing is not None
        pin = existing.as_pin()
        if existing.pin_id:
            try:
                pin = await (await self.client_for(team_id)).get_pin(existing.pin_id)
            except NotFoundError:
                await self.ledger.mark_gone(team_id, existing.pin_id)
                return await self.pin_cid(cid, name, team_id=team_id, user_id=user_id,
                                          channel_id=channel_id)
            except W3IPFSError as exc:
                log.info("showing the ledger's copy of %s: %s", existing.pin_id, exc)
        return CIDPinResult(pin, existing)

    async def list_pins(self, query: PinsQuery, team_id: str) -> Listing:
        """A page of pins: from the API for the whole account (optionally filtered by a
        `key=value` metadata search), from the ledger for mine/here/name searches."""
        metadata = None
        if query.scope == "find" and query.search and "=" in query.search:
            key, _, value = query.search.partition("=")
            metadata = {key.strip(): value.strip()}
        elif query.scope != "all":
            return await self._ledger_page(query, team_id)
        page = await (await self.client_for(team_id)).list_pins(
            offset=query.offset,
            limit=PAGE_SIZE,
            pinned=query.api_pinned,
            sort_by=query.sort,
            sort_order="DESC" if query.order == "desc" else "ASC",
            metadata=metadata,
        )
        if not page.pins and query.offset > 0 and page.totals.files > 0:
            # The page emptied under us (pins removed meanwhile): show the last real page.
            last = ((page.totals.files - 1) // PAGE_SIZE) * PAGE_SIZE
            return await self.list_pins(query.page(last), team_id)
        owners: dict[str, blocks.Owner] = {}
        try:
            await self.ledger.reconcile(team_id, page.pins)
            records = await self.ledger.by_pin_ids(team_id, [p.id for p in page.pins])
            owners = {pin_id: _owner(r) for pin_id, r in records.items()}
        except LedgerUnavailable as exc:
            log.warning("listing without attribution: %s", exc)
        return Listing(page, owners)

    async def _ledger_page(self, query: PinsQuery, team_id: str) -> Listing:
        records, count, size = await self.ledger.page(
            team_id, user_id=query.user if query.scope == "mine" else None,
            channel_id=query.channel if query.scope == "here" else None,
            name_contains=query.search if query.scope == "find" else None,
            status=query.status, sort=query.sort, descending=query.order == "desc",
            offset=query.offset, limit=PAGE_SIZE,
        )
        if not records and query.offset > 0 and count > 0:
            last = ((count - 1) // PAGE_SIZE) * PAGE_SIZE
            return await self._ledger_page(query.page(last), team_id)
        pins = await asyncio.gather(*(self._fresh(r) for r in records))
        page = PinPage(totals=Totals(files=count, size=size), pins=list(pins),
                       offset=query.offset, limit=PAGE_SIZE)
        return Listing(page, {r.pin_id: _owner(r) for r in records if r.pin_id})

    async def _fresh(self, record: PinRecord) -> Pin:
        """The record's pin, asking the API again when the ledger's view is old."""
        if record.pin_id is None or record.state == "unpinned" or (
            record.checked_at and utcnow() - record.checked_at < RECHECK_AFTER
        ):
            return record.as_pin()
        try:
            pin = await (await self.client_for(record.team_id)).get_pin(record.pin_id)
        except NotFoundError:
            await self.ledger.mark_gone(record.team_id, record.pin_id)
            return replace(record, state="unpinned", unpinned_at=utcnow()).as_pin()
        except W3IPFSError as exc:
            log.info("pin %s not refreshed: %s", record.pin_id, exc)
            return record.as_pin()
        await self.ledger.reconcile(record.team_id, [pin])
        return pin

    async def details(self, pin_id: str, team_id: str) -> tuple[Pin, blocks.Owner | None]:
        try:
            pin = await (await self.client_for(team_id)).get_pin(pin_id)
        except NotFoundError:
            await self._quietly(self.ledger.mark_gone(team_id, pin_id))
            raise
        owner = None
        try:
            await self.ledger.reconcile(team_id, [pin])
            record = await self.ledger.by_pin_id(team_id, pin_id)
            owner = _owner(record) if record else None
        except LedgerUnavailable as exc:
            log.warning("details without attribution: %s", exc)
        return pin, owner

    async def home_data(
        self, client: AsyncWebClient, team_id: str, user_id: str, keys_state: str
    ) -> blocks.HomeData:
        """Everything App Home shows, each part degrading on its own when a source fails."""
        totals, latest = None, []
        try:
            page = await (await self.client_for(team_id)).list_pins(limit=5, pinned="true")
            totals, latest = page.totals, page.pins
        except W3IPFSError as exc:
            log.info("home without API data: %s", exc)
        mine: list[Pin] = []
        owners: dict[str, blocks.Owner] = {}
        settings: list[tuple[str, bool, str | None]] = []
        try:
            records, _, _ = await self.ledger.page(team_id, user_id=user_id, status="pinned",
                                                   limit=5)
            mine = [r.as_pin() for r in records]
            known = await self.ledger.by_pin_ids(team_id, [p.id for p in latest])
            owners = {pin_id: _owner(r) for pin_id, r in known.items()}
            owners.update({r.pin_id: _owner(r) for r in records if r.pin_id})
            settings = await self.channels.all(team_id)
        except LedgerUnavailable as exc:
            log.info("home without ledger data: %s", exc)
        return blocks.HomeData(
            totals=totals, keys_state=keys_state, mine=mine, latest=latest, owners=owners,
            is_admin=await self.admins.is_admin(client, team_id, user_id),
            channel_settings=settings, default_auto_pin=self.settings.auto_pin,
        )

    async def can_unpin(
        self, client: AsyncWebClient, team_id: str, user_id: str, pins: Sequence[Pin]
    ) -> dict[str, str | None]:
        """pin id -> None (allowed) or the refusal sentence. Raises `LedgerUnavailable`."""
        records = await self.ledger.by_pin_ids(team_id, [p.id for p in pins])
        admin: bool | None = None
        verdicts: dict[str, str | None] = {}
        for pin in pins:
            record = records.get(pin.id)
            if record is not None and record.user_id == user_id:
                verdicts[pin.id] = None
                continue
            if admin is None:
                admin = await self.admins.is_admin(client, team_id, user_id)
            verdicts[pin.id] = unpin_refusal(
                record, user_id, is_admin=admin, name=blocks.inline_name(pin.name or pin.id)
            )
        return verdicts

    async def lookup(
        self, team_id: str, pin_ids: Sequence[str]
    ) -> tuple[list[Pin], list[str]]:
        """Split ids into known pins and unknown ids (other errors propagate)."""
        client = await self.client_for(team_id)
        found = await asyncio.gather(
            *(client.get_pin(i) for i in pin_ids), return_exceptions=True
        )
        pins: list[Pin] = []
        unknown: list[str] = []
        for pin_id, result in zip(pin_ids, found, strict=True):
            if isinstance(result, NotFoundError):
                unknown.append(pin_id)
            elif isinstance(result, BaseException):
                raise result
            else:
                pins.append(result)
        return pins, unknown

    async def unpin(
        self, client: AsyncWebClient, team_id: str, user_id: str, pin_ids: Sequence[str]
    ) -> list[blocks.UnpinOutcome]:
        """Unpin what this user may unpin; say why for the rest. Checked at the last moment."""
        outcomes = []
        for pin_id in pin_ids:
            try:
                pin = await (await self.client_for(team_id)).get_pin(pin_id)
                verdict = (await self.can_unpin(client, team_id, user_id, [pin]))[pin.id]
                if verdict is not None:
                    log.info("unpin %s by %s refused", pin_id, user_id)
                    outcomes.append(blocks.UnpinOutcome(pin_id, error=verdict))
                    continue
                pin = await (await self.client_for(team_id)).unpin(pin_id)
            except NotFoundError:
                await self._quietly(self.ledger.mark_gone(team_id, pin_id))
                outcomes.append(blocks.UnpinOutcome(pin_id, error="no such pin"))
                continue
            except W3IPFSError as exc:
                log.warning("unpin %s failed: %s", pin_id, exc)
                outcomes.append(blocks.UnpinOutcome(pin_id, error=exc.user_message))
                continue
            except LedgerUnavailable as exc:
                log.warning("unpin %s: cannot check permissions: %s", pin_id, exc)
                outcomes.append(blocks.UnpinOutcome(pin_id, error=exc.user_message))
                continue
            log.info("unpinned %s by %s", pin_id, user_id)
            await self._quietly(self.ledger.mark_unpinned(team_id, pin_id, user_id))
            outcomes.append(blocks.UnpinOutcome(pin_id, pin=pin))
        return outcomes

    async def _quietly(self, work: Any) -> None:
        try:
            await work
        except LedgerUnavailable as exc:
            log.warning("ledger update skipped: %s", exc)

    # -- Slack replies (failures here are logged: there is nobody else to tell) ---------------

    async def _post(
        self, client: AsyncWebClient, channel: str, thread_ts: str | None, message: blocks.Message
    ) -> str | None:
        kwargs: dict[str, Any] = {"channel": channel, **message.as_kwargs()}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            response = await client.chat_postMessage(**kwargs)
        except SlackApiError as exc:
            log.error("chat.postMessage to %s failed: %s", channel, exc.response.get("error"))
            return None
        return str(response.get("ts"))

    async def _update(
        self, client: AsyncWebClient, channel: str, ts: str, message: blocks.Message
    ) -> None:
        try:
            await client.chat_update(channel=channel, ts=ts, **message.as_kwargs())
        except SlackApiError as exc:
            log.error("chat.update %s/%s failed: %s", channel, ts, exc.response.get("error"))

    async def _ephemeral(
        self,
        client: AsyncWebClient,
        shared: SharedFile,
        thread_ts: str | None,
        message: blocks.Message,
    ) -> None:
        kwargs: dict[str, Any] = {
            "channel": shared.channel_id, "user": shared.user_id, **message.as_kwargs()
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await client.chat_postEphemeral(**kwargs)
        except SlackApiError as exc:
            log.error("chat.postEphemeral failed: %s", exc.response.get("error"))


def _token_of(client: AsyncWebClient) -> SecretStr | None:
    """The bot token the Slack client acts with: the right workspace's, in OAuth mode too."""
    return SecretStr(client.token) if client.token else None


def _unique_names(names: Sequence[str]) -> list[str]:
    """File names as paths inside one folder: safe characters, no two the same."""
    seen: set[str] = set()
    out = []
    for raw in names:
        name = raw.replace("/", "_").replace("\\", "_").strip(". ") or "file"
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem}-{n}.{ext}" if dot and stem else f"{name}-{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def _owner(record: PinRecord) -> blocks.Owner:
    return blocks.Owner(user_id=record.user_id, channel_id=record.channel_id)
