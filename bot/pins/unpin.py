"""Unpinning: look pins up, say who may unpin each, unpin — the workspace's own pins only.

Every entry point (`/unpin`, the card's Unpin button, a list row's menu, App Home's modal,
the confirm button) comes here with ids that may be forged. A pin that is not this
workspace's (see `permissions.Scope`) is answered exactly as an unknown id: one API read,
then "no such pin". Permissions are checked again at the moment of unpinning, so a confirm
pressed later, or forged, changes nothing it should not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..permissions import Admins, Scope, Scopes, unpin_refusal
from ..store import Ledger, LedgerUnavailable, PinRecord
from ..w3ipfs import NotFoundError, Pin, W3IPFSClient, W3IPFSError
from .accounts import KEYS_NO_LONGER_USED, Accounts

log = logging.getLogger(__name__)

#: What an unknown id, and a pin of another workspace, come back as.
NO_SUCH_PIN = "no such pin"


class Unpinning:
    def __init__(self, accounts: Accounts, ledger: Ledger, admins: Admins, scopes: Scopes
                 ) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.admins = admins
        self.scopes = scopes

    async def elsewhere(self, team_id: str, pin_ids: Sequence[str]) -> list[str]:
        """The ids of this workspace's pins made with pinning keys it no longer uses.

        Set apart before anything else: the account the workspace uses now would answer 404
        for them, read as "no such pin" (or, unpinning, as already gone). Raises
        `LedgerUnavailable` (only the ledger knows a pin's account) and `W3IPFSError`.
        """
        current = await self.accounts.client_for(team_id)
        records = await self.ledger.by_pin_ids(team_id, list(pin_ids))
        return [i for i in pin_ids
                if await self.accounts.locate(current, records.get(i)) is None]

    async def lookup(self, team_id: str, pin_ids: Sequence[str]) -> tuple[list[Pin], list[str]]:
        """Split ids into this workspace's pins and unknown ids (other errors propagate).

        Each id is asked of the account its ledger row was made with; an id made with keys
        no longer used (see `elsewhere`) is not asked at all and counts as unknown here."""
        scope = await self.scopes.scope(team_id)
        current = await self.accounts.client_for(team_id)
        accounts = await self._accounts(current, team_id, pin_ids)
        found = await asyncio.gather(
            *(_ask(accounts[i], i) for i in pin_ids), return_exceptions=True
        )
        fetched: dict[str, Pin] = {}
        for result in found:
            if isinstance(result, NotFoundError):
                continue
            if isinstance(result, BaseException):
                raise result
            fetched[result.id] = result
        records = await self._records(team_id, list(fetched))
        known = set(records or {})
        pins: list[Pin] = []
        unknown: list[str] = []
        for pin_id, result in zip(pin_ids, found, strict=True):
            if isinstance(result, Pin) and scope.owns(result, in_ledger=result.id in known):
                pins.append(result)
            else:
                unknown.append(pin_id)
        return pins, unknown

    async def can_unpin(
        self, client: AsyncWebClient, team_id: str, user_id: str, pins: Sequence[Pin]
    ) -> dict[str, str | None]:
        """pin id -> None (allowed) or the refusal sentence. Raises `LedgerUnavailable`.

        `pins` are the workspace's own (from `lookup`)."""
        records = await self.ledger.by_pin_ids(team_id, [p.id for p in pins])
        return await self._verdicts(client, team_id, user_id, pins, records)

    async def _verdicts(
        self, client: AsyncWebClient, team_id: str, user_id: str, pins: Sequence[Pin],
        records: dict[str, PinRecord],
    ) -> dict[str, str | None]:
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
                record, user_id, is_admin=admin, name=blocks.escape(pin.name or pin.id)
            )
        return verdicts

    async def unpin(
        self, client: AsyncWebClient, team_id: str, user_id: str, pin_ids: Sequence[str]
    ) -> list[blocks.UnpinOutcome]:
        """Unpin what this user may unpin; say why for the rest. Checked at the last moment."""
        try:
            scope = await self.scopes.scope(team_id)
            current = await self.accounts.client_for(team_id)
        except W3IPFSError as exc:
            log.warning("unpin by %s: no pinning account: %s", user_id, exc)
            return [blocks.UnpinOutcome(i, error=exc.user_message) for i in pin_ids]
        accounts = await self._accounts(current, team_id, pin_ids)
        outcomes = []
        for pin_id in pin_ids:
            account = accounts[pin_id]
            if account is None:
                # Its account is not this workspace's any more: a 404 there is no answer.
                log.info("unpin %s by %s: made with keys the workspace no longer uses; "
                         "nothing sent", pin_id, user_id)
                outcomes.append(blocks.UnpinOutcome(pin_id,
                                                    error=KEYS_NO_LONGER_USED))
                continue
            try:
                pin = await self._unpin_one(client, account, scope, user_id, pin_id)
            except NotFoundError:
                await _quietly(self.ledger.mark_gone(team_id, pin_id))
                outcomes.append(blocks.UnpinOutcome(pin_id, error=NO_SUCH_PIN))
                continue
            except _Refused as refusal:
                log.info("unpin %s by %s refused", pin_id, user_id)
                outcomes.append(blocks.UnpinOutcome(pin_id, error=str(refusal)))
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
            await _quietly(self.ledger.mark_unpinned(team_id, pin_id, user_id))
            outcomes.append(blocks.UnpinOutcome(pin_id, pin=pin))
        return outcomes

    async def _unpin_one(
        self, client: AsyncWebClient, account: W3IPFSClient, scope: Scope, user_id: str,
        pin_id: str,
    ) -> Pin:
        pin = await account.get_pin(pin_id)
        records = await self._records(scope.team_id, [pin.id])
        record = (records or {}).get(pin.id)
        if not scope.owns(pin, in_ledger=record is not None):
            raise NotFoundError(status_code=404)  # not this workspace's: as if unknown
        if records is None:
            raise LedgerUnavailable("permissions need the ledger")
        verdict = (await self._verdicts(client, scope.team_id, user_id, [pin], records))[pin.id]
        if verdict is not None:
            raise _Refused(verdict)
        return await account.unpin(pin_id)

    async def _accounts(self, current: W3IPFSClient, team_id: str, pin_ids: Sequence[str]
                        ) -> dict[str, W3IPFSClient | None]:
        """Each id's account: the one its ledger row was made with (None: keys no longer
        used). Without the ledger every id is asked of the current account, as before."""
        records = await self._records(team_id, list(pin_ids)) or {}
        return {i: await self.accounts.locate(current, records.get(i)) for i in pin_ids}

    async def _records(self, team_id: str, pin_ids: list[str]) -> dict[str, PinRecord] | None:
        """The ledger's rows for these ids; None when the database is down (a shared account
        then counts only pins marked with the team as its own: failing closed)."""
        try:
            return await self.ledger.by_pin_ids(team_id, pin_ids)
        except LedgerUnavailable as exc:
            log.warning("unpin lookup without the ledger: %s", exc)
            return None


async def _ask(account: W3IPFSClient | None, pin_id: str) -> Pin:
    """The pin, from its account; an account no longer used answers nothing (as unknown)."""
    if account is None:
        raise NotFoundError(status_code=404)
    return await account.get_pin(pin_id)


class _Refused(Exception):
    """This user may not unpin this pin; the message says who can (mrkdwn, escaped)."""


async def _quietly(work: Any) -> None:
    try:
        await work
    except LedgerUnavailable as exc:
        log.warning("ledger update skipped: %s", exc)
