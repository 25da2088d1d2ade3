"""`pinbot check`: everything that is configured, checked for real, one line each.

A broken setup shows up as a pinbot that starts and then fails on the first shared file, or a
pin that never gets its card. Each check here does the smallest real operation that would fail
the same way (the API call, the connection, the migration table), so one command says what is
wrong and what to do, before Slack users find out. What is not configured is said, not failed:
the operator CLI needs no Slack token, and a fresh SQLite file is created by `pinbot serve`.

Each check returns a `Check`; none raises. Secrets never appear in a line: messages name the
setting, never its value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from aiohttp import ClientError
from slack_sdk.errors import SlackApiError

from .app import BOT_SCOPES
from .keys import KeyVault, KeyVaultError
from .queue import QueueUnavailable, RedisQueue
from .settings import Settings
from .slack.clients import create_slack_client
from .store import Ledger, LedgerUnavailable, SchemaError, current_revision, head_revision
from .store.ledger import WorkspaceKeys
from .store.readonly import missing_sqlite_file
from .w3ipfs import (
    AuthenticationError,
    MalformedResponseError,
    RateLimitedError,
    ServerError,
    TransportError,
    W3IPFSClient,
    W3IPFSError,
)

UNAVAILABLE = (TransportError, ServerError, RateLimitedError, MalformedResponseError)

#: What a failure means, for the exit code: a setting missing, a credential refused, a service
#: that cannot be reached, or anything else (a scope missing, a schema behind).
Failure = Literal["config", "rejected", "unavailable", "error"]
Status = Literal["ok", "fail", "skip"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    failure: Failure | None = None

    @property
    def mark(self) -> str:
        return {"ok": "✓", "fail": "✗", "skip": "·"}[self.status]

    @property
    def line(self) -> str:
        return f"{self.mark} {self.name}: {self.detail}"


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def fail(name: str, detail: str, failure: Failure) -> Check:
    return Check(name, "fail", detail, failure)


def skip(name: str, detail: str) -> Check:
    return Check(name, "skip", detail)


PINNING = "Pinning keys"


async def pinning_keys(settings: Settings) -> tuple[Check, str | None]:
    """The W3IPFS keys, against the service's own test endpoint; also its message."""
    if settings.w3ipfs_api_key is None or settings.w3ipfs_secret_key is None:
        return fail(PINNING, "W3IPFS_API_KEY and W3IPFS_SECRET_KEY must both be set "
                             "(from the W3IPFS dashboard)", "config"), None
    try:
        async with W3IPFSClient.from_settings(settings) as client:
            message = await client.test_authentication()
    except AuthenticationError:
        return fail(PINNING, f"rejected by {settings.w3ipfs_api_url}: check W3IPFS_API_KEY and "
                             "W3IPFS_SECRET_KEY in the W3IPFS dashboard", "rejected"), None
    except W3IPFSError as exc:
        failure: Failure = "unavailable" if isinstance(exc, UNAVAILABLE) else "error"
        return fail(PINNING, f"{exc} — check W3IPFS_API_URL and the network", failure), None
    return ok(PINNING, f"keys accepted by {settings.w3ipfs_api_url} ({message})"), message


def _header(headers: Mapping[str, object], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return str(value)
    return None


async def slack_token(settings: Settings) -> Check:
    """`auth.test`: is the bot token valid, for which workspace, with the scopes we ask for?"""
    name = "Slack bot token"
    if settings.oauth:
        return skip(name, "OAuth distribution: each workspace's token is in the database")
    if settings.slack_bot_token is None:
        return skip(name, "SLACK_BOT_TOKEN not set (the operator commands need none; "
                          "`pinbot serve` does)")
    client = create_slack_client(settings)
    client.retry_handlers.clear()  # one answer, fast: a check is not a job
    client.timeout = 15
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = exc.response.data.get("error") if isinstance(exc.response.data, dict) else None
        if not error:  # not Slack's JSON at all: a proxy's or a wrong host's page
            return fail(name, f"{settings.slack_api_url} did not answer as Slack's Web API "
                              f"(HTTP {exc.response.status_code}, no Slack error): check "
                              "SLACK_API_URL and any proxy in between", "unavailable")
        return fail(name, f"refused by Slack ({error}): copy the Bot User OAuth Token (xoxb-…) "
                          "from OAuth & Permissions into SLACK_BOT_TOKEN", "rejected")
    except (ClientError, OSError, TimeoutError) as exc:
        return fail(name, f"cannot reach {settings.slack_api_url} ({type(exc).__name__}): "
                          "check SLACK_API_URL and the network", "unavailable")
    workspace = f"{response.get('team', '?')} ({response.get('team_id', '?')})"
    granted_header = _header(response.headers, "x-oauth-scopes")
    if granted_header is None:
        return ok(name, f"valid for {workspace}; Slack did not report its scopes")
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    missing = [scope for scope in BOT_SCOPES if scope not in granted]
    if missing:
        return fail(name, f"valid for {workspace} but missing scope(s) {', '.join(missing)}: "
                          "add them under OAuth & Permissions (they are in manifest.yml) and "
                          "reinstall the app", "error")
    return ok(name, f"valid for {workspace}, all {len(BOT_SCOPES)} scopes granted")


def slack_mode(settings: Settings) -> Check:
    """What the chosen mode needs to receive Slack's requests: an app token or a secret."""
    if settings.slack_app_token is not None:
        name = "Socket Mode"
        if not settings.slack_app_token.get_secret_value().startswith("xapp-"):
            return fail(name, "SLACK_APP_TOKEN is not an app-level token (xapp-…): create one "
                              "with connections:write under Basic Information", "config")
        return ok(name, "SLACK_APP_TOKEN set (xapp-…)")
    name = "HTTP mode"
    if settings.slack_signing_secret is None:
        if settings.slack_bot_token is None and not settings.oauth:
            return skip(name, "no Slack settings; `pinbot serve` needs SLACK_SIGNING_SECRET "
                              "(or SLACK_APP_TOKEN for Socket Mode)")
        return fail(name, "SLACK_SIGNING_SECRET not set: copy the Signing Secret from Basic "
                          "Information (or set SLACK_APP_TOKEN for Socket Mode)", "config")
    return ok(name, "SLACK_SIGNING_SECRET set")


async def database(settings: Settings) -> Check:
    """Reachable, and at the migration this pinbot expects."""
    name = "Database"
    missing = missing_sqlite_file(settings.database_url)
    if missing is not None:
        return skip(name, f"SQLite file {missing} does not exist yet; `pinbot serve` (or "
                          "`pinbot db upgrade`) creates it")
    try:
        ledger = await Ledger.open(settings.database_url)
    except LedgerUnavailable as exc:
        return fail(name, f"{exc}: check PINBOT_DATABASE_URL and that the server is up",
                    "unavailable")
    try:
        current = await current_revision(ledger.engine)
    except SchemaError as exc:
        return fail(name, str(exc), "error")
    except LedgerUnavailable as exc:
        return fail(name, str(exc), "unavailable")
    finally:
        await ledger.close()
    head = head_revision()
    if current != head:
        at = f"at schema revision {current}" if current else "empty (no schema yet)"
        return fail(name, f"{at}, latest is {head}: run `pinbot db upgrade` (or start "
                          "`pinbot serve`, which migrates)", "error")
    return ok(name, f"reachable, schema at the latest revision ({head})")


async def redis(settings: Settings) -> Check:
    name = "Redis"
    if not settings.redis_url:
        return skip(name, "PINBOT_REDIS_URL not set: `pinbot serve` runs the pin jobs itself")
    try:
        queue = await RedisQueue.connect(settings.redis_url)
    except QueueUnavailable as exc:
        return fail(name, f"{exc}: check PINBOT_REDIS_URL and that Redis is up", "unavailable")
    await queue.aclose()
    return ok(name, "reachable")


async def encryption_key(settings: Settings) -> Check:
    """The key opens every per-workspace key pair already stored (when the database is up)."""
    name = "Encryption key"
    if settings.encryption_key is None:
        return skip(name, "PINBOT_ENCRYPTION_KEY not set: `/pin setup` (own keys per "
                          "workspace) is off")
    vault = KeyVault(settings.encryption_key)  # its format was checked when settings loaded
    if missing_sqlite_file(settings.database_url) is not None:
        return ok(name, "valid Fernet key(s); no stored workspace keys yet")
    try:
        ledger = await Ledger.open(settings.database_url)
    except LedgerUnavailable:
        return ok(name, "valid Fernet key(s); stored workspace keys not checked (no database)")
    try:
        stored = await WorkspaceKeys(ledger).all()
        for row in stored:
            vault.decrypt(row.api_key_enc)
            vault.decrypt(row.secret_key_enc)
    except KeyVaultError as exc:
        return fail(name, f"{exc}: put the old key back after the new one in "
                          "PINBOT_ENCRYPTION_KEY", "config")
    except LedgerUnavailable:
        return ok(name, "valid Fernet key(s); stored workspace keys not checked (no schema)")
    finally:
        await ledger.close()
    return ok(name, f"valid; opens all {len(stored)} stored workspace key pair(s)")


async def run_all(settings: Settings) -> tuple[list[Check], str | None]:
    """Every check, in the order a person would fix them; and the pinning API's message."""
    pinning, message = await pinning_keys(settings)
    checks = [pinning, await slack_token(settings), slack_mode(settings),
              await database(settings), await redis(settings), await encryption_key(settings)]
    return checks, message
