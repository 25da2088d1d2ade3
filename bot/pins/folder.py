""""Pin as folder" (message shortcut) as a job: a message's files under one directory CID.

    queued    files.info for each file, checks, claim `folder:<channel>:<ts>`, the card
    uploading look for an earlier attempt (upload key), else stream every file once more
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence

from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks, metrics
from ..format import human_size
from ..jobs import Lease, Next
from ..quotas import Quotas
from ..slack.clients import Workspace
from ..slack.files import FileUnreadable, file_info
from ..slack.replies import ephemeral, post, update
from ..slack_files import SlackDownloader, SlackFile, check_file
from ..store import Ledger
from ..w3ipfs import DirectoryEntry, W3IPFSClient
from .accounts import Accounts
from .uploads import Failed, TryAgain, Uploaded, upload

log = logging.getLogger(__name__)


def unique_names(names: Sequence[str]) -> list[str]:
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


class PinFolder:
    def __init__(self, max_file_bytes: int, accounts: Accounts, ledger: Ledger,
                 downloader: SlackDownloader, quotas: Quotas | None = None) -> None:
        self.max_file_bytes = max_file_bytes
        self.accounts = accounts
        self.ledger = ledger
        self.downloader = downloader
        self.quotas = quotas

    async def run(self, lease: Lease, slack: Workspace) -> Next:
        if lease.job.state == "queued":
            return await self._start(lease, slack)
        return await self._upload(lease, slack)

    async def _infos(self, client: AsyncWebClient, file_ids: Sequence[str]) -> list[SlackFile]:
        infos = []
        for file_id in file_ids:
            with contextlib.suppress(FileUnreadable):  # logged there; the file is skipped
                infos.append(await file_info(client, file_id))
        return infos

    async def _tell(self, lease: Lease, slack: Workspace, message: blocks.Message) -> Next:
        req = lease.job.request
        await ephemeral(slack.client, req.channel_id, req.user_id, message,
                        thread_ts=req.thread_ts or req.message_ts)
        return Next("done")

    async def _start(self, lease: Lease, slack: Workspace) -> Next:
        job, req = lease.job, lease.job.request
        assert req.message_ts is not None
        infos = await self._infos(slack.client, req.file_ids)
        usable = [f for f in infos
                  if check_file(f, max_bytes=self.max_file_bytes, bot_user_id=None) is None]
        skipped = [f.name for f in infos if f not in usable]
        if not usable:
            return await self._tell(lease, slack, blocks.notice(
                "None of this message's files can be pinned.", emoji=":warning:"))
        total = sum(f.size or 0 for f in usable)
        if total > self.max_file_bytes:
            return await self._tell(lease, slack, blocks.notice(
                f"Together these files are {human_size(total)}, over the pinning limit of "
                f"{human_size(self.max_file_bytes)}.", emoji=":warning:"))
        folder = f"slack-{req.channel_id}-{req.message_ts.replace('.', '-')}"
        key = f"folder:{req.channel_id}:{req.message_ts}"
        claim = await self.ledger.claim(job.team_id, key, name=folder, size=total,
                                        channel_id=req.channel_id, user_id=req.user_id,
                                        message_ts=req.message_ts, owner=f"job:{job.id}",
                                        source=req.kind,
                                        thread_ts=req.thread_ts or req.message_ts)
        if not claim.won:
            return await self._tell(lease, slack, blocks.notice(
                "These files are already pinned as a folder (or being pinned): see the "
                "message's thread.", emoji=":pushpin:"))
        if self.quotas is not None:
            # The folder counts as the sum of its files, checked like one file (bot.quotas).
            refusal = await self.quotas.check(
                job.team_id, req.user_id, req.channel_id, row_id=claim.record.id, size=total,
                name=f"{len(usable)} files as folder {folder}", claimed_at=claim.record.created_at)
            if refusal is not None:
                log.info("not pinning folder %s: over the %s quota", folder, refusal.which)
                await self.ledger.fail(claim.record.id, f"over the {refusal.which} quota")
                await lease.save(error=f"refused: {refusal.which} quota")
                return await self._tell(lease, slack, blocks.quota_refusal(refusal))
        card = job.card_ts or claim.record.reply_ts or await post(
            slack.client, req.channel_id,
            blocks.pinning(f"{len(usable)} files as folder {folder}", total),
            thread_ts=req.thread_ts or req.message_ts)
        if card is None:
            await self.ledger.release(claim.record.id)
            return Next("failed")
        await self.ledger.set_reply(claim.record.id, card)
        await lease.save(pin_key=key, pin_row_id=claim.record.id, card_channel=req.channel_id,
                         card_ts=card, state="uploading", result={
                             "folder": folder, "files": [f.id for f in usable],
                             "names": unique_names([f.name for f in usable]),
                             "skipped": skipped, "total": total})
        return await self._upload(lease, slack)

    def _reopenable(self, file: SlackFile, token: str | None
                    ) -> Callable[[], AsyncIterator[bytes]]:
        """A source that downloads the file again each time it is read."""

        async def stream() -> AsyncIterator[bytes]:
            download = await self.downloader.open(file, SecretStr(token) if token else None)
            try:
                async for chunk in download:
                    yield chunk
            finally:
                download.close()

        return stream

    async def _upload(self, lease: Lease, slack: Workspace) -> Next:
        job, req = lease.job, lease.job.request
        assert job.pin_row_id is not None and job.card_channel and job.card_ts
        plan = job.result
        files = await self._infos(slack.client, plan["files"])
        if len(files) != len(plan["files"]):
            return await self._fail(lease, slack, "A file of the folder can no longer be read "
                                    "from Slack (deleted meanwhile?).", "files.info failed")
        entries = [DirectoryEntry(name, self._reopenable(file, slack.client.token), file.size)
                   for name, file in zip(plan["names"], files, strict=True)]

        async def send(client: W3IPFSClient) -> Uploaded:
            pin = await client.pin_directory(
                plan["folder"], entries,
                {"slack_team": req.team_id, "slack_channel": req.channel_id,
                 "slack_user": req.user_id, "slack_message": req.message_ts},
                upload_key=job.upload_key)
            return Uploaded(pin, local_cid="", verified=None)

        account = await self.accounts.client_for(job.team_id)
        outcome = await upload(lease, account, send)
        if isinstance(outcome, TryAgain):
            await update(slack.client, job.card_channel, job.card_ts, blocks.notice(
                f"Pinning the folder is taking longer: {outcome.reason} pinbot will try again "
                f"(attempt {outcome.attempt + 1}) and update this message.",
                emoji=":hourglass_flowing_sand:"))
            return Next("uploading", outcome.delay)
        if isinstance(outcome, Failed):
            return await self._fail(lease, slack, outcome.user_message, outcome.reason)
        metrics.BYTES_STREAMED.inc(int(plan["total"]))
        await lease.save(ambiguous=False, error=None)
        record = await self.ledger.complete(job.pin_row_id, outcome.pin, verified=None,
                                            account=account.account)
        names: list[str] = plan["names"]
        listing = "\n".join(f"• `{plan['folder']}/{blocks.escape(n)}`" for n in names[:20])
        if len(names) > 20:
            listing += f"\n…and {len(names) - 20} more"
        if plan["skipped"]:
            listing += "\nSkipped: " + ", ".join(blocks.escape(n) for n in plan["skipped"][:10])
        await update(slack.client, job.card_channel, job.card_ts, blocks.pin_card(
            outcome.pin, gateway_url=await self.accounts.gateway_url(job.team_id),
            file_name=plan["folder"],
            size=int(plan["total"]), shared_by=req.user_id, note=listing, retention=record))
        return Next("done")

    async def _fail(self, lease: Lease, slack: Workspace, user_message: str,
                    detail: str) -> Next:
        job = lease.job
        assert job.pin_row_id is not None and job.card_channel and job.card_ts
        log.warning("pinning folder of job %d failed: %s", job.id, detail)
        await self.ledger.fail(job.pin_row_id, detail)
        await update(slack.client, job.card_channel, job.card_ts,
                     blocks.failure("Could not pin the folder", user_message))
        await lease.save(error=detail[:2000])
        return Next("failed")
