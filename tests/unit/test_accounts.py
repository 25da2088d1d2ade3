"""Which pinning account a workspace's work goes to (bot/pins/accounts.py).

A workspace with keys of its own (`/pin setup`) must have its files pinned there and nowhere
else: not in the operator's shared account, where it can neither list nor unpin them and the
operator reads them. The service is the W3IPFS emulator on the wire, with two accounts; the
keys are stored encrypted in a temporary SQLite ledger, as in production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.keys import KeyVault, last4
from bot.pins import accounts as accounts_module
from bot.pins.accounts import Accounts
from bot.store import Ledger, LedgerUnavailable, upgrade
from bot.store.ledger import WorkspaceKeys, create_engine
from bot.w3ipfs import AuthenticationError, W3IPFSClient
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY

OWN_KEY, OWN_SECRET = "team-own-api-key-4242", "team-own-secret-9999"
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"


@dataclass
class Setup:
    service: W3IPFSEmulator
    default: W3IPFSClient
    ledger: Ledger
    vault: KeyVault

    def accounts(self, *, vault: bool = True) -> Accounts:
        return Accounts(self.default, self.ledger, self.vault if vault else None)

    async def set_keys(self, team: str, api_key: str, secret: str,
                       vault: KeyVault | None = None) -> None:
        sealer = vault or self.vault
        await WorkspaceKeys(self.ledger).put(team, sealer.encrypt(api_key),
                                             sealer.encrypt(secret), last4(api_key), "UADMIN")

    async def pin_as(self, accounts: Accounts, team: str) -> None:
        await (await accounts.client_for(team)).pin_by_hash(CID, {"slack_team": team})

    def pinned_in(self, api_key: str) -> int:
        return len(self.service.all_pins(api_key))


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    service = W3IPFSEmulator({API_KEY: SECRET_KEY, OWN_KEY: OWN_SECRET})
    await service.start()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    await upgrade(ledger.engine)
    vault = KeyVault(SecretStr(Fernet.generate_key().decode()))
    async with W3IPFSClient(service.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as default:
        try:
            yield Setup(service, default, ledger, vault)
        finally:
            await ledger.close()
            await service.stop()


async def test_without_a_vault_every_workspace_uses_the_environment_s_account(
    setup: Setup,
) -> None:
    await setup.set_keys("T1", OWN_KEY, OWN_SECRET)  # ignored: no PINBOT_ENCRYPTION_KEY
    accounts = setup.accounts(vault=False)
    await setup.pin_as(accounts, "T1")
    assert (setup.pinned_in(API_KEY), setup.pinned_in(OWN_KEY)) == (1, 0)
    assert not await accounts.uses_own_keys("T1")


async def test_a_workspace_s_own_keys_are_used_for_it_alone(setup: Setup) -> None:
    await setup.set_keys("T1", OWN_KEY, OWN_SECRET)
    accounts = setup.accounts()
    await setup.pin_as(accounts, "T1")
    await setup.pin_as(accounts, "T2")  # no keys of its own: the shared account
    assert (setup.pinned_in(OWN_KEY), setup.pinned_in(API_KEY)) == (1, 1)
    assert await accounts.uses_own_keys("T1") and not await accounts.uses_own_keys("T2")


async def test_new_keys_apply_at_once_here_and_within_the_ttl_elsewhere(
    setup: Setup, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`/pin setup` in this process forgets the cached client; other processes pick the
    change up within CLIENT_TTL."""
    here, elsewhere = setup.accounts(), setup.accounts()
    await setup.pin_as(here, "T1")
    await setup.pin_as(elsewhere, "T1")
    assert setup.pinned_in(API_KEY) == 2
    await setup.set_keys("T1", OWN_KEY, OWN_SECRET)
    here.forget("T1")
    await setup.pin_as(here, "T1")
    assert setup.pinned_in(OWN_KEY) == 1
    await setup.pin_as(elsewhere, "T1")  # cached: still the old account, for now
    assert setup.pinned_in(API_KEY) == 3
    monkeypatch.setattr(accounts_module, "CLIENT_TTL", 0.2)
    await asyncio.sleep(0.3)
    await setup.pin_as(elsewhere, "T1")
    assert setup.pinned_in(OWN_KEY) == 2


async def test_keys_that_cannot_be_decrypted_are_refused_not_replaced(setup: Setup) -> None:
    """PINBOT_ENCRYPTION_KEY changed without `pinbot keys rotate`: the workspace is told the
    keys are refused, and nothing is pinned into the shared account instead."""
    other = KeyVault(SecretStr(Fernet.generate_key().decode()))
    await setup.set_keys("T1", OWN_KEY, OWN_SECRET, vault=other)
    with pytest.raises(AuthenticationError, match="PINBOT_ENCRYPTION_KEY"):
        await setup.accounts().client_for("T1")
    assert setup.pinned_in(API_KEY) == 0


async def test_keys_unreadable_in_an_outage_use_no_account(setup: Setup) -> None:
    """The database is down and this process has no client cached for the workspace: no
    account is guessed (the job waits, a request says the database is unreachable)."""
    down = Ledger(create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nothing"))
    try:
        accounts = Accounts(setup.default, down, setup.vault)
        with pytest.raises(LedgerUnavailable):
            await accounts.client_for("T1")
    finally:
        await down.close()


async def test_a_cached_client_carries_on_through_an_outage(
    setup: Setup, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await setup.set_keys("T1", OWN_KEY, OWN_SECRET)
    accounts = setup.accounts()
    await setup.pin_as(accounts, "T1")
    down = Ledger(create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nothing"))
    try:
        accounts.keys = WorkspaceKeys(down)
        monkeypatch.setattr(accounts_module, "CLIENT_TTL", 0.0)  # due for a re-read
        await setup.pin_as(accounts, "T1")
    finally:
        await down.close()
    assert (setup.pinned_in(OWN_KEY), setup.pinned_in(API_KEY)) == (2, 0)
