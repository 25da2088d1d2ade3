"""Audit: the ledger compared with the pinning service — reported, corrected, summarised.

One comparison (`compare`) serves three callers:

- `pinbot audit` (`audit_ledger`) reads every pin the ledger holds as pinned (and claims pending
  far too long), workspace by workspace with each one's own account, and reports the drift. It
  writes nothing. Per account it picks the cheaper way to ask: one `GET /pinning/{id}` per
  pin, or the account's whole listing in pages of 100 when that is fewer requests — and then
  asks again, one by one, about every pin the listing shows as drift or does not show (a
  listing paged while pins come and go can miss one). Paced under `PINBOT_API_RATE`.
- The sweep (`sweep`, a step after retention's) compares a bounded number of pins per pass,
  the least recently checked first, and corrects the ledger and the cards: unpinned or gone at
  the service -> the row is unpinned (why "service") and its card says "Unpinned at the pinning
  service (found by the audit on …)"; failed -> the row is failed (sharing the file again pins
  it again) and its card says so; a claim pending for a day -> failed. A pin still "pinning"
  after a day is counted, and its status recorded; nothing else can be done about it. It is
  paced at half of `PINBOT_API_RATE`, leaving the rest to the pins people are making.
- `/pins audit` (`report`, admins) summarises what the ledger remembers of it for the asking
  workspace only, with the last sweep's time and outcome; it asks the service nothing.

A pin made with pinning keys its workspace no longer uses (`pins.account` is neither the
workspace's current account nor the environment's) is in no account pinbot can ask: both
callers set it apart ("elsewhere"), unasked, never drift and never corrected.

A workspace where pinbot is no longer installed is left alone, as by retention: uninstalling
deleted its own keys, so the environment's account would answer 404 for its pins and they
would all read as gone.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from slack_sdk.web.async_client import AsyncWebClient

from .. import audit_report, blocks
from ..format import short_date
from ..jobs.sweeper import SWEEP, Fence, Step
from ..pacing import RateLimiter
from ..permissions import Admins
from ..slack import replies
from ..slack.clients import SlackClients
from ..store import Ledger, PinRecord
from ..store.audit import BATCH, GONE, AuditStore, cursor
from ..store.ledger import utcnow
from ..store.sweeps import SweepLeases
from ..w3ipfs import NotFoundError, Pin, PinState, W3IPFSClient, W3IPFSError
from .accounts import Accounts
from .sweep_teams import PassTeam, PassTeams

log = logging.getLogger(__name__)

#: A pin still "pinning" at the service (or a claim still pending) this long after it was made
#: is stuck. The status follow-up of a share gives up long before (PINBOT_STATUS_POLL_SECONDS);
#: large directories may stay "pinning" for hours, so a day.
STUCK_AFTER = 24 * 3600.0
#: Pins the sweep compares per pass (at half of 180/min, about 70 s of requests).
SWEEP_PINS = 100
#: The listing's page size, when the audit lists a whole account.
LIST_PAGE = 100
#: `/pins audit`: pins compared this recently count as checked; drift this recent is shown.
CHECKED_WINDOW = timedelta(hours=24)
DRIFT_WINDOW = timedelta(days=30)

DriftKind = Literal["unpinned", "failed", "gone", "stuck"]
KINDS: tuple[DriftKind, ...] = ("unpinned", "gone", "failed", "stuck")

NOT_ADMIN = ("Only admins (workspace admins, or users in PINBOT_ADMIN_USERS) can see the "
             "audit.")


@dataclass(frozen=True, slots=True)
class Seen:
    """What the service says of one pin, as little as the comparison needs (a listed
    account's pins are held as these)."""

    state: PinState
    status: str | None
    date_unpinned: datetime | None

    @classmethod
    def of(cls, pin: Pin) -> Seen:
        return cls(pin.state, pin.status, pin.date_unpinned)


@dataclass(frozen=True, slots=True)
class Drift:
    """One pin where the ledger and the service disagree. `seen` None: the service does not
    know the pin (404), or (a pending claim) there is no pin to ask about."""

    kind: DriftKind
    record: PinRecord
    seen: Seen | None

    @property
    def service_state(self) -> str:
        if self.seen is not None:
            return self.seen.state.value
        return "none" if self.record.state == "pending" else "not found"

    def as_json(self) -> dict[str, Any]:
        r = self.record
        return {
            "kind": self.kind, "team": r.team_id, "pin_id": r.pin_id, "cid": r.cid,
            "name": r.name, "ledger_state": r.state, "service_state": self.service_state,
            "service_status": self.seen.status if self.seen is not None else None,
            "channel": r.channel_id, "user": r.user_id,
            "created": r.created_at.isoformat(), "row": r.id,
        }

    def line(self) -> str:
        """One line for a terminal. What came from outside (the name, ids, the status) is
        shown with control characters escaped, so no name can fake a line or move the cursor."""
        r = self.record
        status = (f" ({shown(self.seen.status)})" if self.seen is not None and self.seen.status
                  else "")
        return (f"{self.kind:<8} {shown(r.team_id)} {shown(r.pin_id or f'row-{r.id}')} "
                f"{r.name[:200]!r}: ledger {r.state}, service {self.service_state}{status}")


def shown(text: str) -> str:
    """Text from outside for a terminal: control characters escaped, cut to 200."""
    return repr(text[:200])[1:-1]


def compare(record: PinRecord, seen: Seen | None, *, now: datetime,
            stuck_after: float = STUCK_AFTER) -> Drift | None:
    """The drift between a ledger row (pinned, or pending) and the service's answer."""
    age = timedelta(seconds=stuck_after)
    if record.state == "pending":
        return Drift("stuck", record, None) if now - record.updated_at > age else None
    if seen is None:
        return Drift("gone", record, None)
    if seen.state is PinState.UNPINNED:
        return Drift("unpinned", record, seen)
    if seen.state is PinState.FAILED:
        return Drift("failed", record, seen)
    if seen.state is PinState.PINNING and now - record.created_at > age:
        return Drift("stuck", record, seen)
    return None


# -- asking the service ---------------------------------------------------------------------


async def confirm_not_found(client: W3IPFSClient, limiter: RateLimiter) -> None:
    """Make sure a 404 for a pin is the service's answer about that pin.

    A wrong `W3IPFS_API_URL`, or a proxy's error page while the service is being deployed,
    answers 404 to every path: read as "gone", every pin of the ledger would be unpinned and
    every card would say so. The account's listing (one row) answering with success shows the
    404 came from the service itself; raises `W3IPFSError` (an outage) when it does not.
    """
    await limiter.wait()
    try:
        await client.list_pins(0, 1)
    except NotFoundError as exc:
        raise W3IPFSError("The pinning service's own listing answered 'not found' too: is "
                          "W3IPFS_API_URL right?", status_code=exc.status_code) from None


async def seen_before_own_keys(default: W3IPFSClient | None, limiter: RateLimiter,
                               pin_id: str) -> Seen | None:
    """A pin its workspace's own account does not know, as the environment's account sees it.

    A workspace that gave itself its own keys (`/pin setup`) keeps in its ledger the pins it
    made before, with the environment's account: they are still there, not gone. `default`
    None: the workspace uses the environment's account, nothing else to ask.
    """
    if default is None:
        return None
    await limiter.wait()
    try:
        return Seen.of(await default.get_pin(pin_id))
    except NotFoundError:
        return None


class PerPin:
    """One `GET /pinning/{id}` per pin, paced. The first 404 is confirmed with the listing;
    a pin the account does not know is asked of the environment's account (`default`, when
    the account is a workspace's own)."""

    def __init__(self, client: W3IPFSClient, limiter: RateLimiter,
                 default: W3IPFSClient | None = None) -> None:
        self.client = client
        self.limiter = limiter
        self.default = default
        self.requests = 0
        #: Whether the account is known to answer (its listing did): a 404 then means gone.
        self.answers = False

    async def seen(self, pin_id: str) -> Seen | None:
        await self.limiter.wait()
        self.requests += 1
        try:
            return Seen.of(await self.client.get_pin(pin_id))
        except NotFoundError:
            if not self.answers:
                self.requests += 1
                await confirm_not_found(self.client, self.limiter)
                self.answers = True
        self.requests += self.default is not None
        return await seen_before_own_keys(self.default, self.limiter, pin_id)


class FromListing(PerPin):
    """The account listed once; a pin the listing does not show pinned is asked about again."""

    def __init__(self, client: W3IPFSClient, limiter: RateLimiter,
                 default: W3IPFSClient | None = None) -> None:
        super().__init__(client, limiter, default)
        self.listed: dict[str, Seen] = {}

    async def load(self) -> None:
        offset = 0
        while True:
            await self.limiter.wait()
            self.requests += 1
            # Oldest first: pins made while the listing runs land after it, not in its pages.
            page = await self.client.list_pins(offset, LIST_PAGE, "all", "created_at", "ASC")
            self.answers = True
            before = len(self.listed)
            self.listed.update((p.id, Seen.of(p)) for p in page.pins)
            offset += len(page.pins)
            # A page that adds no pin not seen before means the service ignores `offset` (or
            # loops): stop, rather than list forever; pins not listed are asked one by one.
            if (len(page.pins) < LIST_PAGE or offset >= page.totals.files
                    or len(self.listed) == before):
                return

    async def seen(self, pin_id: str) -> Seen | None:
        listed = self.listed.get(pin_id)
        if listed is not None and listed.state is PinState.PINNED:
            return listed
        return await super().seen(pin_id)


async def view_for(client: W3IPFSClient, limiter: RateLimiter, pins: int,
                   default: W3IPFSClient | None = None) -> PerPin:
    """The cheaper way to learn about `pins` pins of this account (one request to decide,
    unless there is at most one pin to ask about). `default`: the environment's account,
    when this one is a workspace's own."""
    if pins <= 1:
        return PerPin(client, limiter, default)
    await limiter.wait()
    total = (await client.list_pins(0, 1)).totals.files
    if -(-total // LIST_PAGE) >= pins:
        view = PerPin(client, limiter, default)
        view.answers = True  # the listing just answered
        return view
    listing = FromListing(client, limiter, default)
    await listing.load()
    return listing


# -- the whole ledger, read-only (`pinbot audit`) --------------------------------------------


@dataclass
class AuditRun:
    checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    #: Workspaces left out, and why: pinbot is not installed there (not an error).
    skipped: dict[str, str] = field(default_factory=dict)
    #: Workspaces that could not be audited (whole or in part): their service failed.
    errors: dict[str, str] = field(default_factory=dict)
    workspaces: int = 0
    #: Pins made with pinning keys their workspace no longer uses: in an account no longer
    #: configured, so not asked about, and not drift (nothing here can correct them).
    elsewhere: list[PinRecord] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        tally = Counter(d.kind for d in self.drift)
        return {kind: tally[kind] for kind in KINDS}


async def audit_ledger(ledger: Ledger, accounts: Accounts, *, rate_per_minute: float,
                       stuck_after: float = STUCK_AFTER,
                       installed: Collection[str] | None = None,
                       on_drift: Callable[[Drift], None] | None = None) -> AuditRun:
    """Compare every pinned row of every workspace with the service; writes nothing.

    `installed`: the workspaces pinbot is installed in (OAuth), None when it serves one.
    Raises `LedgerUnavailable`; a workspace whose service fails is recorded in `errors` and
    the others are audited.
    """
    store = AuditStore(ledger)
    run = AuditRun()
    now = utcnow()
    pending_before = now - timedelta(seconds=stuck_after)
    by_account: dict[int, tuple[W3IPFSClient, list[str]]] = {}
    for team in await store.teams():
        if installed is not None and team not in installed:
            run.skipped[team] = "pinbot is not installed there"
            continue
        try:
            client = await accounts.client_for(team)
        except W3IPFSError as exc:
            run.errors[team] = str(exc)
            continue
        by_account.setdefault(id(client), (client, []))[1].append(team)
    for client, teams in by_account.values():
        limiter = RateLimiter(rate_per_minute)  # the service counts requests per key
        team = teams[0]
        try:
            pins = sum([await store.count(t, pending_before) for t in teams])
            view = await view_for(client, limiter, pins,
                                  None if client is accounts.default else accounts.default)
            for team in teams:
                run.workspaces += 1
                await _audit_team(store, team, view, pending_before, now, stuck_after, run,
                                  on_drift, partial(accounts.account_of, client))
        except W3IPFSError as exc:
            for failed in teams[teams.index(team):]:
                run.errors[failed] = str(exc)
    return run


async def _audit_team(store: AuditStore, team: str, view: PerPin, pending_before: datetime,
                      now: datetime, stuck_after: float, run: AuditRun,
                      on_drift: Callable[[Drift], None] | None,
                      account_of: Callable[[PinRecord], W3IPFSClient | None]) -> None:
    """Compare one workspace's rows; those made with keys it no longer uses are set apart
    (`account_of` None), unasked: their account would not be the one asked."""
    after = 0
    while True:
        rows = await store.team_rows(team, pending_before, after=after)
        for record in rows:
            if record.state == "pinned" and account_of(record) is None:
                run.elsewhere.append(record)
                continue
            seen = (await view.seen(record.pin_id)
                    if record.state == "pinned" and record.pin_id else None)
            drift = compare(record, seen, now=now, stuck_after=stuck_after)
            run.checked += 1
            if drift is not None:
                run.drift.append(drift)
                if on_drift is not None:
                    on_drift(drift)
        if len(rows) < BATCH:
            return
        after = rows[-1].id


# -- the sweep's view of each workspace ------------------------------------------------------


class LedgerAudit:
    def __init__(self, accounts: Accounts, ledger: Ledger, slack: SlackClients, admins: Admins,
                 leases: SweepLeases, *, rate_per_minute: float, recheck_after: float,
                 multi_workspace: bool, stuck_after: float = STUCK_AFTER,
                 per_pass: int = SWEEP_PINS) -> None:
        self.accounts = accounts
        self.store = AuditStore(ledger)
        self.slack = slack
        self.admins = admins
        self.leases = leases
        self.rate_per_minute = rate_per_minute
        #: A pin compared this recently is not compared again by the sweep (its interval).
        self.recheck_after = recheck_after
        self.multi_workspace = multi_workspace
        self.stuck_after = stuck_after
        self.per_pass = per_pass

    # -- the sweep ---------------------------------------------------------------------------

    def step(self) -> Step:
        return Step("audit", self.sweep)

    async def sweep(self, fence: Fence) -> str:
        """Compare (and correct) up to `per_pass` pins, least recently checked first."""
        now = utcnow()
        checked_before = now - timedelta(seconds=self.recheck_after)
        pending_before = now - timedelta(seconds=self.stuck_after)
        teams = PassTeams(self.slack, self.accounts, step="audit")
        #: Workspaces whose account answered its listing this pass (`confirm_not_found`).
        answering: set[str] = set()
        limiter = RateLimiter(self.rate_per_minute / 2)
        tally: Counter[str] = Counter()
        after = None
        while tally["checked"] < self.per_pass:
            batch = await self.store.due(checked_before=checked_before,
                                         pending_before=pending_before, after=after)
            for record in batch:
                after = cursor(record)
                team = await teams.with_account(record.team_id)
                if team is None:
                    tally["left"] += 1
                    continue
                await fence.check()
                try:
                    outcome = await self._correct(team, record, limiter, pending_before,
                                                  answering)
                except W3IPFSError as exc:
                    teams.leave(record.team_id, exc)
                    tally["left"] += 1
                    continue
                if outcome == "elsewhere":
                    tally[outcome] += 1  # not asked: does not count against the pass
                    continue
                tally["checked"] += 1
                if outcome:
                    tally[outcome] += 1
                if tally["checked"] >= self.per_pass:
                    break
            if len(batch) < BATCH:
                break
        if tally["elsewhere"]:
            log.info("audit: %d pin(s) not compared: made with pinning keys their workspace "
                     "no longer uses", tally["elsewhere"])
        parts = [f"{tally['checked']} checked"]
        parts += [f"{tally[k]} {k}" for k in (*KINDS, "left", "elsewhere") if tally[k]]
        return ", ".join(parts)

    async def _correct(self, team: PassTeam, record: PinRecord, limiter: RateLimiter,
                       pending_before: datetime, answering: set[str]) -> str | None:
        """Compare one row and correct it; the drift's kind, or None. A 404 counts as gone
        once the account's listing answered this pass (`answering`, filled here)."""
        found = f"found by the audit on {short_date(utcnow())}"
        if record.state == "pending":
            done = await self.store.abandoned(record.id, pending_before,
                                              f"the upload never finished ({found})")
            if done is not None and done.channel_id and done.reply_ts:
                await replies.update(team.workspace.client, done.channel_id, done.reply_ts,
                                     blocks.failure(f"Could not pin {done.name}",
                                                    f"The upload never finished ({found}). "
                                                    "Share the file again to pin it."))
            return "stuck" if done is not None else None
        assert record.pin_id is not None and team.account is not None
        if await self.accounts.locate(team.account, record) is None:
            # Made with keys the workspace no longer uses: its account is not configured
            # here, so a 404 from this one says nothing. Left as it is, card included.
            return "elsewhere"
        account = team.account
        await limiter.wait()
        try:
            seen: Seen | None = Seen.of(await account.get_pin(record.pin_id))
        except NotFoundError:
            if record.team_id not in answering:
                await confirm_not_found(account, limiter)
                answering.add(record.team_id)
            seen = await seen_before_own_keys(
                None if account is self.accounts.default else self.accounts.default,
                limiter, record.pin_id)
        drift = compare(record, seen, now=utcnow(), stuck_after=self.stuck_after)
        if seen is not None and (drift is None or drift.kind == "stuck"):
            await self.store.checked(record.id, seen.status)
            return drift.kind if drift is not None else None
        assert drift is not None
        if seen is None:
            done = await self.store.unpinned(record.id, GONE, utcnow())
            note = f"Gone from the pinning service: it no longer knows this pin ({found})"
        elif seen.state is PinState.UNPINNED:
            done = await self.store.unpinned(record.id, seen.status or "UNPINNED",
                                             seen.date_unpinned or utcnow())
            note = f"Unpinned at the pinning service ({found})"
        else:
            done = await self.store.failed(record.id, seen.status,
                                           f"the service reported {seen.status} ({found})")
            note = f"Failed at the pinning service ({found}); share the file again to pin it"
        if done is None:
            return None  # its end was recorded first by someone else, who told the card
        log.info("audit: %s pin %s of team %s corrected in the ledger", drift.kind,
                 record.pin_id, record.team_id)
        if done.channel_id and done.reply_ts:
            await replies.update(team.workspace.client, done.channel_id, done.reply_ts,
                                 blocks.pin_card(
                                     done.as_pin(),
                                     gateway_url=await self.accounts.gateway_url(done.team_id),
                                     file_name=done.name, size=done.size,
                                     shared_by=done.user_id, verified=done.verified,
                                     note=note))
        return drift.kind

    # -- `/pins audit` -----------------------------------------------------------------------

    async def report(self, client: AsyncWebClient, team_id: str,
                     user_id: str) -> blocks.Message:
        """The workspace's audit summary for an admin; a polite refusal for anyone else.
        Raises `LedgerUnavailable`."""
        if not await self.admins.is_admin(client, team_id, user_id):
            return blocks.notice(NOT_ADMIN, emoji=":lock:")
        now = utcnow()
        counts = await self.store.summary(
            team_id, checked_since=now - CHECKED_WINDOW, drift_since=now - DRIFT_WINDOW,
            stuck_before=now - timedelta(seconds=self.stuck_after))
        return audit_report.summary(counts, await self.leases.state(SWEEP),
                                    show_result=not self.multi_workspace)
