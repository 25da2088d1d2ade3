"""Pacing calls to the pinning API under its published limit (`PINBOT_API_RATE`, 180/min).

Shared by the bulk unpinners (team cleanup, the retention sweep): both may unpin thousands of
pins in one go, and the service counts requests per key.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    """At most `per_minute` calls per minute, evenly spaced (the API counts per key)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval
