"""Listing, details, App Home data and unpinning (being moved to `bot/pins/listing.py` and
`bot/pins/unpin.py`). Pinning itself is job-based: see `bot/pins/share.py` and friends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from . import blocks
from .commands import PAGE_SIZE, PinsQuery
from .permissions import Admins, unpin_refusal
from .pins.accounts import Accounts
from .settings import Settings
from .store import Ledger, LedgerUnavailable, PinRecord
from .store.ledger import RECHECK_AFTER, ChannelSettings, utcnow
from .w3ipfs import (
    NotFoundError,
    Pin,
    PinPage,
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
class Listing:
    page: PinPage
    owners: dict[str, blocks.Owner]


class PinService:
    def __init__(
        self,
        settings: Settings,
        w3ipfs: W3IPFSClient,
        ledger: Ledger,
        accounts: Accounts,
        admins: Admins | None = None,
    ) -> None:
        self.settings = settings
        self.w3ipfs = w3ipfs
        self.ledger = ledger
        self.admins = admins or Admins(settings.admin_users)
        self.channels = ChannelSettings(ledger)
        self.accounts = accounts
        self.vault = accounts.vault
        self.keys = accounts.keys

    @property
    def gateway_url(self) -> str:
        return self.settings.w3ipfs_gateway_url

    # -- which pinning account ------------------------------------------------------------

    async def client_for(self, team_id: str) -> W3IPFSClient:
        return await self.accounts.client_for(team_id)

    def forget_team(self, team_id: str) -> None:
        self.accounts.forget(team_id)

    # -- listing ------------------------------------------------------------------------

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

def _owner(record: PinRecord) -> blocks.Owner:
    return blocks.Owner(user_id=record.user_id, channel_id=record.channel_id)
