"""A workspace's own settings: its pinning keys (`/pin setup`), auto-pin per channel, and
forgetting it on uninstall. The policy (who may, what is checked first) lives here; the
handlers only parse and render.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from .. import logs
from ..keys import last4
from ..permissions import Admins
from ..store import LedgerUnavailable
from ..store.ledger import ChannelSettings
from ..w3ipfs import AuthenticationError, W3IPFSError
from .accounts import Accounts

log = logging.getLogger(__name__)

#: A view submission must be answered within Slack's 3 s: the key check gets this long.
CHECK_WITHIN = 2.5

AutoPinsIn = Callable[[str, str], Awaitable[bool]]


class NotAllowed(Exception):
    """The person may not do this (with the sentence that says why)."""


@dataclass(frozen=True, slots=True)
class KeysState:
    """What the keys dialog may show: None when the person may not open it (see `reason`)."""

    last4: str | None = None
    reason: str | None = None


class Workspaces:
    def __init__(self, accounts: Accounts, admins: Admins, channels: ChannelSettings,
                 auto_pins_in: AutoPinsIn,
                 installations: AsyncSQLAlchemyInstallationStore | None) -> None:
        self.accounts = accounts
        self.admins = admins
        self.channels = channels
        self.auto_pins_in = auto_pins_in
        self.installations = installations

    # -- auto-pin ------------------------------------------------------------------------

    async def auto_pin(self, client: AsyncWebClient, team: str, channel: str, user: str,
                       enabled: bool | None) -> bool:
        """Set (admins only) and/or read the channel's auto-pin. Raises `NotAllowed`,
        `LedgerUnavailable`."""
        if enabled is not None:
            if not await self.admins.is_admin(client, team, user):
                raise NotAllowed("Only admins (workspace admins, or users in "
                                 "PINBOT_ADMIN_USERS) can change auto-pinning.")
            await self.channels.set(team, channel, enabled, user)
            log.info("auto-pin %s in %s by %s", enabled, channel, user)
        return await self.auto_pins_in(team, channel)

    # -- per-workspace pinning keys ------------------------------------------------------

    async def keys_state(self, client: AsyncWebClient, team: str, user: str) -> KeysState:
        if self.accounts.vault is None:
            return KeysState(reason="Per-workspace keys need PINBOT_ENCRYPTION_KEY set on the "
                                    "server first.")
        if not await self.admins.is_admin(client, team, user):
            return KeysState(reason="Only admins can change the pinning keys.")
        try:
            stored = await self.accounts.keys.get(team)
        except LedgerUnavailable as exc:
            return KeysState(reason=exc.user_message)
        return KeysState(last4=stored.last4 if stored else None)

    async def set_keys(self, client: AsyncWebClient, team: str, user: str, api_key: str,
                       secret_key: str) -> str:
        """Check the pair with the service, then store it encrypted; the key's last 4.

        Raises `NotAllowed` (not an admin, no encryption key), `ValueError` (the pair was
        refused or could not be checked: the sentence for the dialog), `LedgerUnavailable`.
        """
        logs.add_secret(api_key, secret_key)  # never logged from here on, whatever happens
        vault = self.accounts.vault
        if vault is None or not await self.admins.is_admin(client, team, user):
            raise NotAllowed("Only admins can change the pinning keys.")
        candidate = self.accounts.default.with_credentials(api_key, secret_key)
        try:
            await asyncio.wait_for(candidate.test_authentication(), CHECK_WITHIN)
        except AuthenticationError:
            raise ValueError("The pinning service rejected this key pair.") from None
        except (W3IPFSError, TimeoutError):
            raise ValueError("The pinning service could not be reached to check the keys; "
                             "try again in a minute.") from None
        await self.accounts.keys.put(team, vault.encrypt(api_key), vault.encrypt(secret_key),
                                     last4(api_key), user)
        self.accounts.forget(team)
        log.info("team %s: pinning keys set by %s (…%s)", team, user, last4(api_key))
        return last4(api_key)

    # -- uninstall -----------------------------------------------------------------------

    async def forget(self, team: str) -> None:
        """An uninstalled workspace's tokens and pinning keys are deleted, not kept around."""
        if self.installations is not None:
            try:
                await self.installations.async_delete_all(enterprise_id=None, team_id=team)
            except Exception as exc:  # the store's driver errors are not one family
                log.error("could not delete the installation of team %s: %r", team, exc)
        try:
            removed = await self.accounts.keys.delete(team)
        except LedgerUnavailable as exc:
            log.error("could not delete keys of uninstalled team %s: %s", team, exc)
            return
        self.accounts.forget(team)
        log.info("team %s uninstalled: keys %s", team, "deleted" if removed else "none stored")

