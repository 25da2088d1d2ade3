"""Redis (arq) carries job ids from `pinbot serve` to `pinbot worker`s, for several replicas.

The database stays the truth: a job is its record in the ledger's database, created before
anything is queued. Redis only wakes a worker for it at once. A lost message, a flushed Redis
or a worker killed mid-job loses nothing — every worker's runner also polls the job table and
takes over jobs whose lease lapsed (`PINBOT_JOB_LEASE`), or at once when their process is
known dead. A SIGTERM'd worker finishes its jobs for up to 30 s, then hands them back.
"""

from __future__ import annotations

import logging

from arq import create_pool
from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

QUEUE = "pinbot:jobs"


class QueueUnavailable(Exception):
    """Redis cannot be reached."""


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 5
    settings.conn_retries = 2
    return settings


def message_id(job_id: int) -> str:
    """One queue message per job: a job dispatched twice is one message."""
    return f"pinjob:{job_id}"


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

    async def enqueue(self, job_id: int) -> bool:
        """Wake a worker for this job; False when its message is already queued."""
        try:
            job = await self.pool.enqueue_job("run_job", job_id, _job_id=message_id(job_id),
                                              _queue_name=QUEUE)
        except (RedisError, OSError) as exc:
            log.warning("job %d not queued (a worker's poll will find it): %s", job_id, exc)
            raise QueueUnavailable(str(exc)) from None
        return job is not None

    async def depth(self) -> int:
        return int(await self.pool.zcard(QUEUE))

    async def aclose(self) -> None:
        await self.pool.aclose()
