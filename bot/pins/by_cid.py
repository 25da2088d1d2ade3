"""`/pin <CID>` as a job: once per team, bounded, answered through the command's response_url.

    queued    the team already has this CID → show that pin; else claim `cid:<CID>`
    waiting   another request is pinning the same CID: look again later
    uploading pin by hash (idempotent: an unknown outcome is looked up by the upload key)

A CID that was unpinned can be pinned again: the ledger archives the old row and the claim
starts a new one. No step calls itself; every retry is a new run of the job.
"""

from __future__ import annotations

import logging

from .. import blocks
from ..jobs import Lease, Next
from ..slack.replies import respond
from ..store import Ledger, PinRecord
from ..w3ipfs import NotFoundError, PinState, W3IPFSError
from .accounts import Accounts
from .uploads import Failed, TryAgain, Uploaded, upload

log = logging.getLogger(__name__)

WAIT_FIRST, WAIT_MAX = 1.0, 30.0


class PinByCID:
    def __init__(self, accounts: Accounts, ledger: Ledger) -> None:
        self.accounts = accounts
        self.ledger = ledger

    async def run(self, lease: Lease) -> Next:
        state = lease.job.state
        if state == "queued":
            return await self._start(lease)
        if state == "waiting":
            return await self._check_other(lease)
        return await self._pin(lease)

    async def _answer(self, lease: Lease, message: blocks.Message) -> None:
        url = lease.job.request.response_url
        if url:
            await respond(url, message)

    async def _existing(self, lease: Lease) -> PinRecord | None:
        """The team's live pin of this CID, checked at the service (a 404 means it is gone)."""
        job, req = lease.job, lease.job.request
        existing = await self.ledger.find_pinned_cid(job.team_id, req.cid)
        if existing is None or not existing.pin_id:
            return existing
        account = await self.accounts.client_for_pin(job.team_id, existing)
        if account is None:
            return existing  # made with keys no longer used: not known here, not gone
        try:
            await account.get_pin(existing.pin_id)
        except NotFoundError:
            await self.ledger.mark_gone(job.team_id, existing.pin_id)
            return None
        except W3IPFSError as exc:
            log.info("showing the ledger's copy of %s: %s", existing.pin_id, exc)
        return existing

    async def _show_existing(self, lease: Lease, record: PinRecord) -> Next:
        owner = blocks.Owner(record.user_id, record.channel_id)
        await self._answer(lease, blocks.pin_card(
            record.as_pin(), gateway_url=await self.accounts.gateway_url(record.team_id),
            note=f"The team already has this CID ({owner.describe() or 'pinned before'}); "
                 "not pinned again.", retention=record))
        return Next("done")

    async def _start(self, lease: Lease) -> Next:
        job, req = lease.job, lease.job.request
        existing = await self._existing(lease)
        if existing is not None:
            return await self._show_existing(lease, existing)
        key = f"cid:{req.cid}"
        claim = await self.ledger.claim(job.team_id, key, name=req.name or req.cid,
                                        channel_id=req.channel_id, user_id=req.user_id,
                                        owner=f"job:{job.id}", source=req.kind)
        await lease.save(pin_key=key)
        if not claim.won:
            if claim.record.state == "pinned":
                return await self._show_existing(lease, claim.record)
            await lease.save(state="waiting", result={"waits": 0})
            return Next("waiting", WAIT_FIRST)
        await lease.save(pin_row_id=claim.record.id, state="uploading")
        return await self._pin(lease)

    async def _check_other(self, lease: Lease) -> Next:
        job = lease.job
        assert job.pin_key is not None
        record = await self.ledger.get(job.team_id, job.pin_key)
        if record is not None and record.state == "pending" and not record.is_stale_claim:
            waits = int(job.result.get("waits", 0)) + 1
            await lease.save(result={"waits": waits})
            return Next("waiting", min(WAIT_MAX, WAIT_FIRST * 2 ** waits))
        if record is not None and record.state == "pinned":
            return await self._show_existing(lease, record)
        return Next("queued")  # the other request failed: this one pins it

    async def _pin(self, lease: Lease) -> Next:
        job, req = lease.job, lease.job.request
        assert job.pin_row_id is not None
        client = await self.accounts.client_for(job.team_id)

        async def send(c: object) -> Uploaded:
            pin = await client.pin_by_hash(
                req.cid, {"slack_team": req.team_id, "slack_user": req.user_id},
                name=req.name or req.cid, upload_key=job.upload_key)
            return Uploaded(pin, local_cid="", verified=None)

        outcome = await upload(lease, client, send)
        if isinstance(outcome, TryAgain):
            if not lease.job.result.get("told_waiting"):
                await self._answer(lease, blocks.notice(
                    f"{outcome.reason} pinbot keeps trying to pin `{req.cid}` and will answer "
                    "here.", emoji=":hourglass_flowing_sand:"))
                await lease.save(result={**lease.job.result, "told_waiting": True})
            return Next("uploading", outcome.delay)
        if isinstance(outcome, Failed):
            log.warning("/pin %s failed: %s", req.cid, outcome.reason)
            await self.ledger.fail(job.pin_row_id, outcome.reason)
            await self._answer(lease, blocks.failure(f"Could not pin {req.cid}",
                                                     outcome.user_message))
            return Next("failed")
        await lease.save(ambiguous=False, error=None)
        record = await self.ledger.complete(job.pin_row_id, outcome.pin, verified=None,
                                            account=client.account)
        if outcome.pin.state is PinState.FAILED:
            # Not pinned: the ledger must not say so (the next /pin would be "already has").
            log.warning("/pin %s: the service reported %s", req.cid, outcome.pin.status)
            await self.ledger.fail(job.pin_row_id, f"the service reported {outcome.pin.status}")
            await self._answer(lease, blocks.failure(
                f"Could not pin {req.cid}",
                "The pinning service reported this pin as "
                f"`{blocks.escape(outcome.pin.status or 'failed')}`. Try `/pin` again later."))
            return Next("failed")
        gateway = await self.accounts.gateway_url(job.team_id)
        await self._answer(lease, blocks.pin_card(outcome.pin, gateway_url=gateway,
                                                  shared_by=req.user_id, retention=record))
        return Next("done")
