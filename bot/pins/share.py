"""A shared file, as a job: checks → claim → card → stream with CID → record → follow-up.

Serves every request that pins one Slack file: a share (`file_shared`), a 📌 reaction, the
"Pin to IPFS" shortcut and catch-up after downtime. Each step reads the job record and ends
by saying where the job goes next, so any process can run the next step after a crash:

    queued    files.info, checks, the ledger claim (exactly one upload per file), the card
    waiting   another request is uploading this file: look again later, then point at its pin
    uploading look for an earlier attempt (upload key), else stream once more, hashing
    uploaded  record the pin; while the service still says "pinning", check back later

The card is the Slack message that shows the job; a resumed job edits the same card.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks, metrics
from ..cid import BackgroundCID, same_content
from ..jobs import Lease, Next
from ..progress import ProgressReporter
from ..quotas import Quotas
from ..slack.clients import Workspace
from ..slack.files import FileUnreadable, file_info
from ..slack.replies import (
    DONE,
    FAILED,
    WORKING,
    ephemeral,
    permalink,
    post,
    show_state,
    update,
)
from ..slack_files import Share, SlackDownloader, SlackFile, check_file
from ..store import Claim, Ledger, LedgerUnavailable, PinRecord
from ..store.ledger import utcnow
from ..w3ipfs import Pin, PinState, W3IPFSClient, W3IPFSError
from .accounts import Accounts
from .uploads import (
    Failed,
    TryAgain,
    Uploaded,
    patiently,
    pin_from_json,
    pin_to_json,
    upload,
)

log = logging.getLogger(__name__)

#: How often a request that waits for another request's upload of the same file looks again.
WAIT_FIRST, WAIT_MAX = 2.0, 60.0
#: When Slack refuses the card, the job tries again after these waits, then tells the person.
CARD_RETRY_DELAYS = (3.0, 30.0, 120.0)
#: Bytes between two calls to the card's progress reporter while a file streams.
PROGRESS_STEP = 1024 * 1024
#: When files.info fails for a passing reason (rate limit, Slack's own error, the network).
SLACK_RETRY_DELAYS = (3.0, 30.0, 120.0)


@dataclass(frozen=True, slots=True)
class ShareSettings:
    max_file_bytes: int
    max_event_age: float
    progress_interval: float
    status_poll_interval: float
    status_poll_seconds: float


class PinSharedFile:
    def __init__(self, settings: ShareSettings, accounts: Accounts, ledger: Ledger,
                 downloader: SlackDownloader, quotas: Quotas | None = None) -> None:
        self.settings = settings
        self.accounts = accounts
        self.ledger = ledger
        self.downloader = downloader
        self.quotas = quotas

    async def run(self, lease: Lease, slack: Workspace) -> Next:
        state = lease.job.state
        if state == "queued":
            return await self._start(lease, slack)
        if state == "waiting":
            return await self._check_other(lease, slack)
        if state == "uploading":
            return await self._upload(lease, slack)
        return await self._follow(lease, slack)

    # -- queued: is there anything to do, and is it ours to do? ---------------------------

    async def _start(self, lease: Lease, slack: Workspace) -> Next:
        job, req = lease.job, lease.job.request
        if req.kind == "share" and req.event_time and (
            time.time() - req.event_time > self.settings.max_event_age
        ):
            log.info("skipping file %s: its event is %.1f h old (PINBOT_MAX_EVENT_AGE)",
                     req.file_id, (time.time() - req.event_time) / 3600)
            metrics.JOBS.labels("too_old").inc()
            return Next("done")
        try:
            file = await self._file(slack.client, req.file_id)
        except FileUnreadable as exc:
            later = await self._slack_later(lease, exc, "queued")
            if later is not None:
                return later
            metrics.JOBS.labels("refused").inc()
            await ephemeral(slack.client, req.channel_id, req.user_id,
                            blocks.notice(exc.user_message, emoji=":warning:"))
            await lease.save(error=str(exc))
            return Next("done")
        share = file.share_in(req.channel_id)
        thread = req.thread_ts or (share.reply_to if share else None)
        refusal = check_file(file, max_bytes=self.settings.max_file_bytes,
                             bot_user_id=slack.bot_user_id)
        if refusal is not None:
            log.info("not pinning %s (%s): %s", file.id, refusal.reason, refusal.message)
            metrics.JOBS.labels("refused").inc()
            if refusal.message:
                await ephemeral(slack.client, req.channel_id, req.user_id,
                                blocks.notice(refusal.message, emoji=":warning:"),
                                thread_ts=thread)
            await lease.save(error=f"refused: {refusal.reason}")
            return Next("done")
        pin_key = f"file:{file.id}"
        earlier = await self.ledger.get(job.team_id, pin_key)
        if (earlier is not None and earlier.state == "failed" and not req.explicit
                and earlier.channel_id == req.channel_id
                and earlier.message_ts == (share.ts if share else None)
                and earlier.claim_owner != f"job:{job.id}"):
            # Another delivery for this very message tried and failed, and said so there.
            log.info("file %s: already tried for this message and failed; not again", file.id)
            return Next("done")
        claim = await self.ledger.claim(
            job.team_id, pin_key, name=file.name, size=file.size, channel_id=req.channel_id,
            user_id=req.user_id, slack_file_id=file.id, message_ts=share.ts if share else None,
            owner=f"job:{job.id}", source=req.kind, thread_ts=thread,
        )
        await lease.save(pin_key=pin_key)
        if not claim.won:
            return await self._duplicate(lease, slack, claim.record, file, share, thread)
        if await self._over_quota(lease, slack, claim, file, thread):
            return Next("done")
        card_ts = job.card_ts or claim.record.reply_ts
        pinning = blocks.pinning(file.name, file.size)
        if card_ts is None:
            card_ts = await post(slack.client, req.channel_id, pinning, thread_ts=thread)
            if card_ts is None:  # nowhere to show it (yet): try again later, then say so
                await self.ledger.release(claim.record.id)
                return await self._no_card(lease, slack, file.name, thread)
        else:
            await update(slack.client, req.channel_id, card_ts, pinning)
        await self.ledger.set_reply(claim.record.id, card_ts)
        await lease.save(pin_row_id=claim.record.id, card_channel=req.channel_id,
                         card_ts=card_ts, state="uploading",
                         result={"share_ts": share.ts if share else None})
        await show_state(slack.client, req.channel_id, share.ts if share else None, WORKING)
        return await self._upload(lease, slack, file)

    async def _over_quota(self, lease: Lease, slack: Workspace, claim: Claim, file: SlackFile,
                          thread: str | None) -> bool:
        """Quotas, checked now that the claim holds the file's size (bot.quotas): over one,
        the claim is given back as failed and the person told why, before any download."""
        if self.quotas is None:
            return False
        job, req = lease.job, lease.job.request
        refusal = await self.quotas.check(
            job.team_id, req.user_id, req.channel_id, row_id=claim.record.id, size=file.size,
            name=file.name, claimed_at=claim.record.created_at)
        if refusal is None:
            return False
        log.info("not pinning %s: over the %s quota", file.id, refusal.which)
        metrics.JOBS.labels("refused").inc()
        await self.ledger.fail(claim.record.id, f"over the {refusal.which} quota")
        message = blocks.quota_refusal(refusal)
        card_ts = job.card_ts or claim.record.reply_ts
        if card_ts is not None:  # a card from before a restart: it must not say "Pinning…"
            await update(slack.client, req.channel_id, card_ts, message)
        else:
            await ephemeral(slack.client, req.channel_id, req.user_id, message,
                            thread_ts=thread)
        await lease.save(error=f"refused: {refusal.which} quota")
        return True

    async def _no_card(self, lease: Lease, slack: Workspace, name: str,
                       thread: str | None) -> Next:
        """Slack refused the card (rate limits, an outage): a silent drop is not an answer."""
        req = lease.job.request
        tries = int(lease.job.result.get("card_tries", 0))
        if tries < len(CARD_RETRY_DELAYS):
            log.warning("job %d: no card could be posted; trying again", lease.job.id)
            await lease.save(result={**lease.job.result, "card_tries": tries + 1})
            return Next("queued", CARD_RETRY_DELAYS[tries])
        log.warning("job %d: no card could be posted; given up", lease.job.id)
        await ephemeral(slack.client, req.channel_id, req.user_id, blocks.notice(
            f"pinbot could not post in this channel, so *{blocks.escape(name)}* was not "
            "pinned. Share it again, or react with the pin emoji, to try again.",
            emoji=":warning:"), thread_ts=thread)
        await lease.save(error="no card could be posted")
        return Next("failed")

    async def _slack_later(self, lease: Lease, exc: FileUnreadable, state: str) -> Next | None:
        """A transient files.info failure: look again later (a few times) instead of
        telling the person their file could not be read."""
        tries = int(lease.job.result.get("slack_tries", 0))
        if not exc.transient or tries >= len(SLACK_RETRY_DELAYS):
            return None
        log.info("job %d: files.info failed (%s); trying again", lease.job.id, exc)
        await lease.save(result={**lease.job.result, "slack_tries": tries + 1})
        return Next(state, SLACK_RETRY_DELAYS[tries])

    async def _file(self, client: AsyncWebClient, file_id: str) -> SlackFile:
        return await file_info(client, file_id)

    async def _duplicate(self, lease: Lease, slack: Workspace, record: PinRecord,
                         file: SlackFile, share: Share | None, thread: str | None) -> Next:
        """Another request owns this file's pin: say where it is, once per thread."""
        req = lease.job.request
        same_message = (record.channel_id == req.channel_id
                        and record.message_ts == (share.ts if share else None))
        if same_message and not req.explicit:
            log.info("file %s: another request for the same message; nothing to add", file.id)
            return Next("done")
        if not req.explicit and not await self.ledger.first_delivery(
            f"answer:{file.id}:{req.channel_id}:{share.ts if share else ''}", req.team_id
        ):
            # Another delivery for this same message already answered in its thread.
            log.info("file %s: %s already told where its pin is", file.id, req.channel_id)
            return Next("done")
        if record.state == "pinned":
            message = await self._already(record, file, req.channel_id, req.user_id)
            if same_message:
                await ephemeral(slack.client, req.channel_id, req.user_id, blocks.pin_card(
                    record.as_pin(), gateway_url=await self.accounts.gateway_url(req.team_id),
                    file_name=file.name, size=file.size, verified=record.verified,
                    note="Already pinned; the card is in this message's thread.",
                    retention=record),
                    thread_ts=thread)
                return Next("done")
            ts = await post(slack.client, req.channel_id, message, thread_ts=thread)
            await lease.save(card_channel=req.channel_id, card_ts=ts)
            return Next("done")
        notice = await self._in_progress(slack.client, record, file)
        if same_message:
            # Told privately; the other claim may still end unpinned (its owner's quota, a
            # failed upload): wait for it like below, and take over then, with no card yet.
            await ephemeral(slack.client, req.channel_id, req.user_id, notice, thread_ts=thread)
            await lease.save(state="waiting", result={"waits": 0})
            return Next("waiting", WAIT_FIRST)
        ts = await post(slack.client, req.channel_id, notice, thread_ts=thread)
        await lease.save(card_channel=req.channel_id, card_ts=ts, state="waiting",
                         result={"waits": 0})
        return Next("waiting", WAIT_FIRST)

    async def _in_progress(self, client: AsyncWebClient, record: PinRecord,
                           file: SlackFile) -> blocks.Message:
        where = f" from <#{record.channel_id}>" if record.channel_id else ""
        link = None
        if record.channel_id and record.reply_ts:
            link = await permalink(client, record.channel_id, record.reply_ts)
        card = f"the card is <{link}|in this thread>" if link else "the card is in its thread"
        return blocks.notice(
            f"*{blocks.escape(file.name)}* is being pinned{where}; {card}. "
            "This message will show the result.", emoji=":hourglass_flowing_sand:")

    async def _already(self, record: PinRecord, file: SlackFile, channel: str,
                       user: str) -> blocks.Message:
        where = (f" (first pinned in <#{record.channel_id}>)"
                 if record.channel_id and record.channel_id != channel else "")
        return blocks.pin_card(
            record.as_pin(), gateway_url=await self.accounts.gateway_url(record.team_id),
            file_name=file.name,
            size=file.size, shared_by=user, verified=record.verified,
            note=f"Already pinned{where}; not uploaded again.", retention=record)

    # -- waiting: another request is uploading this file -----------------------------------

    async def _check_other(self, lease: Lease, slack: Workspace) -> Next:
        job, req = lease.job, lease.job.request
        assert job.pin_key is not None
        record = await self.ledger.get(job.team_id, job.pin_key)
        if record is not None and record.state == "pending" and not record.is_stale_claim:
            if await self._abandoned(lease, record):
                # Its job ended without settling the claim (set aside, dropped with its
                # workspace): waiting out the 2-hour stale window would only delay the user.
                log.warning("job %d: the claim on %s belongs to a job that ended; taking over",
                            job.id, job.pin_key)
                await self.ledger.fail(record.id, "its job ended without finishing")
                return Next("queued")
            waits = int(job.result.get("waits", 0)) + 1
            await lease.save(result={**job.result, "waits": waits})
            return Next("waiting", min(WAIT_MAX, WAIT_FIRST * 2 ** waits))
        if record is None or record.state != "pinned":
            # The other request failed (or its pin is gone): this one takes over the upload.
            log.info("job %d: the other upload of %s did not finish; taking over", job.id,
                     req.file_id)
            return Next("queued")
        file = await self._file_or_none(slack.client, req.file_id)
        if job.card_channel and job.card_ts and file is not None:
            await update(slack.client, job.card_channel, job.card_ts,
                         await self._already(record, file, req.channel_id, req.user_id))
        return Next("done")

    @staticmethod
    async def _abandoned(lease: Lease, record: PinRecord) -> bool:
        """Whether a pending claim's job is gone or finished (it can never settle it)."""
        owner = record.claim_owner or ""
        if not owner.startswith("job:") or not owner[4:].isdigit():
            return False
        other = await lease.store.get(int(owner[4:]))
        return other is None or not other.active

    async def _file_or_none(self, client: AsyncWebClient, file_id: str) -> SlackFile | None:
        try:
            return await self._file(client, file_id)
        except FileUnreadable:
            return None

    # -- uploading -------------------------------------------------------------------------

    async def _upload(self, lease: Lease, slack: Workspace,
                      file: SlackFile | None = None) -> Next:
        job, req = lease.job, lease.job.request
        assert job.card_channel is not None and job.card_ts is not None
        if file is None:
            try:
                file = await self._file(slack.client, req.file_id)
            except FileUnreadable as exc:
                later = await self._slack_later(lease, exc, "uploading")
                if later is not None:
                    return later
                return await self._fail(lease, slack, exc.user_message, str(exc))
        client = await self.accounts.client_for(job.team_id)
        card_channel, card_ts = job.card_channel, job.card_ts

        async def publish(done: int, elapsed: float) -> None:
            await update(slack.client, card_channel, card_ts,
                         blocks.uploading(file.name, file.size, done, elapsed))

        progress = ProgressReporter(publish, interval=self.settings.progress_interval)
        started = time.monotonic()
        sent: dict[str, str] = {}
        try:
            outcome = await upload(lease, client, lambda c: self._stream(
                c, file, lease, slack.client, progress, sent))
        finally:
            await progress.aclose()
        if "cid" in sent and not isinstance(outcome, Uploaded):
            # Every byte went out but the answer did not come back: remember their CID, so
            # the pin a later run finds by its upload key can still be verified.
            with contextlib.suppress(LedgerUnavailable):
                await lease.save(result={**lease.job.result, "sent_cid": sent["cid"]})
        if isinstance(outcome, Uploaded) and outcome.adopted:
            local = str(lease.job.result.get("sent_cid") or "")
            outcome = replace(outcome, local_cid=local, verified=(
                same_content(local, outcome.pin.cid) if local and outcome.pin.cid else None))
        job = lease.job
        if isinstance(outcome, Failed):
            return await self._fail(lease, slack, outcome.user_message, outcome.reason)
        if isinstance(outcome, TryAgain):
            await update(slack.client, card_channel, card_ts, blocks.notice(
                f"Pinning *{blocks.escape(file.name)}* is taking longer: {outcome.reason} "
                f"pinbot will try again (attempt {outcome.attempt + 1}) and update this "
                "message.", emoji=":hourglass_flowing_sand:"))
            return Next("uploading", outcome.delay)
        metrics.UPLOAD_SECONDS.observe(time.monotonic() - started)
        metrics.JOBS.labels("pinned").inc()
        values = {"state": "uploaded", "ambiguous": False, "error": None, "result": {
            **job.result, "pin": pin_to_json(outcome.pin), "verified": outcome.verified,
            "local_cid": outcome.local_cid, "adopted": outcome.adopted,
            "uploaded_at": utcnow().isoformat(), "checks": 0,
            # The account it was made with, for the ledger: the job may be followed after
            # the workspace's keys changed, or in another process.
            "account": client.account,
        }}
        try:
            await lease.save(**values)
        except LedgerUnavailable:
            # The pin exists; only the record waits. Show it now, and keep trying to record
            # what only this run knows (the verified CID) rather than lose it to a lookup.
            await update(slack.client, card_channel, card_ts, blocks.pin_card(
                outcome.pin, gateway_url=await self.accounts.gateway_url(job.team_id),
                file_name=file.name,
                size=file.size, shared_by=req.user_id, verified=outcome.verified,
                local_cid=outcome.local_cid or None, note=(
                    "pinbot's database is unavailable: this pin will be added to the team's "
                    "list as soon as it is back.")))
            await patiently(lambda: lease.save(**values))
        return await self._follow(lease, slack, file, fresh=True)

    async def _stream(self, client: W3IPFSClient, file: SlackFile, lease: Lease,
                      slack: AsyncWebClient, progress: ProgressReporter,
                      sent: dict[str, str]) -> Uploaded:
        """Stream the file from Slack into the pinning API, hashing the bytes on the way.

        The first download is opened before the upload starts, so a login page or a wrong
        size is refused without touching the API.
        """
        assert file.size is not None
        token = slack.token
        download = await self.downloader.open(file, _secret(token))
        hasher = BackgroundCID()
        streamed = 0
        opened = [download]

        async def source() -> AsyncIterator[bytes]:
            # Re-opened when the service refused before reading (no connection, a 429): each
            # reading starts a fresh hash, so the CID is of the bytes of the last attempt.
            # The hash runs on a worker thread, overlapped with the next read and send; the
            # card's progress is told every PROGRESS_STEP bytes, not per 256 KiB socket read.
            nonlocal hasher, streamed
            hasher, streamed = BackgroundCID(), 0
            current = opened.pop() if opened else await self.downloader.open(file,
                                                                             _secret(token))
            next_progress = PROGRESS_STEP
            try:
                async for chunk in current:
                    await hasher.feed(chunk)
                    streamed += len(chunk)
                    if streamed >= next_progress:
                        progress.advance(streamed)
                        next_progress = streamed + PROGRESS_STEP
                    yield chunk
            finally:
                current.close()

        req = lease.job.request
        try:
            pin = await client.pin_file(
                source, file.name, file.size,
                {"slack_team": req.team_id, "slack_channel": req.channel_id,
                 "slack_user": req.user_id, "slack_file": file.id},
                content_type=file.mimetype or "application/octet-stream",
                upload_key=lease.job.upload_key,
            )
        except W3IPFSError:
            if streamed == file.size:
                sent["cid"] = await hasher.finalize()
            raise
        finally:
            for left in opened:
                left.close()
        local_cid = await hasher.finalize()
        metrics.BYTES_STREAMED.inc(file.size)
        verified = bool(pin.cid) and same_content(local_cid, pin.cid)
        if not verified:
            log.warning("CID mismatch for %s: local %s, service %s", file.id, local_cid, pin.cid)
        return Uploaded(pin, local_cid, verified)

    async def _fail(self, lease: Lease, slack: Workspace, user_message: str,
                    detail: str) -> Next:
        job, req = lease.job, lease.job.request
        log.warning("pinning %s failed: %s", req.file_id, detail)
        metrics.JOBS.labels("failed").inc()
        if job.pin_row_id is not None:
            await self.ledger.fail(job.pin_row_id, detail)
        name = (await self._name(job.pin_row_id)) or "the file"
        if job.card_channel and job.card_ts:
            await update(slack.client, job.card_channel, job.card_ts,
                         blocks.failure(f"Could not pin {name}", user_message))
        await show_state(slack.client, req.channel_id, job.result.get("share_ts"), FAILED)
        await lease.save(error=detail[:2000])
        return Next("failed")

    async def _name(self, row_id: int | None) -> str | None:
        if row_id is None:
            return None
        record = await self.ledger.by_row_id(row_id)
        return record.name if record else None

    # -- uploaded: record, show, follow the service's status ------------------------------

    async def _follow(self, lease: Lease, slack: Workspace, file: SlackFile | None = None,
                      *, fresh: bool = False) -> Next:
        job, req = lease.job, lease.job.request
        assert job.pin_row_id is not None and job.card_channel and job.card_ts
        pin = pin_from_json(job.result["pin"])
        verified = job.result.get("verified")
        if not fresh:
            current = await self.ledger.by_row_id(job.pin_row_id)
            if current is None or current.state == "unpinned":
                # Unpinned meanwhile (a stale status must not mark it pinned again), or its
                # row deleted by an admin (no outage to wait out): nothing left to follow.
                log.info("job %d: pin %s %s; its status is no longer followed", job.id, pin.id,
                         "was unpinned" if current else "left the ledger")
                return Next("done")
            try:
                client = await self.accounts.client_for(job.team_id)
                pin = await client.get_pin(pin.id)
            except W3IPFSError as exc:
                log.info("status of %s not read: %s", pin.id, exc)
        record = await self.ledger.complete(job.pin_row_id, pin, verified=verified,
                                            account=job.result.get("account"))
        if pin.state is PinState.FAILED:
            return await self._service_failed(lease, slack, pin, record.name)
        uploaded_at = datetime.fromisoformat(job.result["uploaded_at"])
        waited = (utcnow() - uploaded_at).total_seconds()
        polling = self.settings.status_poll_seconds > 0
        pending = pin.state is PinState.PINNING and polling and (
            waited < self.settings.status_poll_seconds)
        note = None
        if job.result.get("adopted"):
            note = ("pinbot lost the service's first answer and found this pin by its upload "
                    "key instead of uploading the file twice.")
        if pending:
            note = (note + " " if note else "") + (
                ":hourglass_flowing_sand: The service is still pinning; this card will update "
                "when it is done.")
        elif pin.state is PinState.PINNING and polling:
            note = (":hourglass_flowing_sand: Still pinning after "
                    f"{blocks.duration(self.settings.status_poll_seconds)}; `/pins {pin.id}` "
                    "shows the current status.")
        card = blocks.pin_card(
            pin, gateway_url=await self.accounts.gateway_url(job.team_id),
            file_name=file.name if file else record.name,
            size=file.size if file else record.size, shared_by=req.user_id,
            verified=verified, local_cid=job.result.get("local_cid") or None, note=note,
            retention=record,
        )
        shown = f"{pin.status}:{'pending' if pending else 'final'}"
        if fresh or job.result.get("shown") != shown:
            await update(slack.client, job.card_channel, job.card_ts, card)
        share_ts = job.result.get("share_ts")
        if pending:
            checks = int(job.result.get("checks", 0))
            await lease.save(result={**job.result, "checks": checks + 1,
                                     "pin": pin_to_json(pin), "shown": shown})
            if fresh:
                await show_state(slack.client, req.channel_id, share_ts, WORKING)
            delay = min(self.settings.status_poll_interval * 2 ** checks, 300.0,
                        max(0.0, self.settings.status_poll_seconds - waited))
            return Next("uploaded", delay)
        if pin.state is PinState.PINNED or not polling:
            await show_state(slack.client, req.channel_id, share_ts, DONE)
        await lease.save(result={**job.result, "pin": pin_to_json(pin), "shown": shown})
        return Next("done")


    async def _service_failed(self, lease: Lease, slack: Workspace, pin: Pin,
                              name: str) -> Next:
        """The service took the upload, then reported the pin failed: not pinned, so the
        ledger must not say so (a re-share pins again) and the card must not offer Unpin."""
        job, req = lease.job, lease.job.request
        assert job.pin_row_id is not None and job.card_channel and job.card_ts
        log.warning("job %d: the service reported pin %s as %s", job.id, pin.id, pin.status)
        await self.ledger.fail(job.pin_row_id, f"the service reported {pin.status}")
        await update(slack.client, job.card_channel, job.card_ts, blocks.failure(
            f"Could not pin {name}",
            f"The pinning service reported this pin as `{blocks.escape(pin.status or 'failed')}`"
            " after receiving the file. Share it again to try again."))
        await show_state(slack.client, req.channel_id, job.result.get("share_ts"), FAILED)
        await lease.save(result={**job.result, "pin": pin_to_json(pin)},
                         error=f"service reported {pin.status}"[:2000])
        return Next("failed")


def _secret(token: str | None) -> SecretStr | None:
    return SecretStr(token) if token else None
