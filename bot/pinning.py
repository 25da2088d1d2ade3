"""Use cases: pin a shared file, pin a CID, list, show, unpin — the orchestration.

Handlers parse and ack; everything that takes time or talks to the pinning API happens here,
so the same behaviour serves every entry point. Slack is reached through slack_sdk's
`AsyncWebClient` (an adapter), the pinning API through `W3IPFSClient`, bytes through
`SlackDownloader`; replies are rendered by the pure functions in `blocks`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from . import blocks
from .cid import StreamingCID, same_content
from .commands import PAGE_SIZE, PinsQuery
from .dedupe import TTLSet
from .settings import Settings
from .slack_files import SlackDownload, SlackDownloader, SlackDownloadError, SlackFile, check_file
from .w3ipfs import NotFoundError, Pin, PinPage, W3IPFSClient, W3IPFSError

log = logging.getLogger(__name__)

DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class SharedFile:
    """What a `file_shared` event tells us (files.info supplies the rest)."""

    team_id: str
    file_id: str
    channel_id: str
    user_id: str
    event_ts: str | None = None

    @property
    def key(self) -> str:
        return f"{self.team_id}:{self.file_id}"


@dataclass(frozen=True, slots=True)
class PinnedFile:
    pin: Pin
    file: SlackFile
    verified: bool
    local_cid: str


class PinService:
    def __init__(
        self,
        settings: Settings,
        w3ipfs: W3IPFSClient,
        downloader: SlackDownloader,
    ) -> None:
        self.settings = settings
        self.w3ipfs = w3ipfs
        self.downloader = downloader
        self._claimed = TTLSet(DAY)
        self._pinned: dict[str, tuple[Pin, str, str | None]] = {}  # key -> pin, channel, ts
        self._file_locks: dict[str, asyncio.Lock] = {}

    @property
    def gateway_url(self) -> str:
        return self.settings.w3ipfs_gateway_url

    # -- shared files ------------------------------------------------------------------------

    def claim(self, shared: SharedFile) -> bool:
        """First delivery of this file into this channel? (Later ones are duplicates.)"""
        return self._claimed.add(f"{shared.key}:{shared.channel_id}")

    def _release(self, shared: SharedFile) -> None:
        self._claimed.discard(f"{shared.key}:{shared.channel_id}")

    async def handle_shared_file(
        self, shared: SharedFile, client: AsyncWebClient, bot_user_id: str | None
    ) -> None:
        """From `file_shared` to a result card in the file's thread. Never raises.

        One file shared into several channels is uploaded once: deliveries for the same file
        queue on a per-file lock, and the later ones answer with the existing pin.
        """
        lock = self._file_locks.setdefault(shared.key, asyncio.Lock())
        async with lock:
            await self._handle_shared_file(shared, client, bot_user_id)
        if not lock.locked():
            self._file_locks.pop(shared.key, None)

    async def _handle_shared_file(
        self, shared: SharedFile, client: AsyncWebClient, bot_user_id: str | None
    ) -> None:
        try:
            info = await client.files_info(file=shared.file_id)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            log.warning("files.info %s failed: %s", shared.file_id, error)
            self._release(shared)
            if error in ("file_not_found", "file_deleted"):
                text = "The file you shared was deleted before pinbot could pin it."
            else:
                text = (
                    "pinbot could not read the file you shared "
                    f"(Slack said `{blocks.escape(error)}`), so it was not pinned."
                )
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
            if refusal.message:
                await self._ephemeral(
                    client, shared, thread_ts, blocks.notice(refusal.message, emoji=":warning:")
                )
            return

        previous = self._pinned.get(shared.key)
        if previous is not None:
            pin, channel, _ = previous
            where = f" (first pinned in <#{channel}>)" if channel != shared.channel_id else ""
            card = blocks.pin_card(
                pin, gateway_url=self.gateway_url, file_name=file.name, size=file.size,
                shared_by=shared.user_id, note=f"Already pinned{where}; not uploaded again.",
            )
            await self._post(client, shared.channel_id, thread_ts, card)
            return

        placeholder = await self._post(
            client, shared.channel_id, thread_ts, blocks.pinning(file.name, file.size)
        )
        if placeholder is None:
            self._release(shared)
            return
        try:
            result = await self.pin_slack_file(file, shared)
        except (SlackDownloadError, W3IPFSError) as exc:
            self._release(shared)  # a later share may try again
            log.warning("pinning %s failed: %s", file.id, exc)
            await self._update(
                client, shared.channel_id, placeholder,
                blocks.failure(f"Could not pin {file.name}", exc.user_message),
            )
            return
        except Exception:
            self._release(shared)
            log.exception("pinning %s failed unexpectedly", file.id)
            await self._update(
                client, shared.channel_id, placeholder,
                blocks.failure(
                    f"Could not pin {file.name}",
                    "Something unexpected went wrong; it has been logged for the admins.",
                ),
            )
            return
        self._pinned[shared.key] = (result.pin, shared.channel_id, placeholder)
        card = blocks.pin_card(
            result.pin, gateway_url=self.gateway_url, file_name=file.name, size=file.size,
            shared_by=shared.user_id, verified=result.verified, local_cid=result.local_cid,
        )
        await self._update(client, shared.channel_id, placeholder, card)

    async def pin_slack_file(self, file: SlackFile, shared: SharedFile) -> PinnedFile:
        """Stream the file from Slack into the pinning API, hashing the bytes on the way.

        The source is re-openable (a retry downloads again from Slack), so a pinning API hiccup
        mid-upload is retried like any other call. The first download is opened before the
        upload starts, so a login page or wrong size is refused without touching the API.
        """
        assert file.size is not None
        first: list[SlackDownload] = [await self.downloader.open(file)]
        opened: list[SlackDownload] = []
        hashers: list[StreamingCID] = []

        async def source() -> AsyncIterator[bytes]:
            download = first.pop() if first else await self.downloader.open(file)
            opened.append(download)
            hashers.append(StreamingCID())
            async for chunk in download:
                yield chunk

        try:
            pin = await self.w3ipfs.pin_file(
                source, file.name, file.size,
                {
                    "slack_team": shared.team_id,
                    "slack_channel": shared.channel_id,
                    "slack_user": shared.user_id,
                    "slack_file": file.id,
                },
                content_type=file.mimetype or "application/octet-stream",
                on_chunk=lambda chunk: hashers[-1].update(chunk),
            )
        finally:
            for download in first + opened:
                download.close()
        local_cid = hashers[-1].finalize()
        verified = bool(pin.cid) and same_content(local_cid, pin.cid)
        if not verified:
            log.warning("CID mismatch for %s: local %s, service %s", file.id, local_cid, pin.cid)
        return PinnedFile(pin, file, verified, local_cid)

    # -- commands ----------------------------------------------------------------------------

    async def pin_cid(self, cid: str, name: str | None, team_id: str, user_id: str) -> Pin:
        return await self.w3ipfs.pin_by_hash(
            cid, {"slack_team": team_id, "slack_user": user_id}, name=name or cid
        )

    async def list_pins(self, query: PinsQuery) -> PinPage:
        page = await self.w3ipfs.list_pins(
            offset=query.offset,
            limit=PAGE_SIZE,
            pinned=query.api_pinned,
            sort_by=query.sort,
            sort_order="DESC" if query.order == "desc" else "ASC",
        )
        if not page.pins and query.offset > 0 and page.totals.files > 0:
            # The page emptied under us (pins removed meanwhile): show the last real page.
            last = ((page.totals.files - 1) // PAGE_SIZE) * PAGE_SIZE
            return await self.list_pins(query.page(last))
        return page

    async def get_pin(self, pin_id: str) -> Pin:
        return await self.w3ipfs.get_pin(pin_id)

    async def lookup(self, pin_ids: Sequence[str]) -> tuple[list[Pin], list[str]]:
        """Split ids into known pins and unknown ids (other errors propagate)."""
        found = await asyncio.gather(
            *(self.w3ipfs.get_pin(i) for i in pin_ids), return_exceptions=True
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

    async def unpin(self, pin_ids: Sequence[str]) -> list[blocks.UnpinOutcome]:
        outcomes = []
        for pin_id in pin_ids:
            try:
                pin = await self.w3ipfs.unpin(pin_id)
            except NotFoundError:
                outcomes.append(blocks.UnpinOutcome(pin_id, error="no such pin"))
            except W3IPFSError as exc:
                log.warning("unpin %s failed: %s", pin_id, exc)
                outcomes.append(blocks.UnpinOutcome(pin_id, error=exc.user_message))
            else:
                log.info("unpinned %s", pin_id)
                outcomes.append(blocks.UnpinOutcome(pin_id, pin=pin))
        return outcomes

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
