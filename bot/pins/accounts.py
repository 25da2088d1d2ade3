"""Which pinning account a workspace uses: its own keys (`/pin setup`) or the environment's.

Every use case that talks to the pinning API asks here, so the choice is made in one place.
"""

from __future__ import annotations

import logging
import time

from .. import logs
from ..keys import KeyVault, KeyVaultError
from ..store import Ledger, LedgerUnavailable, PinRecord
from ..store.ledger import WorkspaceKeys
from ..w3ipfs import AuthenticationError, NotFoundError, W3IPFSClient, W3IPFSError
from ..w3ipfs.gateways import GatewayResolver

log = logging.getLogger(__name__)

#: A workspace's client is reused this long, so a key change takes effect within it
#: everywhere (and at once in the process that made the change, see `forget`).
CLIENT_TTL = 60.0

#: How long an account in use is taken not to hold the pins of an old key fingerprint after
#: it answered 404 for `NOT_HERE_AFTER` different ones of them (`locate`): a few requests per
#: fingerprint and this long, however many such pins a sweep pass or a cleanup walks. More
#: than one, since the first pin looked for may be one removed at the service meanwhile.
NOT_HERE_TTL = 600.0
NOT_HERE_AFTER = 3


#: What a person is told of a pin made with keys the workspace no longer uses (mrkdwn).
KEYS_NO_LONGER_USED = (
    "That pin was made with pinning keys this workspace no longer uses, so nothing was "
    "unpinned: it is still pinned in that account. To unpin it from here, an admin can "
    "restore those keys with `/pin setup`."
)


class Accounts:
    def __init__(self, default: W3IPFSClient, ledger: Ledger, vault: KeyVault | None, *,
                 gateways: GatewayResolver | None = None) -> None:
        self.default = default
        self.vault = vault
        #: Where gateway links point (W3IPFS_GATEWAY_URL, else each account's own gateway).
        self.gateways = gateways or GatewayResolver(None)
        self.keys = WorkspaceKeys(ledger)
        self.ledger = ledger
        #: (team, old fingerprint, account asked) -> since when, and the pins of that
        #: fingerprint it answered 404 for since then (`locate`).
        self._not_here: dict[tuple[str, str, str], tuple[float, set[str]]] = {}
        self._clients: dict[str, tuple[float, W3IPFSClient]] = {}

    async def client_for(self, team_id: str) -> W3IPFSClient:
        """The workspace's own pinning account if an admin set one, else the env keys.

        Clients share one connection pool; a team's is cached for a minute. Raises
        `LedgerUnavailable` when the keys cannot be read (and none are cached): guessing the
        environment's account would put a workspace that has its own where it can neither
        list nor unpin, and where the operator reads it. Jobs wait; requests say so.
        """
        if self.vault is None or not team_id:
            return self.default
        cached = self._clients.get(team_id)
        if cached is not None and time.monotonic() - cached[0] < CLIENT_TTL:
            return cached[1]
        try:
            stored = await self.keys.get(team_id)
        except LedgerUnavailable as exc:
            if cached is not None:
                return cached[1]
            log.warning("workspace keys of %s unreadable, so no account is used: %s",
                        team_id, exc)
            raise
        client = self.default
        if stored is not None:
            try:
                api_key = self.vault.decrypt(stored.api_key_enc)
                secret_key = self.vault.decrypt(stored.secret_key_enc)
                logs.add_secret(api_key, secret_key)
                client = self.default.with_credentials(api_key, secret_key)
            except KeyVaultError as exc:
                log.error("team %s: %s", team_id, exc)
                raise AuthenticationError(str(exc)) from None
        self._clients[team_id] = (time.monotonic(), client)
        return client

    async def client_for_pin(self, team_id: str, record: PinRecord | None
                             ) -> W3IPFSClient | None:
        """The account to ask about (or unpin) a pin that exists: the one it was made with.

        None means the pin was made with keys this workspace no longer has (an admin replaced
        or removed them with `/pin setup`): no account here knows it, so nothing may be asked
        or unpinned as if it were gone. Raises as `client_for` does.
        """
        return await self.locate(await self.client_for(team_id), record)

    def account_of(self, current: W3IPFSClient, record: PinRecord | None
                   ) -> W3IPFSClient | None:
        """`client_for_pin`, given the workspace's current client (a sweep pass holds it).

        A row without an account (made before migration 0009, or not in the ledger) keeps
        the behaviour it always had: the current account, with its callers' fallbacks.
        """
        if record is None or record.account is None or record.account == current.account:
            return current
        if record.account == self.default.account:
            return self.default
        return None

    async def locate(self, current: W3IPFSClient, record: PinRecord | None
                     ) -> W3IPFSClient | None:
        """`account_of`, except that a pin stamped with a key no longer in use is first looked
        for in the accounts in use (the workspace's, then the environment's).

        A fingerprint is of an API key, not of an account: an operator who rotates
        W3IPFS_API_KEY, or an admin who enters a new key of the same account with
        `/pin setup`, leaves every earlier pin in the account in use. Were those "elsewhere",
        no one could unpin them from Slack nor retention ever end them (the old key is
        revoked, so it cannot be restored). One of them found there moves all the
        workspace's rows of that fingerprint to it (`Ledger.rekey`); a 404 keeps it
        elsewhere, never gone, and is remembered for `NOT_HERE_TTL`: after `NOT_HERE_AFTER`
        different ones, none of that fingerprint is asked, so walking many costs a few
        requests. Any other failure: None (left alone, asked again later).
        """
        account = self.account_of(current, record)
        if account is not None or record is None or not record.pin_id:
            return account
        assert record.account is not None
        for candidate in dict.fromkeys((current, self.default)):
            key = (record.team_id, record.account, candidate.account)
            since, missed = self._not_here.get(key, (0.0, set()))
            if key not in self._not_here or time.monotonic() - since >= NOT_HERE_TTL:
                missed = set()
                self._not_here[key] = (time.monotonic(), missed)
            if record.pin_id in missed or len(missed) >= NOT_HERE_AFTER:
                continue
            try:
                await candidate.get_pin(record.pin_id)
            except NotFoundError:
                missed.add(record.pin_id)
                continue
            except W3IPFSError as exc:
                log.info("pin %s of an earlier key not looked for: %s", record.pin_id, exc)
                return None
            try:
                moved = await self.ledger.rekey(record.team_id, record.account,
                                                candidate.account)
            except LedgerUnavailable as exc:
                log.warning("pins of team %s not moved to the key in use: %s",
                            record.team_id, exc)
            else:
                log.info("team %s: %d pin(s) of key %s are in the account of key %s "
                         "(rotated within the account)", record.team_id, moved,
                         record.account, candidate.account)
            return candidate
        return None

    async def gateway_url(self, team_id: str) -> str:
        """The gateway base for this workspace's links: its account's, since per-workspace
        keys mean per-workspace gateways. Never raises (a link is not worth a failed card)."""
        try:
            client = await self.client_for(team_id)
        except (LedgerUnavailable, AuthenticationError):
            return self.gateways.default
        return await self.gateways.url_for(client)

    async def uses_own_keys(self, team_id: str) -> bool:
        """Whether the workspace pins into an account of its own (not the shared env one)."""
        return (await self.client_for(team_id)) is not self.default

    def forget(self, team_id: str) -> None:
        """Drop the cached client (after `/pin setup` or an uninstall)."""
        self._clients.pop(team_id, None)
