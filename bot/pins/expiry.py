"""Retention, applied: the sweep's two steps — unpin what expired, and warn 24 hours ahead.

Both run inside the deployment-wide sweep (bot.jobs.sweeper), so one process does them at a
time; and both guard every pin with a compare-and-set on its ledger row, so a pin that was kept,
unpinned or already warned about meanwhile (by a person, or by a sweeper that lost its lease
mid-pass) is left alone. A pass cut short is run again by the next holder.

- **expire**: every pin past `expires_at`, not kept, is unpinned at the service with its own
  workspace's account, recorded as unpinned by "retention", and its card in the file's thread
  says so ("Unpinned by the channel's 90-day retention policy"). Paced under
  `PINBOT_API_RATE`. A workspace whose pinning service fails is left for the next pass (one
  log line) while the others go on. A workspace where pinbot is no longer installed is left
  alone: uninstalling deleted its own pinning keys, so the sweep cannot tell which account
  holds its pins (the environment's account would answer 404, read as "already gone"), and it
  has no token to update the cards with; its pins are swept if pinbot is installed again.
- **notices**: pins under a policy of 2 days or more, expiring within 24 hours, get one
  message in the file's thread ("will be unpinned on <date> by this channel's 90-day policy")
  with a Keep button. The notice is claimed before it is posted and the claim released if
  Slack refuses it, so it is posted once, and retried until it is.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter

from .. import blocks
from ..jobs.sweeper import Fence, Step
from ..pacing import RateLimiter
from ..permissions import team_mark
from ..slack import replies
from ..slack.clients import SlackClients, Workspace
from ..store import Ledger, PinRecord
from ..store.ledger import utcnow
from ..store.retention import BATCH, RetentionStore, cursor
from ..units import policy_duration
from ..w3ipfs import NotFoundError, PinState, W3IPFSClient, W3IPFSError
from .accounts import Accounts
from .sweep_teams import PassTeam, PassTeams

log = logging.getLogger(__name__)


class Expiry:
    def __init__(self, accounts: Accounts, ledger: Ledger, slack: SlackClients, *,
                 rate_per_minute: float) -> None:
        self.accounts = accounts
        self.store = RetentionStore(ledger)
        self.slack = slack
        self.rate_per_minute = rate_per_minute

    def steps(self) -> list[Step]:
        """The sweep's retention steps, in order: unpin what expired, then the notices."""
        return [Step("retention", self.expire), Step("notices", self.notify)]

    # -- expire ------------------------------------------------------------------------------

    async def expire(self, fence: Fence) -> str:
        """Unpin every pin whose retention ran out (any workspace); a one-line summary."""
        now = utcnow()
        teams = PassTeams(self.slack, self.accounts, step="sweep")
        limiter = RateLimiter(self.rate_per_minute)
        tally: Counter[str] = Counter()
        after = None
        while True:
            batch = await self.store.due(now, after=after)
            for record in batch:
                after = cursor(record)
                team = await teams.with_account(record.team_id)
                if team is None:
                    tally["left"] += 1
                    continue
                assert team.account is not None
                account = await self.accounts.locate(team.account, record)
                if account is None:
                    tally["elsewhere"] += 1  # no account here knows it: left as it is
                    continue
                await limiter.wait()
                await fence.check()
                tally[await self._expire_one(teams, team, account, record.id)] += 1
            if len(batch) < BATCH:
                if tally["elsewhere"]:
                    log.info("retention: %d expired pin(s) left pinned: made with pinning keys "
                             "their workspace no longer uses", tally["elsewhere"])
                return _summary(tally, "unpinned")

    async def _expire_one(self, teams: PassTeams, team: PassTeam, account: W3IPFSClient,
                          row_id: int) -> str:
        """Unpin one expired pin in `account` (the one it was made with) and say so."""
        # Taken at the last moment: kept, unpinned or given more time since the batch.
        record = await self.store.claim_unpin(row_id, utcnow())
        if record is None or record.pin_id is None:
            return "skipped"
        try:
            await self._unpin(account, record.team_id, record.pin_id)
        except W3IPFSError as exc:
            await self.store.release_unpin(record.id)
            teams.leave(record.team_id, exc)
            return "failed"
        done = await self.store.mark_expired(record.id)
        if done is None:
            return "skipped"  # someone recorded its end first, and told its card
        log.info("retention: unpinned %s of team %s (%s policy)", record.pin_id,
                 record.team_id, policy_duration(record.retention_seconds or 0))
        if done.channel_id and done.reply_ts:
            await replies.update(team.workspace.client, done.channel_id, done.reply_ts,
                                 blocks.retention_unpinned_card(
                                     done.as_pin(),
                                     gateway_url=await self.accounts.gateway_url(done.team_id),
                                     file_name=done.name, size=done.size,
                                     shared_by=done.user_id, verified=done.verified,
                                     retention_seconds=done.retention_seconds))
        return "unpinned"

    async def _unpin(self, account: W3IPFSClient, team_id: str, pin_id: str) -> None:
        """Unpin at the service; a 404 counts as done (only the ledger and card are behind).

        A pin made before its workspace set its own keys (`/pin setup`) lives on the
        environment's account, which the workspace's own account answers 404 for: it is
        unpinned there, if it carries this workspace's mark (or none: the account was the
        workspace's alone), so retention never records as unpinned a pin still paid for.
        """
        try:
            await account.unpin(pin_id)
            return
        except NotFoundError:
            if account is self.accounts.default:
                return
        default = self.accounts.default
        try:
            pin = await default.get_pin(pin_id)
        except NotFoundError:
            return
        if team_mark(pin) in (None, team_id) and pin.state is not PinState.UNPINNED:
            with contextlib.suppress(NotFoundError):
                await default.unpin(pin_id)

    # -- notices -----------------------------------------------------------------------------

    async def notify(self, fence: Fence) -> str:
        """Post the 24-hour notice of every pin due one; a one-line summary."""
        now = utcnow()
        teams = PassTeams(self.slack, self.accounts, step="sweep")
        tally: Counter[str] = Counter()
        after = None
        while True:
            batch = await self.store.due_notice(now, after=after)
            for record in batch:
                after = cursor(record)
                # A pin stamped with an account is told only if retention would unpin it:
                # one made with keys no longer used is left pinned, so "will be unpinned"
                # would be untrue (and its Keep pointless).
                team = await (teams.workspace(record.team_id) if record.account is None
                              else teams.with_account(record.team_id))
                if team is None:
                    tally["left"] += 1
                    continue
                if team.account is not None and (
                        await self.accounts.locate(team.account, record) is None):
                    tally["elsewhere"] += 1
                    continue
                await fence.check()
                tally[await self._notify_one(team.workspace, record.id)] += 1
            if len(batch) < BATCH:
                return _summary(tally, "posted")

    async def _notify_one(self, workspace: Workspace, row_id: int) -> str:
        record = await self.store.claim_notice(row_id)
        if record is None or record.pin_id is None or record.expires_at is None:
            return "skipped"
        message = blocks.expiry_notice(record.pin_id, record.name, record.expires_at,
                                       record.retention_seconds)
        if await self._post(workspace, record, message):
            return "posted"
        await self.store.release_notice(record.id)
        return "failed"

    @staticmethod
    async def _post(workspace: Workspace, record: PinRecord, message: blocks.Message) -> bool:
        """In the file's thread (the card's), else on the card; a pin made with `/pin CID`
        has neither, so its notice goes to whoever pinned it, in a DM."""
        thread = record.thread_ts or record.message_ts or record.reply_ts
        if record.channel_id and thread:
            return await replies.post(workspace.client, record.channel_id, message,
                                      thread_ts=thread) is not None
        if record.user_id:
            return await replies.dm(workspace.client, record.user_id, message) is not None
        return True  # nowhere to say it: counted as said, so it is not tried every pass


def _summary(tally: Counter[str], done: str) -> str:
    parts = [f"{tally[done]} {done}"]
    parts += [f"{tally[k]} {k}" for k in ("skipped", "failed", "left", "elsewhere") if tally[k]]
    return ", ".join(parts)
