"""`pinbot check`, as a real process, against the emulators, a real database and Redis."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.keys import KeyVault
from bot.store import Ledger, upgrade
from bot.store.ledger import WorkspaceKeys
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.test_cli import Result, cli_env, pinbot
from tests.services import fresh_redis

NAMES = ("Pinning keys", "Slack bot token", "HTTP mode", "Database", "Redis", "Encryption key")


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def migrated(database_url: str) -> str:
    ledger = await Ledger.open(database_url)
    try:
        await upgrade(ledger.engine)
    finally:
        await ledger.close()
    return database_url


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    async with fresh_redis() as url:
        yield url


@pytest.fixture
def env(w3ipfs: W3IPFSEmulator, slack: SlackEmulator, migrated: str, redis_url: str,
        ) -> dict[str, str]:
    """Everything configured, and all of it right."""
    root = Path(__file__).resolve().parents[2]
    return cli_env(
        w3ipfs.base_url, PYTHONPATH=str(root), SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_API_URL=slack.api_url,
        PINBOT_DATABASE_URL=migrated, PINBOT_REDIS_URL=redis_url,
        PINBOT_ENCRYPTION_KEY=Fernet.generate_key().decode(),
    )


def line(result: Result, name: str) -> str:
    (found,) = [row for row in result.out.splitlines() if row[2:].startswith(name + ":")]
    return found


def assert_failed_alone(result: Result, name: str, code: int) -> str:
    """`name` is ✗ (with the same line as the one-line error), every other check ✓."""
    assert result.code == code, (result.out, result.err)
    assert "Traceback" not in result.out + result.err
    failed = line(result, name)
    assert failed.startswith("✗ ")
    assert result.err == f"pinbot: error: {failed[2:]}\n"
    for other in NAMES:
        if other != name:
            assert line(result, other).startswith("✓ "), result.out
    return failed


async def test_everything_configured_and_right_all_pass(
    env: dict[str, str], slack: SlackEmulator, tmp_path: Path,
) -> None:
    result = await pinbot("check", env=env, cwd=tmp_path)
    assert result.code == 0, (result.out, result.err)
    assert result.err == ""
    assert [row[:2] for row in result.out.splitlines()] == ["✓ "] * len(NAMES)
    assert "Example (T0TEST)" in line(result, "Slack bot token")  # which workspace
    assert "latest revision" in line(result, "Database")
    as_json = (await pinbot("check", "--json", env=env, cwd=tmp_path)).json()
    assert as_json["ok"] is True  # type: ignore[index]
    assert [c["status"] for c in as_json["checks"]] == ["ok"] * len(NAMES)  # type: ignore[index]
    assert slack.calls_to("auth.test")  # the token was really tried


async def test_wrong_bot_token(env: dict[str, str], tmp_path: Path) -> None:
    wrong = "xoxb-not-this-workspaces-token"
    result = await pinbot("check", env={**env, "SLACK_BOT_TOKEN": wrong}, cwd=tmp_path)
    failed = assert_failed_alone(result, "Slack bot token", 4)
    assert "invalid_auth" in failed and "SLACK_BOT_TOKEN" in failed
    assert wrong not in result.out + result.err


async def test_missing_scope(env: dict[str, str], slack: SlackEmulator, tmp_path: Path) -> None:
    slack.scopes.remove("reactions:write")
    result = await pinbot("check", env=env, cwd=tmp_path)
    failed = assert_failed_alone(result, "Slack bot token", 1)
    assert "missing scope(s) reactions:write" in failed and "reinstall" in failed


async def test_unreachable_database(env: dict[str, str], tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+asyncpg://pinbot:db-password-55ab@127.0.0.1:{port}/pinbot"
    result = await pinbot("check", env={**env, "PINBOT_DATABASE_URL": url}, cwd=tmp_path)
    assert result.code == 6, (result.out, result.err)
    failed = line(result, "Database")
    assert failed.startswith("✗ ") and "PINBOT_DATABASE_URL" in failed
    assert result.err == f"pinbot: error: {failed[2:]}\n"
    assert "db-password-55ab" not in result.out + result.err


async def test_database_not_at_latest_migration(env: dict[str, str], tmp_path: Path) -> None:
    empty = tmp_path / "old.db"
    empty.touch()  # an existing SQLite file no pinbot migrated
    url = f"sqlite+aiosqlite:///{empty}"
    result = await pinbot("check", env={**env, "PINBOT_DATABASE_URL": url}, cwd=tmp_path)
    failed = assert_failed_alone(result, "Database", 1)
    assert "no schema yet" in failed and "pinbot db upgrade" in failed


async def test_encryption_key_that_cannot_open_stored_keys(
    env: dict[str, str], tmp_path: Path,
) -> None:
    old = Fernet.generate_key().decode()
    vault = KeyVault(SecretStr(old))
    ledger = await Ledger.open(env["PINBOT_DATABASE_URL"])
    try:
        await WorkspaceKeys(ledger).put("T0TEST", vault.encrypt("api"), vault.encrypt("secret"),
                                        "…api", "UADMIN")
    finally:
        await ledger.close()
    result = await pinbot("check", env=env, cwd=tmp_path)  # env's key is a different one
    failed = assert_failed_alone(result, "Encryption key", 3)
    assert "cannot be decrypted" in failed
    both = f"{Fernet.generate_key().decode()},{old}"  # a new key first, the old one still there
    fixed = await pinbot("check", env={**env, "PINBOT_ENCRYPTION_KEY": both}, cwd=tmp_path)
    assert fixed.code == 0 and "opens all 1 stored" in line(fixed, "Encryption key")


async def test_unreachable_redis_and_socket_mode_token(
    env: dict[str, str], tmp_path: Path,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await pinbot("check", env={**env, "PINBOT_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
                          cwd=tmp_path)
    assert_failed_alone(result, "Redis", 6)
    socket_mode = {**env, "SLACK_APP_TOKEN": "xoxb-a-bot-token-in-the-wrong-place"}
    wrong = await pinbot("check", env=socket_mode, cwd=tmp_path)
    assert wrong.code == 3
    failed = line(wrong, "Socket Mode")
    assert failed.startswith("✗ ") and "xapp-" in failed
    assert "xoxb-a-bot-token-in-the-wrong-place" not in wrong.out + wrong.err


async def test_nothing_but_pinning_keys_is_not_a_failure(
    w3ipfs: W3IPFSEmulator, tmp_path: Path,
) -> None:
    """The operator CLI needs only the pinning keys: what is not configured is said, not failed,
    and the default SQLite file is not created by checking it."""
    env = cli_env(w3ipfs.base_url, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = await pinbot("check", env=env, cwd=tmp_path)
    assert result.code == 0, (result.out, result.err)
    assert line(result, "Pinning keys").startswith("✓ ")
    for name in ("Slack bot token", "HTTP mode", "Database", "Redis", "Encryption key"):
        assert line(result, name).startswith("· "), result.out
    assert list(tmp_path.iterdir()) == []


async def test_blank_signing_secret_is_not_set(env: dict[str, str], tmp_path: Path) -> None:
    """`SLACK_SIGNING_SECRET=` (a blank line in .env or a Secret) is ✗, not "set"."""
    result = await pinbot("check", env={**env, "SLACK_SIGNING_SECRET": " "}, cwd=tmp_path)
    failed = assert_failed_alone(result, "HTTP mode", 3)
    assert "SLACK_SIGNING_SECRET not set" in failed


async def test_malformed_database_and_redis_urls_are_one_line(
    env: dict[str, str], tmp_path: Path,
) -> None:
    """Unparseable URLs: one line naming the setting, exit 3, no traceback, no password."""
    cases = {"PINBOT_DATABASE_URL": "postgresql+asyncpg://pinbot:db-pw-77ab@postgres:port/x",
             "PINBOT_REDIS_URL": "http://:redis-pw-91cd@redis:6379/0"}
    for name, url in cases.items():
        result = await pinbot("check", env={**env, name: url}, cwd=tmp_path)
        assert result.code == 3, (name, result.out, result.err)
        assert result.err.startswith(f"pinbot: error: invalid setting {name}: must be")
        assert result.err.count("\n") == 1 and "Traceback" not in result.out + result.err
        assert "-pw-" not in result.out + result.err


async def test_slack_api_url_answering_html_is_unreachable_not_refused(
    env: dict[str, str], tmp_path: Path,
) -> None:
    """A proxy's HTML page where Slack's API should be is not "refused by Slack (error)"."""
    async def sign_in_page(_: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in to the proxy</html>", content_type="text/html")

    page = web.Application()
    page.router.add_route("*", "/{tail:.*}", sign_in_page)
    runner = web.AppRunner(page)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        result = await pinbot("check", env={**env, "SLACK_API_URL": f"http://127.0.0.1:{port}/api/"},
                              cwd=tmp_path)
    finally:
        await runner.cleanup()
    failed = assert_failed_alone(result, "Slack bot token", 6)
    assert "did not answer as Slack's Web API" in failed and "SLACK_API_URL" in failed
    assert env["SLACK_BOT_TOKEN"] not in result.out + result.err
