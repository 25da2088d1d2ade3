"""Remembering what was already seen, so a retried or duplicated delivery is handled once.

Slack retries events it thinks went unanswered (same `event_id`), may deliver an event twice,
and sends one `file_shared` per channel a file lands in. This in-memory version serves one
process; the ledger (database) and Redis take over the same role across restarts and replicas.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TTLSet:
    """A set whose members expire; `add()` says whether the key was new (claim semantics)."""

    def __init__(
        self, ttl: float, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._items: OrderedDict[str, float] = OrderedDict()

    def _expire(self) -> None:
        now = self._clock()
        while self._items:
            expires = next(iter(self._items.values()))
            if expires > now and len(self._items) <= self.max_size:
                break
            self._items.popitem(last=False)

    def add(self, key: str) -> bool:
        """Claim `key`; False when it is already claimed and unexpired."""
        self._expire()
        if key in self._items:
            return False
        self._items[key] = self._clock() + self.ttl
        return True

    def discard(self, key: str) -> None:
        self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        self._expire()
        return key in self._items

    def __len__(self) -> int:
        self._expire()
        return len(self._items)
