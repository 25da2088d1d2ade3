"""Shared fixtures: emulators on 127.0.0.1 and clients wired to them."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot import logs
from bot.store import Ledger, upgrade
from bot.w3ipfs import RetryPolicy, W3IPFSClient
from pinbot.emulators.slack import ISSUED
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.databases import fresh_database
from tests.hangs import pytest_timeout_set_timer  # noqa: F401  (a hook: a hang says where)

API_KEY = "w3ipfs-api-key-7f3a91"
SECRET_KEY = "w3ipfs-secret-c04e2b"
#: Every secret the suite hands the app; none may ever appear in a log record. Besides these,
#: every OAuth code, access token and refresh token the Slack emulator issues (`ISSUED`).
SECRETS = (
    API_KEY, SECRET_KEY, "xoxb-test-token", "xapp-1-test-app-token",
    "slack-signing-secret-9d21",
    "oauth-client-secret-71ab",  # SLACK_CLIENT_SECRET (tests/e2e/test_oauth.py, the emulator)
    # Per-workspace pinning keys: tests/e2e/test_oauth.py, tests/e2e/test_workspace_keys.py
    # (including a pair the service rejects).
    "alpha-api-key-1111", "alpha-secret", "beta-api-key-2222", "beta-secret",
    "team-own-api-key-4242", "team-own-secret-9999", "not-the-secret",
)
#: Retries as in production, minus the waiting, so fault tests stay fast.
FAST_RETRY = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05, max_retry_after=5)


class _SecretWatch(logging.Handler):
    """Sees every log record of the whole run, at DEBUG, as production would write it.

    Records pass pinbot's redaction (`bot.logs.install`, as in production) and are formatted
    by the production JSON formatter, traceback and `extra=` fields included. The configured
    secrets above are *not* registered with the redaction, as `configure` would in production:
    so whatever logs one of them fails this check, rather than being quietly scrubbed.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.redaction = logs.RedactingFilter()
        self.setFormatter(logs.JSONFormatter())
        self.leaks: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        record = copy.copy(record)  # scrubbed here, not for the other handlers (caplog)
        try:
            self.redaction.filter(record)
            text = self.format(record)
        except Exception:  # a broken record is not this handler's business
            return
        for secret in (*SECRETS, *ISSUED):
            if secret in text:
                self.leaks.append((record.name, text[:300]))


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log() -> Iterator[None]:
    """SECURITY.md's claim, checked over the full suite: no secret reaches a log line,
    at any level, from pinbot or from the libraries it drives."""
    logs.install()
    watch = _SecretWatch()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(watch)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(watch)
        root.setLevel(previous)
    assert not watch.leaks, f"secrets in logs: {watch.leaks[:5]}"


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


@pytest.fixture
async def ledger(database_url: str) -> AsyncIterator[Ledger]:
    """The ledger on an empty database of each kind, migrated to the latest revision."""
    opened = await Ledger.open(database_url)
    await upgrade(opened.engine)
    try:
        yield opened
    finally:
        await opened.close()
