"""Shared fixtures: emulators on 127.0.0.1 and clients wired to them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.w3ipfs import RetryPolicy, W3IPFSClient
from tests.databases import fresh_database
from tests.emulators.w3ipfs import W3IPFSEmulator

API_KEY = "test-key"
SECRET_KEY = "test-secret"
#: Retries as in production, minus the waiting, so fault tests stay fast.
FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, max_retry_after=5)


@pytest.fixture
async def w3ipfs(tmp_path: object) -> AsyncIterator[W3IPFSEmulator]:
    emulator = W3IPFSEmulator({API_KEY: SECRET_KEY})
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def client(w3ipfs: W3IPFSEmulator) -> AsyncIterator[W3IPFSClient]:
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as c:
        yield c


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """No pinbot setting leaks in from the developer's environment or .env."""
    for name in list(os.environ):
        if name.startswith(("W3IPFS_", "SLACK_", "PINBOT_")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind the ledger supports (same tests run on both)."""
    async with fresh_database(request.param, tmp_path) as url:
        yield url
