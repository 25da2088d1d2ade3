"""Interactive work after the ack (command and button replies): tracked tasks, bounded.

Slack wants an answer within 3 seconds. Listeners ack, then submit short work here (a reply,
a modal, turning a request into a durable job). Pins themselves are job records run by
`bot.jobs.runner`, never these tasks. `join()` waits for everything (clean shutdown, tests).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)


class InProcessJobs:
    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.running = 0

    def submit(self, name: str, work: Callable[..., Awaitable[Any]], *args: Any,
               **kwargs: Any) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run(name, work, *args, **kwargs), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, name: str, work: Callable[..., Awaitable[Any]], *args: Any,
                   **kwargs: Any) -> None:
        async with self._slots:
            self.running += 1
            try:
                await work(*args, **kwargs)
            except asyncio.CancelledError:
                log.warning("job %s cancelled", name)
                raise
            except Exception:
                # The job reports its own failures to the user; this is the last-resort net
                # for bugs, so they are logged with a trace instead of vanishing.
                log.exception("job %s failed unexpectedly", name)
            finally:
                self.running -= 1

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def join(self, within: float | None = None) -> None:
        """Wait until no job is queued or running (new ones submitted meanwhile included)."""
        async with asyncio.timeout(within):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, grace: float = 30.0) -> None:
        try:
            await self.join(grace)
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
