"""The services a running bot shares: one pinning client (one pool), one downloader, the
ledger, the job runner and the use cases. Built once per process; injected into the app."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from . import metrics
from .cleanup import TeamCleanup
from .health import HealthCheck
from .jobs import InProcessJobs
from .permissions import Admins, Scopes
from .pinning import PinService, SharedFile
from .pins.listing import PinListing
from .pins.unpin import Unpinning
from .queue import QueueUnavailable, RedisQueue
from .settings import Settings
from .slack_files import SlackDownloader
from .store import Ledger, upgrade
from .w3ipfs import W3IPFSClient, W3IPFSError


def _count_api_error(error: W3IPFSError, will_retry: bool) -> None:
    metrics.API_ERRORS.labels(type(error).__name__).inc()


@dataclass
class Services:
    settings: Settings
    w3ipfs: W3IPFSClient
    downloader: SlackDownloader
    ledger: Ledger
    pins: PinService
    jobs: InProcessJobs
    queue: RedisQueue | None = None
    #: Interactive work after an ack (command and button replies): tracked, so shutdown and
    #: tests can wait for it, and separate from uploads so replies never queue behind them.
    tasks: InProcessJobs = field(default_factory=lambda: InProcessJobs(64))
    #: OAuth mode: the workspaces' installations (bot tokens), on the ledger's database.
    installations: AsyncSQLAlchemyInstallationStore | None = None
    health: HealthCheck = field(init=False)
    #: Use cases (read and unpin side), each scoped to the asking workspace's own pins.
    listing: PinListing = field(kw_only=True)
    unpinning: Unpinning = field(kw_only=True)
    cleanup: TeamCleanup = field(kw_only=True)

    def __post_init__(self) -> None:
        self.health = HealthCheck(self.w3ipfs)

    @classmethod
    async def create(
        cls,
        settings: Settings,
        w3ipfs: W3IPFSClient | None = None,
        *,
        ledger: Ledger | None = None,
        migrate: bool = True,
        with_queue: bool = True,
    ) -> Services:
        """Open everything; raises `LedgerUnavailable` / `SchemaError` with a clear message.

        Migrations run here (on `pinbot serve` start) so a fresh install needs no extra step.
        """
        settings.require("w3ipfs_api_key", "w3ipfs_secret_key")
        if not settings.oauth:
            settings.require("slack_bot_token")
        ledger = ledger or await Ledger.open(settings.database_url)
        try:
            if migrate:
                await upgrade(ledger.engine)
        except BaseException:
            await ledger.close()
            raise
        client = w3ipfs or W3IPFSClient.from_settings(
            settings, max_connections=max(8, settings.concurrency * 2)
        )
        if client.on_error is None:
            client.on_error = _count_api_error
        downloader = SlackDownloader(settings.slack_bot_token, settings.download_hosts)
        jobs = InProcessJobs(settings.concurrency)
        pins = PinService(settings, client, downloader, ledger, jobs,
                          Admins(settings.admin_users))
        installations = None
        if settings.oauth:
            assert settings.slack_client_id is not None
            installations = AsyncSQLAlchemyInstallationStore(settings.slack_client_id,
                                                             ledger.engine)
        queue = None
        if with_queue and settings.redis_url:
            try:
                queue = await RedisQueue.connect(settings.redis_url)
            except QueueUnavailable:
                await ledger.close()
                raise
        scopes = Scopes(pins.accounts, multi_workspace=settings.oauth)
        listing = PinListing(pins.accounts, ledger, pins.admins, scopes,
                             default_auto_pin=settings.auto_pin)
        unpinning = Unpinning(pins.accounts, ledger, pins.admins, scopes)
        cleanup = TeamCleanup(pins.accounts, ledger, pins.admins,
                              rate_per_minute=settings.api_rate,
                              progress_interval=settings.progress_interval)
        return cls(settings, client, downloader, ledger, pins, jobs, queue,
                   installations=installations, listing=listing, unpinning=unpinning,
                   cleanup=cleanup)

    async def slack_for(self, team_id: str) -> AsyncWebClient | None:
        """A Web API client with the workspace's own bot token (for work outside a request)."""
        from .app import create_slack_client

        if self.installations is None:
            return create_slack_client(self.settings)
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
        if bot is None or not bot.bot_token:
            return None
        if bot.bot_refresh_token and self.settings.slack_client_secret is not None:
            # Rotating tokens: refresh ahead of expiry, as Bolt does for requests.
            assert self.settings.slack_client_id is not None
            rotator = AsyncTokenRotator(
                client_id=self.settings.slack_client_id,
                client_secret=self.settings.slack_client_secret.get_secret_value(),
                client=create_slack_client(self.settings),
            )
            refreshed = await rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=120)
            if refreshed is not None:
                await self.installations.async_save_bot(refreshed)
                bot = refreshed
        return create_slack_client(self.settings, bot.bot_token)

    async def dispatch(
        self, shared: SharedFile, client: AsyncWebClient, bot_user_id: str | None
    ) -> None:
        """Run a file's pin job: on the Redis queue when there is one, else in-process."""
        if self.queue is not None:
            await self.queue.enqueue_shared(shared)
            return
        self.jobs.submit(f"pin {shared.file_id}", self.pins.handle_shared_file, shared, client,
                         bot_user_id)

    async def queue_depth(self) -> int:
        if self.queue is not None:
            return await self.queue.depth() + self.jobs.pending
        return self.jobs.pending

    async def aclose(self) -> None:
        await self.tasks.aclose()
        if self.queue is not None:
            await self.queue.aclose()
        await self.jobs.aclose()
        await self.downloader.aclose()
        await self.w3ipfs.aclose()
        await self.ledger.close()
