"""Durable upload jobs on Redis (arq), for teams that run several replicas.

With `PINBOT_REDIS_URL` set, `pinbot serve` only acks and enqueues; `pinbot worker` processes
(any number) run the jobs. arq keeps a job in its queue until a worker finishes it, so a job
whose worker dies is picked up by another once its in-progress lease (`PINBOT_JOB_TIMEOUT`
+ 10 s) lapses; the ledger's claim, owned by the job's key, makes that retry resume rather than
duplicate. A SIGTERM'd worker finishes its jobs for up to 30 s, then hands the rest back.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from arq.worker import Worker, func
from redis.exceptions import RedisError

from .pinning import SharedFile
from .settings import Settings

log = logging.getLogger(__name__)

QUEUE = "pinbot:jobs"
EVENT_KEY_TTL = 3600  # seconds a delivered event id is remembered in Redis


class QueueUnavailable(Exception):
    """Redis cannot be reached."""


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 2
    return settings


def job_id(shared: SharedFile) -> str:
    """One job per delivery target: the same event enqueued twice is one job."""
    return f"pin:{shared.team_id}:{shared.file_id}:{shared.channel_id}:{shared.job_key or ''}"


class RedisQueue:
    def __init__(self, pool: ArqRedis) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, url: str) -> RedisQueue:
        try:
            pool = await create_pool(redis_settings(url), default_queue_name=QUEUE)
            await pool.ping()
        except (RedisError, OSError) as exc:
            raise QueueUnavailable(
                f"cannot reach Redis at PINBOT_REDIS_URL ({type(exc).__name__}: {exc})"
            ) from None
        return cls(pool)

    async def enqueue_shared(self, shared: SharedFile) -> bool:
        """Queue the upload; False when that job is already queued (a duplicate)."""
        job = await self.pool.enqueue_job(
            "pin_shared_file", asdict(shared), _job_id=job_id(shared), _queue_name=QUEUE
        )
        return job is not None

    async def first_delivery(self, event_id: str) -> bool:
        """A short-lived key shared by every replica: the first to set it handles the event."""
        return bool(await self.pool.set(f"pinbot:event:{event_id}", b"1", nx=True,
                                        ex=EVENT_KEY_TTL))

    async def depth(self) -> int:
        return int(await self.pool.zcard(QUEUE))

    async def aclose(self) -> None:
        await self.pool.aclose()


# -- the worker process -------------------------------------------------------------------


async def pin_shared_file(ctx: dict[str, Any], payload: dict[str, Any]) -> str:
    shared = SharedFile(**payload)
    services = ctx["services"]
    slack, bot_user_id = ctx["slack"], ctx["bot_user_id"]
    if services.installations is not None:  # OAuth: act with this workspace's own token
        bot = await services.installations.async_find_bot(enterprise_id=None,
                                                          team_id=shared.team_id)
        if bot is None:
            log.warning("no installation for team %s: job for %s dropped", shared.team_id,
                        shared.file_id)
            return "not installed"
        slack = await services.slack_for(shared.team_id)
        bot_user_id = bot.bot_user_id
    await services.pins.handle_shared_file(shared, slack, bot_user_id)
    return f"{shared.file_id} handled"


def build_worker(settings: Settings) -> Worker:
    assert settings.redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        from .app import create_slack_client
        from .services import Services

        services = await Services.create(settings, with_queue=False)
        slack = create_slack_client(settings)
        bot_user_id = None
        if not settings.oauth:
            bot_user_id = (await slack.auth_test()).get("user_id")
        ctx.update(services=services, slack=slack, bot_user_id=bot_user_id)
        log.info("pinbot worker ready (concurrency %d)", settings.concurrency)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "services" in ctx:
            await ctx["services"].aclose()

    return Worker(
        functions=[func(pin_shared_file, name="pin_shared_file")],
        queue_name=QUEUE,
        redis_settings=redis_settings(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.concurrency,
        job_timeout=settings.job_timeout,
        max_tries=5,
        keep_result=3600,
        job_completion_wait=30,
        poll_delay=0.2,
    )


def run_worker(settings: Settings) -> None:
    """`pinbot worker`: run jobs until SIGTERM/SIGINT."""
    settings.require("redis_url", "w3ipfs_api_key", "w3ipfs_secret_key")
    if not settings.oauth:
        settings.require("slack_bot_token")
    build_worker(settings).run()
