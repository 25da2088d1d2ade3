"""Is the pinning API usable with our keys? Asked sparingly, shared by /healthz and App Home."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .w3ipfs import AuthenticationError, W3IPFSClient, W3IPFSError


class HealthCheck:
    """Asks the pinning API whether the keys work, at most once per `ttl` seconds.

    The API allows 180 requests/min per key; a probe every few seconds must not eat into it.
    """

    def __init__(self, w3ipfs: W3IPFSClient, ttl: float = 30.0) -> None:
        self.w3ipfs = w3ipfs
        self.ttl = ttl
        self._checked_at = -1e9
        self._result: tuple[int, dict[str, Any]] = (200, {})
        self._lock = asyncio.Lock()

    async def run(self) -> tuple[int, dict[str, Any]]:
        async with self._lock:
            if time.monotonic() - self._checked_at < self.ttl:
                return self._result
            try:
                await self.w3ipfs.test_authentication()
            except AuthenticationError:
                self._result = (503, {"status": "error", "checks": {"w3ipfs": "keys rejected"}})
            except W3IPFSError as exc:
                # The service being down is not this process being unhealthy: restarting the
                # bot would not help, so report it but stay "up".
                self._result = (200, {"status": "degraded",
                                      "checks": {"w3ipfs": f"unreachable: {type(exc).__name__}"}})
            else:
                self._result = (200, {"status": "ok", "checks": {"w3ipfs": "ok"}})
            self._checked_at = time.monotonic()
            return self._result

    @property
    def keys_state(self) -> str:
        """The last answer in words: "ok", "keys rejected", "unreachable: …", or "unknown"."""
        return str(self._result[1].get("checks", {}).get("w3ipfs", "unknown"))
