"""The entry point's wiring: adapters, use cases and the job runner, built once per process.

Only this module (and the CLI/server that call it) knows how the pieces fit; use cases get
their dependencies passed in and never import each other. Handlers receive the built
`Services` and call one use case each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Literal

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from . import blocks, metrics
from .health import HealthCheck
from .jobs import InProcessJobs, Job, JobRunner, JobStore, Lease, LeaseLost, Next
from .jobs.sweeper import Step, Sweeper
from .keys import KeyVault
from .permissions import Admins, Scopes
from .pins.accounts import Accounts
from .pins.audit import LedgerAudit
from .pins.by_cid import PinByCID
from .pins.catchup import CatchUp
from .pins.channel_retention import ChannelRetention
from .pins.cleanup import TeamCleanup
from .pins.expiry import Expiry
from .pins.folder import PinFolder
from .pins.intake import Intake
from .pins.keep import Keeping
from .pins.listing import PinListing
from .pins.overview import TeamOverview
from .pins.quotas import ChannelQuotas
from .pins.share import PinSharedFile, ShareSettings
from .pins.unpin import Unpinning
from .pins.workspace import Workspaces
from .queue import QueueUnavailable, RedisQueue
from .quotas import Quotas
from .settings import Settings
from .slack import replies
from .slack.clients import SlackClients, Workspace
from .slack_files import SlackDownloader
from .store import Ledger, LedgerUnavailable, upgrade
from .store.expiries import Expiries
from .store.policies import ChannelPolicies
from .store.stats import WorkspaceStats
from .store.sweeps import SweepLeases
from .store.usage import Usage
from .w3ipfs import W3IPFSClient, W3IPFSError
from .w3ipfs.gateways import GatewayResolver

log = logging.getLogger(__name__)

#: `serve` answers Slack (and, without Redis, runs the jobs); `worker` runs jobs from Redis.
Role = Literal["serve", "worker"]


def _count_api_error(error: W3IPFSError, will_retry: bool) -> None:
    metrics.API_ERRORS.labels(type(error).__name__).inc()


@dataclass
class Services:
    settings: Settings
    w3ipfs: W3IPFSClient
    downloader: SlackDownloader
    ledger: Ledger
    accounts: Accounts
    slack: SlackClients
    job_store: JobStore
    intake: Intake
    share: PinSharedFile
    by_cid: PinByCID
    folder: PinFolder
    catchup: CatchUp
    workspaces: Workspaces
    role: Role = "serve"
    queue: RedisQueue | None = None
    #: Runs job records in this process: `serve` without Redis, and every `worker`.
    runner: JobRunner | None = None
    #: Interactive work after an ack (command and button replies, intake): tracked, so
    #: shutdown and tests can wait for it, and separate from pin jobs.
    tasks: InProcessJobs = field(default_factory=lambda: InProcessJobs(64))
    #: OAuth mode: the workspaces' installations (bot tokens), on the ledger's database.
    installations: AsyncSQLAlchemyInstallationStore | None = None
    health: HealthCheck = field(init=False)
    #: Use cases (read and unpin side), each scoped to the asking workspace's own pins.
    listing: PinListing = field(kw_only=True)
    unpinning: Unpinning = field(kw_only=True)
    cleanup: TeamCleanup = field(kw_only=True)
    #: Admins' per-channel retention and quota.
    policies: ChannelPolicies = field(kw_only=True)
    #: `/pin quota` and a person's use (the check itself runs in the pinning use cases).
    quotas: ChannelQuotas = field(kw_only=True)
    #: App Home's admin sections: this month's use, policies, pins about to expire.
    overview: TeamOverview = field(kw_only=True)
    #: `/pin retention` (admins) and keeping pins out of it (`/pin keep`, the Keep button).
    retention: ChannelRetention = field(kw_only=True)
    keeping: Keeping = field(kw_only=True)
    #: The ledger compared with the service: `pinbot audit`, the sweep's step, `/pins audit`.
    audit: LedgerAudit = field(kw_only=True)
    #: The deployment-wide sweep (retention, notices, audit); every process competes for it.
    sweeper: Sweeper = field(kw_only=True)
    #: How long shutdown lets running work finish before handing it back (SIGTERM: 30 s).
    shutdown_grace: float = 30.0
    _background: list[asyncio.Task[None]] = field(default_factory=list)

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
        role: Role = "serve",
    ) -> Services:
        """Open everything; raises `LedgerUnavailable` / `SchemaError` with a clear message.

        Migrations run here (on `pinbot serve` start) so a fresh install needs no extra step.
        """
        settings.require("w3ipfs_api_key", "w3ipfs_secret_key")
        if not settings.oauth:
            settings.require("slack_bot_token")
        ledger = ledger or await Ledger.open(settings.database_url)
        ledger.default_retention = settings.retention
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
        downloader = SlackDownloader.from_settings(settings)
        vault = KeyVault(settings.encryption_key) if settings.encryption_key else None
        accounts = Accounts(client, ledger, vault,
                            gateways=GatewayResolver(settings.w3ipfs_gateway_url))
        installations = None
        if settings.oauth:
            assert settings.slack_client_id is not None
            installations = AsyncSQLAlchemyInstallationStore(settings.slack_client_id,
                                                             ledger.engine)
        queue = None
        if with_queue and role == "serve" and settings.redis_url:
            try:
                queue = await RedisQueue.connect(settings.redis_url)
            except QueueUnavailable:
                await ledger.close()
                raise
        job_store = JobStore(ledger)
        slack = SlackClients(settings, installations)
        share_settings = ShareSettings(
            max_file_bytes=settings.max_file_bytes, max_event_age=settings.max_event_age,
            progress_interval=settings.progress_interval,
            status_poll_interval=settings.status_poll_interval,
            status_poll_seconds=settings.status_poll_seconds,
        )
        services: Services

        async def dispatch(job: Job) -> None:
            await services.dispatch(job)

        intake = Intake(ledger=ledger, jobs=job_store, dispatch=dispatch,
                        auto_pin_default=settings.auto_pins_in,
                        pin_reaction=settings.pin_reaction)
        catchup = CatchUp(slack, intake.watermarks, job_store, intake.auto_pins_in,
                          intake.submit, settings.max_event_age)
        admins = Admins(settings.admin_users)
        quotas = Quotas(Usage(ledger), ChannelPolicies(ledger), settings.quota_user_bytes)
        scopes = Scopes(accounts, multi_workspace=settings.oauth)
        services = cls(
            settings, client, downloader, ledger, accounts, slack, job_store, intake,
            PinSharedFile(share_settings, accounts, ledger, downloader, quotas),
            PinByCID(accounts, ledger),
            PinFolder(settings.max_file_bytes, accounts, ledger, downloader, quotas),
            catchup, Workspaces(accounts, admins, intake.channels, intake.auto_pins_in,
                                installations), role=role, queue=queue, installations=installations,
            listing=PinListing(accounts, ledger, admins, scopes,
                               default_auto_pin=settings.auto_pin),
            unpinning=Unpinning(accounts, ledger, admins, scopes),
            cleanup=TeamCleanup(accounts, ledger, admins, rate_per_minute=settings.api_rate,
                                progress_interval=settings.progress_interval),
            policies=ChannelPolicies(ledger),
            quotas=ChannelQuotas(quotas, ChannelPolicies(ledger), admins),
            overview=TeamOverview(WorkspaceStats(ledger), ChannelPolicies(ledger), admins,
                                  default_retention=settings.retention,
                                  quota_user_bytes=settings.quota_user_bytes),
            retention=ChannelRetention(ChannelPolicies(ledger), Expiries(ledger), admins,
                                       settings.retention),
            keeping=Keeping(ledger, Expiries(ledger), admins, accounts.gateway_url),
            audit=LedgerAudit(accounts, ledger, slack, admins, SweepLeases(ledger),
                              rate_per_minute=settings.api_rate,
                              recheck_after=settings.sweep_interval,
                              multi_workspace=settings.oauth),
            sweeper=Sweeper(SweepLeases(ledger), [], interval=settings.sweep_interval,
                            lease_seconds=min(settings.job_lease,
                                              max(2.0, settings.sweep_interval * 2))),
        )
        # What each sweep does, in order: retention (unpin what expired, then the 24-hour
        # notices), then the audit of the ledger against the service.
        sweep_steps: list[Step] = [
            *Expiry(accounts, ledger, slack, rate_per_minute=settings.api_rate).steps(),
            services.audit.step(),
        ]
        services.sweeper.steps.extend(sweep_steps)
        if role == "worker" or not settings.redis_url:
            services.runner = JobRunner(
                job_store, services.run_job, concurrency=settings.concurrency,
                lease_seconds=settings.job_lease,
                # Late Slack retries and catch-up look back at most PINBOT_MAX_EVENT_AGE.
                keep_finished=max(7 * 24 * 3600, 2 * settings.max_event_age))
        return services

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start this process's background work: the job runner, and catch-up (serve)."""
        if self.runner is not None:
            self.runner.start()
        if self._background:
            return
        loop = asyncio.get_running_loop()
        if self.role == "serve" and self.settings.catchup_interval > 0:
            self._background.append(loop.create_task(
                self.catchup.run_forever(self.settings.catchup_interval), name="catch-up"))
        if self.sweeper.steps:
            self._background.append(loop.create_task(self.sweeper.run_forever(), name="sweep"))

    async def aclose(self) -> None:
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.tasks.aclose(self.shutdown_grace)
        await self.intake.aclose()
        if self.runner is not None:
            await self.runner.aclose(self.shutdown_grace)
        if self.queue is not None:
            await self.queue.aclose()
        await self.downloader.aclose()
        await self.w3ipfs.aclose()
        await self.ledger.close()

    # -- jobs ----------------------------------------------------------------------------

    async def dispatch(self, job: Job) -> None:
        """A job was recorded: wake a runner (this process's, or a worker through Redis).

        Losing this message loses nothing: runners poll the job table too.
        """
        if self.queue is not None:
            with contextlib.suppress(QueueUnavailable):
                await self.queue.enqueue(job.id)
        if self.runner is not None:
            self.runner.kick()

    async def run_job(self, lease: Lease) -> Next:
        """One step of a job, by kind (the runner's handler).

        A bug in a step must not leave a card saying "Pinning…" forever: it is logged with its
        trace, and the person is told, on the card, that it failed.
        """
        job = lease.job
        workspace = None
        try:
            if job.kind == "cid":
                return await self.by_cid.run(lease)
            workspace = await self.slack.workspace(job.team_id)
            if workspace is None:
                log.warning("job %d: pinbot is no longer installed in %s; dropped", job.id,
                            job.team_id)
                if job.pin_row_id is not None:  # let a later request pin the file at once
                    await self.ledger.fail(job.pin_row_id, "workspace uninstalled")
                return Next("failed")
            if job.kind == "folder":
                return await self.folder.run(lease, workspace)
            return await self.share.run(lease, workspace)
        except (LeaseLost, LedgerUnavailable, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("job %d (%s) failed unexpectedly", job.id, job.kind)
            await self._tell_crash(lease.job, workspace)
            return Next("failed")

    async def _tell_crash(self, job: Job, workspace: Workspace | None) -> None:
        with contextlib.suppress(LedgerUnavailable):
            if job.pin_row_id is not None:
                await self.ledger.fail(job.pin_row_id, "unexpected error (see logs)")
        message = blocks.failure("Could not pin", "Something unexpected went wrong; it has "
                                 "been logged for the admins.")
        if workspace is not None and job.card_channel and job.card_ts:
            await replies.update(workspace.client, job.card_channel, job.card_ts, message)
        elif job.request.response_url:
            await replies.respond(job.request.response_url, message)

    async def slack_for(self, team_id: str) -> AsyncWebClient | None:
        """A Web API client with the workspace's own bot token (for work outside a request)."""
        workspace = await self.slack.workspace(team_id)
        return workspace.client if workspace is not None else None

    async def queue_depth(self) -> int:
        counts = await self.job_store.counts()
        return sum(counts.values())
