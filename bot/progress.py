"""Live progress for long uploads, throttled to Slack's chat.update budget.

The upload calls `advance()` synchronously for every chunk (hundreds per second); this turns
that into at most one message update per `interval` (3 s by default: chat.update is tier 3,
about 50/min per workspace), never two in flight, and always lets the final card win.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Publish = Callable[[int, float], Awaitable[None]]


class ProgressReporter:
    def __init__(
        self,
        publish: Publish,
        *,
        interval: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._publish = publish
        self.interval = interval
        self._clock = clock
        self.started = clock()
        self._last = self.started
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.updates = 0

    def advance(self, done: int) -> None:
        if self._closed:
            return
        now = self._clock()
        if now - self._last < self.interval or (self._task and not self._task.done()):
            return
        self._last = now
        self.updates += 1
        self._task = asyncio.get_running_loop().create_task(self._send(done, now - self.started))

    async def _send(self, done: int, elapsed: float) -> None:
        try:
            await self._publish(done, elapsed)
        except Exception as exc:  # progress is best effort; the result card is what matters
            log.info("progress update skipped: %r", exc)

    async def aclose(self) -> None:
        """Stop reporting and wait for an update in flight, so it cannot overwrite the card."""
        self._closed = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
