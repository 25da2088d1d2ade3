"""Where a Slack file download may go: pure rules, and the resolver that enforces them.

Why this exists: a download carries the bot token, and its body is pinned publicly. Slack
redirects downloads to its CDN, so redirects must be followed; but each `Location` is input
pinbot does not control. Followed blindly, one redirect to `127.0.0.1` or to a cloud metadata
address turns pinbot into a proxy that publishes internal pages on IPFS. The rules:

- Every hop is `https`, so neither the token nor the bytes travel in clear. Loopback hosts are
  exempt: tests and local development serve plain HTTP on 127.0.0.1.
- The token goes only to `PINBOT_DOWNLOAD_HOSTS` (Slack's hosts, each with its subdomains).
- A hop to any other host must land on a public address: never loopback, private, link-local,
  shared (CGNAT), multicast, reserved or unspecified, IPv4 or IPv6, including IPv4 addresses
  wrapped in IPv6 (mapped, 6to4, NAT64, Teredo). Listed hosts are trusted as they resolve.

Literal addresses are judged here before any request. Names are judged by `GuardedResolver`,
installed in the downloader's connector: the addresses it approves are the ones aiohttp then
connects to, so a DNS answer that changes between a check and the connection (rebinding) has
no gap to slip through.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Hosts that are loopback by definition; the only ones allowed plain `http`.
LOOPBACK_NAMES = frozenset({"localhost"})
#: The well-known NAT64 prefix (RFC 6052): the last 32 bits are an IPv4 address.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
#: Hosts made only of digits, dots and hex digits look like addresses to `inet_aton`, which
#: reads `2130706433`, `0x7f.1` or `0177.0.0.1` as 127.0.0.1. Only dotted-decimal is accepted.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*\.?$", re.IGNORECASE)


def normal_host(host: str | None) -> str:
    """A URL's host as compared here: lower case, without the one trailing dot of an FQDN."""
    return (host or "").lower().removesuffix(".")


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, or None for a DNS name.

    Raises `ValueError` for numeric forms other than dotted-decimal IPv4 and IPv6, which some
    resolvers would quietly turn into an address that no rule here has seen.
    """
    try:
        return ipaddress.ip_address(normal_host(host))
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        raise ValueError(f"{host!r} is a numeric host that is not a plain IPv4 address")
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (and would reach), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Whether an address is on the public internet (Python's `is_global`, minus the special
    ranges it lets through: multicast, reserved, site-local, and IPv4 inside IPv6)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        inner = _embedded_ipv4(ip)
        if inner is not None:
            return is_public(inner)
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified
    )


def host_allowed(host: str | None, allowed: Sequence[str]) -> bool:
    """Whether a host is one of `allowed` (a name also matches its subdomains)."""
    host = normal_host(host)
    if not host:
        return False
    for entry in allowed:
        entry = normal_host(entry)
        if host == entry:
            return True
        if host.endswith("." + entry) and not _is_address(entry):
            return True
    return False


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback_host(host: str | None) -> bool:
    """`localhost` or a loopback address: the hosts allowed to be reached over plain http."""
    host = normal_host(host)
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HopRefusal(enum.Enum):
    """Why a hop of a download is refused (the value is the log wording)."""

    NOT_HTTP = "not an http(s) URL with a host"
    CREDENTIALS = "credentials in the URL"
    CLEARTEXT = "plain http to a host that is not loopback"
    NUMERIC_HOST = "a numeric host that is not a plain address"
    PRIVATE_ADDRESS = "a non-public address outside PINBOT_DOWNLOAD_HOSTS"


def hop_refusal(url: URL, allowed: Sequence[str]) -> HopRefusal | None:
    """Why pinbot must not request this URL during a download, or None when it may.

    Pure: a DNS name's addresses are checked later, where it is resolved (`GuardedResolver`).
    """
    host = url.raw_host
    if url.scheme not in ("http", "https") or not host:
        return HopRefusal.NOT_HTTP
    if url.raw_user is not None or url.raw_password is not None:
        return HopRefusal.CREDENTIALS
    if not host_allowed(host, allowed):
        try:
            ip = literal_address(host)
        except ValueError:
            return HopRefusal.NUMERIC_HOST
        if ip is not None and not is_public(ip):
            return HopRefusal.PRIVATE_ADDRESS
    if url.scheme != "https" and not is_loopback_host(host):
        return HopRefusal.CLEARTEXT
    return None


class AddressRefused(OSError):
    """A name outside PINBOT_DOWNLOAD_HOSTS resolved to an address that is not public.

    An `OSError`, because that is what aiohttp's connector expects a resolver to raise (it
    wraps it in `ClientConnectorDNSError`, keeping it as `os_error`).
    """


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, and refuses non-public answers for names
    that are not listed in PINBOT_DOWNLOAD_HOSTS. All answers must be public: a name that
    mixes a public and a private address is refused as a whole."""

    def __init__(self, allowed: Sequence[str], inner: AbstractResolver | None = None) -> None:
        self._allowed = list(allowed)
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if host_allowed(host, self._allowed):
            return answers
        for answer in answers:
            try:
                ip = ipaddress.ip_address(answer["host"])
            except ValueError:
                raise AddressRefused(f"{host} resolved to an unparseable address") from None
            if not is_public(ip):
                raise AddressRefused(f"{host} resolved to a non-public address")
        return answers

    async def close(self) -> None:
        await self._inner.close()
