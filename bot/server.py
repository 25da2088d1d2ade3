"""The process: aiohttp serving Bolt on `POST /slack/events` and `GET /healthz`, or Socket Mode.

In Socket Mode the same aiohttp server still runs, for `/healthz` only, so a container
orchestrator can watch either mode the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from . import allocator, inbound, logs, metrics
from .app import Registrar, create_app
from .keys import KeyVault
from .services import Services
from .settings import Settings
from .store import Ledger, LedgerUnavailable, upgrade
from .store.ledger import WorkspaceKeys

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)
BOLT = web.AppKey("bolt", AsyncApp)
GATE = web.AppKey("gate", inbound.Gate)


async def slack_events(request: web.Request) -> web.Response:
    """Authenticate first (`bot.inbound`), then hand the request to Bolt.

    A refused request gets its status and one short log line — never its body: it may be
    a megabyte of someone's bytes, or a real submission whose signature failed (a clock off).
    """
    started = time.perf_counter()
    bolt = request.app[BOLT]
    gate = request.app[GATE]
    try:
        timestamp, signature = gate.check_headers(request.headers)
        raw = await request.read()  # raises 413 past client_max_size (inbound.MAX_BODY)
        body = gate.verify(raw, timestamp, signature)
        bolt_request = inbound.bolt_request(body, request.query_string, request.headers)
    except inbound.Rejected as rejected:
        log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote,
                    rejected.reason)
        return web.json_response({"error": rejected.public}, status=rejected.status)
    except web.HTTPRequestEntityTooLarge:
        log.warning("refused %s %s from %s: body over %d bytes", request.method, request.path,
                    request.remote, inbound.MAX_BODY)
        raise
    bolt_response = await bolt.async_dispatch(bolt_request)
    response = await to_aiohttp_response(bolt_response)
    elapsed = time.perf_counter() - started
    metrics.ACK_SECONDS.observe(elapsed)
    # How long the app itself took to answer (the rest of what Slack sees is the network).
    response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.2f}"
    return response


def _browser_request(request: web.Request) -> AsyncBoltRequest:
    """A browser's GET for the OAuth flow: query and headers; a body, if any, is not read."""
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


async def oauth_install(request: web.Request) -> web.Response:
    """`GET /slack/install`: the "Add to Slack" page (OAuth mode)."""
    flow = request.app[BOLT].oauth_flow
    assert flow is not None
    return await to_aiohttp_response(await flow.handle_installation(_browser_request(request)))


async def oauth_redirect(request: web.Request) -> web.Response:
    """`GET /slack/oauth_redirect`: Slack sends the installer back here with a code."""
    flow = request.app[BOLT].oauth_flow
    assert flow is not None
    return await to_aiohttp_response(await flow.handle_callback(_browser_request(request)))


async def healthz(request: web.Request) -> web.Response:
    status, body = await request.app[SERVICES].health.run()
    services = request.app[SERVICES]
    try:
        counts = await services.job_store.counts()
    except LedgerUnavailable:
        counts = {}
    running = services.runner.running if services.runner is not None else 0
    body = {**body, "jobs": {"pending": sum(counts.values()) - running, "running": running,
                             "by_state": counts}}
    return web.json_response(body, status=status)


async def metrics_endpoint(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    metrics.QUEUE_DEPTH.set(await services.queue_depth())
    return web.Response(body=metrics.generate_latest(metrics.REGISTRY),
                        headers={"Content-Type": metrics.CONTENT_TYPE_LATEST})


def build_web_app(
    settings: Settings, services: Services, register: Registrar, *, http_events: bool = True
) -> web.Application:
    # Slack's requests are small: a body over inbound.MAX_BODY gets 413, read no further.
    web_app = web.Application(client_max_size=inbound.MAX_BODY)
    web_app[SERVICES] = services
    if http_events:
        web_app[BOLT] = create_app(settings, services, register)  # requires the signing secret
        assert settings.slack_signing_secret is not None
        web_app[GATE] = inbound.Gate(settings.slack_signing_secret.get_secret_value())
        web_app.router.add_post("/slack/events", slack_events)
    if settings.oauth:
        if BOLT not in web_app:
            web_app[BOLT] = create_app(settings, services, register)
        web_app.router.add_get("/slack/install", oauth_install)
        web_app.router.add_get("/slack/oauth_redirect", oauth_redirect)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics_endpoint)

    async def close_services(_: web.Application) -> None:
        await services.aclose()

    async def start_services(_: web.Application) -> None:
        await services.start()  # the job runner resumes any job left by a crash, at once

    web_app.on_startup.append(start_services)
    web_app.on_cleanup.append(close_services)
    return web_app


def secrets_of(settings: Settings) -> list[str]:
    values = [
        settings.w3ipfs_api_key, settings.w3ipfs_secret_key, settings.slack_bot_token,
        settings.slack_signing_secret, settings.slack_app_token, settings.slack_client_secret,
        settings.encryption_key,
    ]
    return [v.get_secret_value() for v in values if v is not None]


async def run(
    settings: Settings, register: Registrar, services: Services | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve until `stop` is set (by default: until SIGINT/SIGTERM)."""
    services = services or await Services.create(settings)
    socket_mode = settings.slack_app_token is not None
    web_app = build_web_app(settings, services, register, http_events=not socket_mode)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.host, settings.port).start()
    handler = None
    if socket_mode:
        assert settings.slack_app_token is not None
        bolt = create_app(settings, services, register)
        handler = AsyncSocketModeHandler(bolt, settings.slack_app_token.get_secret_value())
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("pinbot running in Socket Mode; /healthz on %s:%s", settings.host, settings.port)
    else:
        log.info("pinbot listening on http://%s:%s/slack/events", settings.host, settings.port)
    health, _ = await services.health.run()
    # Everything loaded so far lives as long as the process: keep the collector from
    # rescanning it in full collections, which otherwise stall acks under load.
    gc.freeze()
    if health == 503:
        log.error("the pinning API rejected W3IPFS_API_KEY/W3IPFS_SECRET_KEY; pins will fail")
    await (stop.wait() if stop is not None else until_signalled())
    log.info("shutting down: finishing running pins")
    if handler is not None:
        await handler.close_async()  # type: ignore[no-untyped-call]
    await runner.cleanup()


async def until_signalled() -> None:
    """Return on SIGINT or SIGTERM (the process's stop signals)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def serve(settings: Settings, register: Registrar) -> None:
    """`pinbot serve`: validate settings (one clear line on error), then run until signalled."""
    settings.require("w3ipfs_api_key", "w3ipfs_secret_key")
    if not settings.oauth:
        settings.require("slack_bot_token")
    if settings.slack_app_token is None:
        settings.require("slack_signing_secret")
    elif settings.slack_signing_secret is None:
        settings.slack_signing_secret = settings.slack_app_token  # unused in Socket Mode
    logs.configure(settings.log_level, secrets_of(settings))
    allocator.tune_for_streaming()
    asyncio.run(run(settings, register))


def rotate_keys(settings: Settings) -> int:
    """`pinbot keys rotate`: re-encrypt stored key pairs with the primary encryption key."""
    settings.require("encryption_key")
    assert settings.encryption_key is not None
    vault = KeyVault(settings.encryption_key)

    async def go() -> int:
        ledger = await Ledger.open(settings.database_url)
        try:
            await upgrade(ledger.engine)
            keys = WorkspaceKeys(ledger)
            rows = await keys.all()
            for row in rows:
                await keys.put(row.team_id, vault.rotate(row.api_key_enc),
                               vault.rotate(row.secret_key_enc), row.last4, row.updated_by)
            return len(rows)
        finally:
            await ledger.close()

    return asyncio.run(go())


def upgrade_database(settings: Settings) -> str:
    """`pinbot db upgrade`: apply migrations; returns the revision now in force."""

    async def go() -> str:
        ledger = await Ledger.open(settings.database_url)
        try:
            return str(await upgrade(ledger.engine))
        finally:
            await ledger.close()

    return asyncio.run(go())
