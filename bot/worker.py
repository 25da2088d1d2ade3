"""`pinbot worker`: runs pin jobs for a deployment with Redis (`PINBOT_REDIS_URL`).

arq delivers job ids from `pinbot serve`; the runner (the same as in an embedded `serve`)
leases each job record, runs it, and also polls the job table, so jobs whose message was lost
or whose worker died are taken over (see `bot.queue` and `bot.jobs.runner`).
"""

from __future__ import annotations

import logging
from typing import Any

from arq.worker import Worker, func

from . import allocator
from .queue import QUEUE, redis_settings
from .services import Services
from .settings import Settings

log = logging.getLogger(__name__)



async def run_job(ctx: dict[str, Any], job_id: int) -> str:
    services: Services = ctx["services"]
    assert services.runner is not None
    ran = await services.runner.run_by_id(job_id)
    return "ran" if ran else "not due here (done, running elsewhere, or no free slot)"


def build_worker(settings: Settings) -> Worker:
    assert settings.redis_url is not None

    async def startup(ctx: dict[str, Any]) -> None:
        services = await Services.create(settings, role="worker")
        # Who are we? (auth.test): a wrong SLACK_BOT_TOKEN shows up now, not at the first job.
        await services.slack.home_team()
        await services.start()
        ctx["services"] = services
        log.info("pinbot worker ready (concurrency %d)", settings.concurrency)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "services" in ctx:
            await ctx["services"].aclose()

    return Worker(
        functions=[func(run_job, name="run_job")],
        queue_name=QUEUE,
        redis_settings=redis_settings(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.concurrency,
        job_timeout=settings.job_timeout,
        max_tries=1,  # the job table, not arq, retries: a message only wakes a runner
        keep_result=60,
        job_completion_wait=30,
        poll_delay=0.2,
    )


def run_worker(settings: Settings) -> None:
    """`pinbot worker`: run jobs until SIGTERM/SIGINT."""
    settings.require("redis_url", "w3ipfs_api_key", "w3ipfs_secret_key")
    if not settings.oauth:
        settings.require("slack_bot_token")
    allocator.tune_for_streaming()
    build_worker(settings).run()
