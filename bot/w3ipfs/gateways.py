"""Which gateway a pin's "Open in gateway" link points at.

`W3IPFS_GATEWAY_URL` wins when it is set. Unset, each pinning account's own gateways are asked
for (`GET /gateways/`) and an active dedicated one is used: dedicated gateways have no preset
rate limit, while the public one allows 15 requests a minute per CID (field notes). The answer
is not documented beyond one example, so it is read defensively: any odd shape, error or
timeout falls back to the public gateway with one log line, and never stops a card.

Answers are cached per account (per key pair), an hour when one was found and a few minutes
after a failure, so cards never wait on the lookup more than once in a while.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

#: The vendor's public gateway: what links use when the account names none.
PUBLIC_GATEWAY_URL = "https://gateway.w3ipfs.aioz.network"
#: How long an account's gateway is trusted before the service is asked again.
GATEWAY_TTL = 3600.0
#: After a failed or empty lookup the public gateway is used this long before asking again.
FAILURE_TTL = 300.0
#: A lookup slower than this is abandoned (a card is waiting).
LOOKUP_TIMEOUT = 5.0
#: At most this many gateways of one answer are read.
MAX_GATEWAYS = 100

# A DNS name (at least two labels) with an optional port: nothing that could end a Slack link
# (`|`, `>`) or change where it goes (`@`, `/`, `?`, `#`, spaces) survives this.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})+(?::[0-9]{{1,5}})?")
#: `operation` values that say a gateway does not serve right now (the field is undocumented).
_STOPPED = ("stop", "suspend", "disable", "delet", "inactive", "pause", "expire", "block")


@dataclass(frozen=True, slots=True)
class Gateway:
    """One gateway of the account, as far as the answer could be read."""

    host: str
    name: str = ""
    #: Lower-cased: "dedicated", "public", or whatever else the service says.
    type: str = ""
    #: None when the answer did not say.
    active: bool | None = None
    operation: str = ""

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def usable(self) -> bool:
        return self.active is not False and not any(w in self.operation for w in _STOPPED)


def _text(value: Any, limit: int = 200) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def gateway_host(value: Any) -> str | None:
    """A gateway's host from the answer's `host`, or None if it is not a plain host name.

    Accepts `name.example.net`, with or without `https://` and a trailing slash; refuses
    anything with a path, credentials, a query or characters a link cannot carry.
    """
    if not isinstance(value, str):
        return None
    host = value.strip().lower()
    for scheme in ("https://", "http://"):
        host = host.removeprefix(scheme)
    host = host.removesuffix("/")
    if len(host) > 253 or not _HOST.fullmatch(host):
        return None
    return host


def parse_gateways(data: Any) -> list[Gateway]:
    """The gateways in `GET /gateways/`'s `data`; [] for any shape that is not a list of them.

    Documented: `{"totals": n, "gateways": [{"name", "host", "type", "bandwidth",
    "operation", "active"}]}`. A bare list is read too; entries without a usable host are
    skipped. Never raises.
    """
    items = data.get("gateways") if isinstance(data, dict) else data
    if not isinstance(items, list):
        return []
    found = []
    for item in items[:MAX_GATEWAYS]:
        if not isinstance(item, dict):
            continue
        host = gateway_host(item.get("host"))
        if host is None:
            continue
        found.append(Gateway(host=host, name=_text(item.get("name")),
                             type=_text(item.get("type"), 32).lower(),
                             active=_flag(item.get("active")),
                             operation=_text(item.get("operation"), 64).lower()))
    return found


def pick_gateway(gateways: Sequence[Gateway]) -> Gateway | None:
    """The gateway links should use: a usable dedicated one first (active ones before those
    whose state is not said), then any usable one, in the service's order."""
    usable = [g for g in gateways if g.usable]
    usable.sort(key=lambda g: (g.type != "dedicated", g.active is not True))
    return usable[0] if usable else None


class GatewaySource(Protocol):
    """What the resolver needs of a pinning client (`W3IPFSClient`)."""

    @property
    def account_fingerprint(self) -> str: ...

    async def gateways(self) -> list[Gateway]: ...


def fingerprint(*parts: str) -> str:
    """A stable, non-secret name for an account (its key pair), for cache keys."""
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


class GatewayResolver:
    """`W3IPFS_GATEWAY_URL`, or the account's own gateway, or the public one. Never raises."""

    def __init__(self, configured: str | None, *, fallback: str = PUBLIC_GATEWAY_URL,
                 ttl: float = GATEWAY_TTL, failure_ttl: float = FAILURE_TTL,
                 timeout: float = LOOKUP_TIMEOUT) -> None:
        self.configured = configured.rstrip("/") if configured else None
        self.fallback = fallback
        self.ttl, self.failure_ttl, self.timeout = ttl, failure_ttl, timeout
        self._cache: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def default(self) -> str:
        """The link base when no account can be asked (the setting, else the public one)."""
        return self.configured or self.fallback

    async def url_for(self, client: GatewaySource) -> str:
        if self.configured:
            return self.configured
        key = client.account_fingerprint
        cached = self._fresh(key)
        if cached is not None:
            return cached
        # One lookup per account at a time: a burst of cards waits for the same answer.
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._fresh(key)
            if cached is not None:
                return cached
            url, ttl = await self._lookup(client)
            self._cache[key] = (time.monotonic() + ttl, url)
            return url

    def _fresh(self, key: str) -> str | None:
        cached = self._cache.get(key)
        return cached[1] if cached is not None and time.monotonic() < cached[0] else None

    async def _lookup(self, client: GatewaySource) -> tuple[str, float]:
        try:
            async with asyncio.timeout(self.timeout):
                gateways = await client.gateways()
        except Exception as exc:  # a link is never worth a failed card: fall back
            log.warning("the account's gateways could not be read (%s: %s); links use %s",
                        type(exc).__name__, str(exc)[:200], self.fallback)
            return self.fallback, self.failure_ttl
        chosen = pick_gateway(gateways)
        if chosen is None:
            log.warning("the account lists no usable gateway (%d listed); links use %s",
                        len(gateways), self.fallback)
            return self.fallback, self.failure_ttl
        log.info("gateway links use the account's %s gateway %s", chosen.type or "listed",
                 chosen.host)
        return chosen.url, self.ttl
