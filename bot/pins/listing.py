"""`/pins`, `/pins find`, one pin's details and App Home's data — a workspace's own pins only.

On an account the workspace has to itself (its own keys, or single-workspace mode) the API's
listing is the answer. On the environment's account shared by OAuth workspaces it is not: the
API is asked for pins carrying this workspace's `slack_team` mark, every returned pin is
checked again (the service's `metadata=` filter is undocumented and may be ignored), and when
the filter does not hold the team's ledger is the index instead, so neither rows nor totals
ever include another workspace's pins. A pin id that is not this workspace's is answered with
the same `NotFoundError` an unknown id gets.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..commands import PAGE_SIZE, PinsQuery
from ..permissions import TEAM_KEY, Admins, Scope, Scopes
from ..store import Ledger, LedgerUnavailable, PinRecord
from ..store.ledger import RECHECK_AFTER, ChannelSettings, utcnow
from ..w3ipfs import NotFoundError, Pin, PinPage, Totals, W3IPFSClient, W3IPFSError
from .accounts import Accounts

log = logging.getLogger(__name__)

#: Rows of "The team's latest" and "Your recent pins" in App Home.
HOME_ROWS = 5
#: How long a verdict on the service's metadata filter is trusted.
FILTER_VERDICT_TTL = 600.0
#: A `key=value` search the service cannot filter reads at most this many of the newest pins.
SCAN_LIMIT = 1000
SCAN_PAGE = 100


@dataclass(frozen=True, slots=True)
class Listing:
    page: PinPage
    owners: dict[str, blocks.Owner]


def keyvalues_match(pin: Pin, wanted: Mapping[str, Any]) -> bool:
    """Whether the pin's metadata keyvalues carry every wanted key with the wanted value."""
    found = pin.metadata.keyvalues or {}
    return all(key in found and str(found[key]) == str(value) for key, value in wanted.items())


def metadata_search(query: PinsQuery) -> dict[str, str] | None:
    """`/pins find key=value` as a metadata filter; None for every other query."""
    if query.scope != "find" or not query.search or "=" not in query.search:
        return None
    key, _, value = query.search.partition("=")
    return {key.strip(): value.strip()}


class FilterCheck:
    """Whether the pinning service honours `metadata=` on listings.

    The field notes saw the filter only in the vendor's CLI. A probe asks for a mark no pin
    can carry: any answer means the filter is ignored. While the account is empty the probe
    cannot tell, so that answer is not kept.
    """

    def __init__(self, ttl: float = FILTER_VERDICT_TTL) -> None:
        self.ttl = ttl
        self._verdict: tuple[float, bool] | None = None

    async def honoured(self, client: W3IPFSClient) -> bool:
        if self._verdict is not None and time.monotonic() - self._verdict[0] < self.ttl:
            return self._verdict[1]
        impossible = {TEAM_KEY: f"pinbot-probe-{uuid.uuid4().hex}"}
        everything, probe = await asyncio.gather(
            client.list_pins(limit=1), client.list_pins(limit=1, metadata=impossible)
        )
        if probe.pins or probe.totals.files:
            self.ignored()
            return False
        if everything.pins or everything.totals.files:
            self._verdict = (time.monotonic(), True)
        return True

    def ignored(self) -> None:
        """A listing came back with pins the filter should have excluded."""
        if self._verdict is None or self._verdict[1]:
            log.warning("the pinning service ignores the metadata filter on listings: "
                        "scoping by the ledger instead")
        self._verdict = (time.monotonic(), False)


class PinListing:
    """The read side of pins, scoped to the asking workspace."""

    def __init__(
        self, accounts: Accounts, ledger: Ledger, admins: Admins, scopes: Scopes, *,
        default_auto_pin: str,
    ) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.admins = admins
        self.scopes = scopes
        self.channels = ChannelSettings(ledger)
        self.default_auto_pin = default_auto_pin
        self.filter_check = FilterCheck()

    # -- /pins and /pins find --------------------------------------------------------------

    async def list_pins(self, query: PinsQuery, team_id: str) -> Listing:
        """A page of the workspace's pins: the account listing (optionally a `key=value`
        metadata search) or, for mine/here/name searches, the ledger."""
        wanted = metadata_search(query)
        if query.scope != "all" and wanted is None:
            return await self._ledger_page(query, team_id)
        scope = await self.scopes.scope(team_id)
        return await self._account_page(query, scope, wanted or {}, PAGE_SIZE)

    async def _account_page(
        self, query: PinsQuery, scope: Scope, wanted: dict[str, str], limit: int,
        *, settle: bool = True,
    ) -> Listing:
        own = scope.metadata_filter
        if own and wanted.get(TEAM_KEY, own[TEAM_KEY]) != own[TEAM_KEY]:
            # Another workspace's mark: answered like any search that matches nothing.
            return Listing(PinPage(offset=query.offset, limit=limit), {})
        wanted = {**wanted, **own}
        client = await self.accounts.client_for(scope.team_id)
        if wanted and not await self.filter_check.honoured(client):
            return await self._unfiltered(query, scope, wanted, client, limit)
        page = await client.list_pins(
            offset=query.offset, limit=limit, pinned=query.api_pinned, sort_by=query.sort,
            sort_order="DESC" if query.order == "desc" else "ASC", metadata=wanted or None,
        )
        if not all(keyvalues_match(p, wanted) for p in page.pins):
            self.filter_check.ignored()
            return await self._unfiltered(query, scope, wanted, client, limit)
        if settle and not page.pins and query.offset > 0 and page.totals.files > 0:
            # The page emptied under us (pins removed meanwhile): show the last real page.
            last = ((page.totals.files - 1) // limit) * limit
            return await self._account_page(query.page(last), scope, wanted, limit,
                                            settle=False)
        return Listing(page, await self._attribute(scope.team_id, page.pins))

    async def _unfiltered(
        self, query: PinsQuery, scope: Scope, wanted: dict[str, str], client: W3IPFSClient,
        limit: int,
    ) -> Listing:
        """The service cannot filter: the plain listing of a shared account comes from the
        ledger (this team's rows, with their totals); a `key=value` search scans the newest
        pins and keeps those that match, this workspace's mark included."""
        if wanted == scope.metadata_filter:
            return await self._ledger_page(replace(query, scope="all"), scope.team_id, limit)
        matches: list[Pin] = []
        scanned = 0
        async for page in client.iter_pages(
            SCAN_PAGE, query.api_pinned, query.sort,
            "DESC" if query.order == "desc" else "ASC", metadata=wanted,
        ):
            matches += [p for p in page.pins
                        if keyvalues_match(p, wanted) and scope.owns(p, in_ledger=False)]
            scanned += len(page.pins)
            if scanned >= SCAN_LIMIT:
                log.info("metadata search stopped after the newest %d pins", scanned)
                break
        offset = query.offset
        if offset >= len(matches) > 0:
            offset = ((len(matches) - 1) // limit) * limit
        window = matches[offset:offset + limit]
        page = PinPage(totals=Totals(files=len(matches), size=sum(p.size or 0 for p in matches)),
                       pins=window, offset=offset, limit=limit)
        return Listing(page, await self._attribute(scope.team_id, window))

    async def _attribute(self, team_id: str, pins: Sequence[Pin]) -> dict[str, blocks.Owner]:
        """Who pinned what, from the ledger (which the API's view also brings up to date)."""
        try:
            await self.ledger.reconcile(team_id, pins)
            records = await self.ledger.by_pin_ids(team_id, [p.id for p in pins])
        except LedgerUnavailable as exc:
            log.warning("listing without attribution: %s", exc)
            return {}
        return {pin_id: _owner(r) for pin_id, r in records.items()}

    async def _ledger_page(
        self, query: PinsQuery, team_id: str, limit: int = PAGE_SIZE, *, settle: bool = True
    ) -> Listing:
        records, count, size = await self.ledger.page(
            team_id, user_id=query.user if query.scope == "mine" else None,
            channel_id=query.channel if query.scope == "here" else None,
            name_contains=query.search if query.scope == "find" else None,
            status=query.status, sort=query.sort, descending=query.order == "desc",
            offset=query.offset, limit=limit,
        )
        if settle and not records and query.offset > 0 and count > 0:
            last = ((count - 1) // limit) * limit
            return await self._ledger_page(query.page(last), team_id, limit, settle=False)
        pins = await asyncio.gather(*(self._fresh(r) for r in records))
        page = PinPage(totals=Totals(files=count, size=size), pins=list(pins),
                       offset=query.offset, limit=limit)
        return Listing(page, {r.pin_id: _owner(r) for r in records if r.pin_id})

    async def _fresh(self, record: PinRecord) -> Pin:
        """The record's pin, asking the API again when the ledger's view is old."""
        if record.pin_id is None or record.state == "unpinned" or (
            record.checked_at and utcnow() - record.checked_at < RECHECK_AFTER
        ):
            return record.as_pin()
        try:
            account = await self.accounts.client_for_pin(record.team_id, record)
            if account is None:
                return record.as_pin()  # its account is not this workspace's any more
            pin = await account.get_pin(record.pin_id)
        except NotFoundError:
            await _quietly(self.ledger.mark_gone(record.team_id, record.pin_id))
            return replace(record, state="unpinned", unpinned_at=utcnow()).as_pin()
        except W3IPFSError as exc:
            log.info("pin %s not refreshed: %s", record.pin_id, exc)
            return record.as_pin()
        await self.ledger.reconcile(record.team_id, [pin])
        return pin

    # -- one pin -----------------------------------------------------------------------------

    async def details(self, pin_id: str, team_id: str) -> tuple[Pin, blocks.Owner | None]:
        """The pin and who pinned it. `NotFoundError` for an unknown id and, alike, for a pin
        that is not this workspace's (one API call either way)."""
        scope = await self.scopes.scope(team_id)
        record = await self._record(team_id, pin_id)
        client = await self.accounts.client_for_pin(team_id, record)
        if client is None:
            # Made with keys the workspace no longer uses: no account here knows it, so the
            # ledger's copy is all there is (not "no such pin", not gone).
            assert record is not None
            return record.as_pin(), _owner(record)
        try:
            pin = await client.get_pin(pin_id)
            if not scope.owns(pin, in_ledger=record is not None):
                raise NotFoundError(status_code=404)
        except NotFoundError:
            await _quietly(self.ledger.mark_gone(team_id, pin_id))
            raise
        await self.ledger.reconcile(team_id, [pin])
        return pin, _owner(record) if record else None

    async def _record(self, team_id: str, pin_id: str) -> PinRecord | None:
        """The ledger's row; None when the database is down (a shared account then shows
        only pins marked with the team: failing closed)."""
        try:
            return await self.ledger.by_pin_id(team_id, pin_id)
        except LedgerUnavailable as exc:
            log.warning("pin %s without the ledger: %s", pin_id, exc)
            return None

    # -- App Home ----------------------------------------------------------------------------

    async def home_data(
        self, client: AsyncWebClient, team_id: str, user_id: str, keys_state: str
    ) -> blocks.HomeData:
        """Everything App Home shows, each part degrading on its own when a source fails."""
        totals: Totals | None = None
        latest: list[Pin] = []
        owners: dict[str, blocks.Owner] = {}
        try:
            scope = await self.scopes.scope(team_id)
            listing = await self._account_page(PinsQuery(status="pinned"), scope, {},
                                               HOME_ROWS)
            totals, latest, owners = listing.page.totals, listing.page.pins, listing.owners
        except (W3IPFSError, LedgerUnavailable) as exc:
            log.info("home without the workspace's pins: %s", exc)
        mine: list[Pin] = []
        settings: list[tuple[str, bool, str | None]] = []
        try:
            records, _, _ = await self.ledger.page(team_id, user_id=user_id, status="pinned",
                                                   limit=HOME_ROWS)
            mine = [r.as_pin() for r in records]
            owners.update({r.pin_id: _owner(r) for r in records if r.pin_id})
            settings = await self.channels.all(team_id)
        except LedgerUnavailable as exc:
            log.info("home without ledger data: %s", exc)
        return blocks.HomeData(
            totals=totals, keys_state=keys_state, mine=mine, latest=latest, owners=owners,
            is_admin=await self.admins.is_admin(client, team_id, user_id),
            channel_settings=settings, default_auto_pin=self.default_auto_pin,
        )


async def _quietly(work: Any) -> None:
    try:
        await work
    except LedgerUnavailable as exc:
        log.warning("ledger update skipped: %s", exc)


def _owner(record: PinRecord) -> blocks.Owner:
    return blocks.Owner(user_id=record.user_id, channel_id=record.channel_id,
                        kept=record.kept, kept_by=record.kept_by,
                        expires_at=record.expires_at, retention_seconds=record.retention_seconds)
