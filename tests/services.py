"""Real Redis for the scale-out tests: skip with a reason when absent, unless required."""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as redis

from tests.databases import unavailable

REDIS_URL = os.environ.get("PINBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@asynccontextmanager
async def fresh_redis() -> AsyncIterator[str]:
    """A Redis database number of its own (flushed before and after), as a URL."""
    # Under pytest-xdist each worker draws from its own numbers, so two workers never share one.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(worker) if worker.isdigit() else 0
    db = random.choice([d for d in range(1, 16) if d % workers == index % workers] or [1])
    url = f"{REDIS_URL.rstrip('/')}/{db}"
    client = redis.from_url(url)
    try:
        await client.ping()
    except (OSError, redis.RedisError) as exc:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL}", exc)
        raise AssertionError("unreachable") from exc
    await client.flushdb()
    try:
        yield url
    finally:
        await client.flushdb()
        await client.aclose()
