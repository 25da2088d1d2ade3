"""Slack files: what `files.info` says, whether a file can be pinned, and its bytes as a stream.

The download is the product's hot path, so it uses aiohttp (measured ~2.5x faster than httpx's
streaming read here) and hands chunks on as they arrive: no full-file buffer, no temp file.

Security: Slack answers a request without a valid token with 200 and an HTML *login page*;
HTTP clients drop `Authorization` on cross-origin redirects. So redirects are followed here, one
hop at a time: the bot token goes only to Slack's own hosts (`PINBOT_DOWNLOAD_HOSTS`, each
matching itself and its subdomains), the first URL must be one of them, and the response must
not be an HTML page (unless the file is HTML) nor differ in length from `files.info`'s size.
Every hop also obeys `download_policy` (https only, loopback exempt; other hosts only on public
addresses), and every download runs against a `DownloadClock` (an allowance plus its size at
`PINBOT_MIN_DOWNLOAD_RATE`), so a trickling server cannot hold an upload slot for long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp.abc import AbstractResolver
from pydantic import SecretStr
from yarl import URL

from .download_policy import AddressRefused, GuardedResolver, HopRefusal, hop_refusal, host_allowed
from .format import human_size
from .settings import DEFAULT_DOWNLOAD_ALLOWANCE, DEFAULT_MIN_DOWNLOAD_RATE, Settings
from .text import inline_name

log = logging.getLogger(__name__)

#: The most a download reads from its socket per call, and buffers before it stops reading
#: until the consumer catches up. asyncio reads at most 256 KiB per call and aiohttp stops
#: reading past 128 KiB by default: for files of hundreds of MiB that is four times the
#: wake-ups, reads and chunks for every layer above (the upload, the hashing thread) and a
#: pause and resume per read (measured: issue 12, `bench/share_pin.py`).
DOWNLOAD_CHUNK = 1024 * 1024
MAX_REDIRECTS = 5
HTML_TYPES = ("html", "htm", "xhtml")


@dataclass(frozen=True, slots=True)
class Share:
    channel: str
    ts: str
    thread_ts: str | None

    @property
    def reply_to(self) -> str:
        """The thread to answer in: the file message's thread, or start one on it."""
        return self.thread_ts or self.ts


@dataclass(frozen=True, slots=True)
class SlackFile:
    """The parts of a `files.info` file object that pinning needs."""

    id: str
    name: str
    size: int | None
    user: str | None
    mode: str | None
    mimetype: str | None
    filetype: str | None
    url_private_download: str | None
    is_external: bool
    shares: tuple[Share, ...] = field(default_factory=tuple)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> SlackFile:
        shares: list[Share] = []
        for visibility in ("public", "private"):
            by_channel = (data.get("shares") or {}).get(visibility) or {}
            for channel, entries in by_channel.items():
                for entry in entries or ():
                    if entry.get("ts"):
                        shares.append(Share(channel, str(entry["ts"]), entry.get("thread_ts")))
        size = data.get("size")
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name") or data.get("title") or data.get("id") or "file"),
            size=int(size) if isinstance(size, int | float) else None,
            user=data.get("user"),
            mode=data.get("mode"),
            mimetype=data.get("mimetype"),
            filetype=data.get("filetype"),
            url_private_download=data.get("url_private_download"),
            is_external=bool(data.get("is_external")),
            shares=tuple(shares),
            raw=data,
        )

    def share_in(self, channel: str | None) -> Share | None:
        """The file's message in this channel (the newest, if shared there more than once)."""
        matches = [s for s in self.shares if s.channel == channel]
        return max(matches, key=lambda s: float(s.ts)) if matches else None

    @property
    def is_html(self) -> bool:
        return (self.filetype or "").lower() in HTML_TYPES or "html" in (self.mimetype or "")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a shared file will not be pinned, in words for the person who shared it."""

    reason: str
    message: str


def check_file(file: SlackFile, *, max_bytes: int, bot_user_id: str | None) -> Refusal | None:
    """Decide, before any download, whether a file can be pinned. Pure; order matters.

    The messages are mrkdwn for whoever shared or reacted: the file's name is someone else's
    text, so it goes in through `inline_name` (no links, mentions or line breaks).
    """
    name = inline_name(file.name, 200)
    if bot_user_id and file.user == bot_user_id:
        return Refusal("own_file", "")  # the bot's own uploads are never pinned back
    if file.mode == "tombstone" or file.raw.get("is_deleted"):
        return Refusal("deleted", f"*{name}* was deleted before it could be pinned.")
    if file.is_external or file.mode == "external":
        return Refusal(
            "external",
            f"*{name}* lives outside Slack (an external file), so pinbot cannot read its "
            "bytes. Download it and share the file itself to pin it.",
        )
    if not file.url_private_download:
        if file.mode == "file_access":
            return Refusal(
                "file_access",
                f"pinbot has no access to *{name}* (shared from another organisation "
                "through Slack Connect). Ask the owner to share it directly, or re-upload it.",
            )
        return Refusal(
            "no_download",
            f"Slack offers no download for *{name}* "
            f"({inline_name(file.mode or 'unknown', 40)} file), so it cannot be pinned.",
        )
    if file.size is None:
        return Refusal("no_size", f"Slack did not report the size of *{name}*.")
    if file.size == 0:
        return Refusal("empty", f"*{name}* is empty (0 bytes), so there is nothing to pin.")
    if file.size > max_bytes:
        return Refusal(
            "too_large",
            f"*{name}* is {human_size(file.size)}, over this workspace's pinning limit of "
            f"{human_size(max_bytes)}.",
        )
    return None


class SlackDownloadError(Exception):
    """The file's bytes could not be fetched from Slack as promised."""

    user_message = "pinbot could not download the file from Slack."

    def __init__(self, detail: str, user_message: str | None = None) -> None:
        super().__init__(detail)
        if user_message:
            self.user_message = user_message


class LoginPageError(SlackDownloadError):
    user_message = (
        "Slack sent a login page instead of the file: pinbot's token was not accepted for "
        "downloads (check the files:read scope and SLACK_BOT_TOKEN)."
    )


class SizeMismatchError(SlackDownloadError):
    user_message = (
        "The download from Slack did not match the file's size, so nothing was pinned "
        "(the file may have changed or the connection broke). Share it again to retry."
    )


class SlowDownloadError(SlackDownloadError):
    """Slack sent the bytes slower than PINBOT_MIN_DOWNLOAD_RATE allows, or stopped sending."""

    user_message = (
        "Slack sent the file too slowly, so pinbot stopped the download rather than hold up "
        "other pins. Nothing was pinned; share the file again to retry."
    )


class UnsafeDownloadError(SlackDownloadError):
    """The download would have gone where pinbot does not fetch from (`download_policy`)."""

    user_message = (
        "The file's download was sent somewhere pinbot does not fetch from (a local or private "
        "network address), so nothing was downloaded from there and nothing was pinned."
    )


CLEARTEXT_MESSAGE = (
    "The file's download link is not encrypted (http://), so pinbot did not use it: pinbot "
    "downloads only over https, so that neither its Slack token nor the file travel in clear. "
    "Nothing was pinned."
)

#: Longest single wait for Slack's next bytes (or its answer) before the download counts as
#: stalled, whatever is left of the download's overall budget.
STALL_TIMEOUT = 60.0
REDIRECT_STATUSES = (301, 302, 303, 307, 308)

T = TypeVar("T")


class DownloadClock:
    """The time one download may spend waiting for Slack: `allowance + size / min_rate`.

    Why waiting time rather than wall time: the consumer (the upload) reads at its own pace,
    and aiohttp stops reading the socket while the consumer is behind; that time is not
    Slack's. A server that trickles bytes makes every read wait, so its download spends the
    budget and is cut at the deadline instead of holding an upload slot for hours. Connecting,
    every redirect and the headers count too; each single wait is also capped at `stall`.
    """

    def __init__(self, budget: float, stall: float, min_rate: float) -> None:
        self.budget = budget
        self.stall = stall
        self.min_rate = min_rate
        self.waited = 0.0

    async def wait(self, step: Awaitable[T], what: str) -> T:
        """Await one step of the download within what is left of the budget."""
        remaining = self.budget - self.waited
        limit = max(0.0, min(self.stall, remaining))
        started = time.monotonic()
        timeout = asyncio.timeout(limit)
        try:
            async with timeout:
                return await step
        except TimeoutError:
            if not timeout.expired():
                raise  # aiohttp's own timeout, not this budget
            stalled = limit < remaining
            why = "stalled" if stalled else "missed its deadline"
            how = (f"nothing for {limit:.0f} s" if stalled
                   else f"under {human_size(int(self.min_rate))}/s")
            raise SlowDownloadError(
                f"{what}: download {why} after {self.waited + limit:.1f}s waiting on Slack "
                f"(budget {self.budget:.1f}s)",
                f"Slack sent the file too slowly ({how}), so pinbot stopped the download "
                "rather than hold up other pins. Nothing was pinned; share the file again "
                "to retry.",
            ) from None
        finally:
            self.waited += time.monotonic() - started


class SlackDownload:
    """An open download whose headers passed the checks; iterate it once for the bytes.

    Every read is timed by the download's `DownloadClock`, so the deadline covers the whole
    stream for whichever consumer reads it. A download that ends early for any reason closes
    its connection at once (a trickling server is not left holding a socket).
    """

    def __init__(
        self, response: aiohttp.ClientResponse, expected_size: int, name: str, *,
        clock: DownloadClock,
    ) -> None:
        self._response = response
        self._clock = clock
        self.expected_size = expected_size
        self.name = name
        self.bytes_read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        _read_more_per_call(self._response)
        reader = self._response.content
        finished = False
        try:
            while chunk := await self._clock.wait(reader.read(DOWNLOAD_CHUNK), self.name):
                self.bytes_read += len(chunk)
                if self.bytes_read > self.expected_size:
                    raise SizeMismatchError(
                        f"{self.name}: download exceeds the {self.expected_size} bytes "
                        "files.info reported"
                    )
                yield chunk
            finished = True
        except aiohttp.ClientError as exc:
            raise SizeMismatchError(
                f"{self.name}: download broke after {self.bytes_read} bytes ({exc!r})"
            ) from None
        finally:
            if not finished:
                self.close()
        if self.bytes_read != self.expected_size:
            raise SizeMismatchError(
                f"{self.name}: download ended after {self.bytes_read} of "
                f"{self.expected_size} bytes"
            )

    def close(self) -> None:
        self._response.close()


def _read_more_per_call(response: aiohttp.ClientResponse) -> None:
    """Let the download's socket be read DOWNLOAD_CHUNK at a time (asyncio's selector
    transport reads `max_size`, 256 KiB, per call; other event loops are left as they are)."""
    connection = response.connection
    transport = connection.transport if connection is not None else None
    if transport is not None and hasattr(transport, "max_size"):
        transport.max_size = DOWNLOAD_CHUNK


class SlackDownloader:
    """Opens Slack file downloads with the bot token, on one pooled aiohttp session.

    The session's connector resolves names through `GuardedResolver`, so the host policy of
    `download_policy` holds for the address actually connected to.
    """

    def __init__(
        self,
        token: SecretStr | None,
        allowed_hosts: Sequence[str],
        *,
        min_rate: float = DEFAULT_MIN_DOWNLOAD_RATE,
        allowance: float = DEFAULT_DOWNLOAD_ALLOWANCE,
        stall: float = STALL_TIMEOUT,
        timeout: float = 60.0,
        resolver: AbstractResolver | None = None,
    ) -> None:
        """`resolver` is the DNS under the guard (aiohttp's default when None); tests pass
        one that answers like a rebinding attacker's DNS."""
        self._token = token
        self._dns = resolver
        self.allowed_hosts = list(allowed_hosts)
        self.min_rate = min_rate
        self.allowance = allowance
        self.stall = stall
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SlackDownloader:
        return cls(
            settings.slack_bot_token, settings.download_hosts,
            min_rate=settings.min_download_rate, allowance=settings.download_allowance,
        )

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._resolver = GuardedResolver(self.allowed_hosts, self._dns)
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, auto_decompress=False, read_bufsize=DOWNLOAD_CHUNK,
                connector=aiohttp.TCPConnector(limit=64, resolver=self._resolver),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._resolver is not None:
            await self._resolver.close()

    def clock_for(self, file: SlackFile) -> DownloadClock:
        """This file's waiting budget: the allowance plus its size at the floor rate."""
        return DownloadClock(
            self.allowance + (file.size or 0) / self.min_rate, self.stall, self.min_rate
        )

    async def open(self, file: SlackFile, token: SecretStr | None = None) -> SlackDownload:
        """Follow redirects deliberately, each hop under the host policy; return the download
        once its headers look right. The file's clock starts here."""
        if not file.url_private_download:
            raise SlackDownloadError(f"{file.id}: no download URL")
        try:
            url = URL(file.url_private_download)
        except ValueError:
            raise SlackDownloadError(f"{file.id}: unparseable download URL") from None
        if not host_allowed(url.raw_host, self.allowed_hosts):
            raise SlackDownloadError(
                f"{file.id}: refusing to download from {url.raw_host!r}, "
                "which is not a Slack file host (PINBOT_DOWNLOAD_HOSTS)",
                "The file's download link does not point at Slack, so pinbot did not follow it.",
            )
        secret = token or self._token
        if secret is None:
            raise SlackDownloadError(f"{file.id}: no bot token to download with")
        clock = self.clock_for(file)
        session = self._session_or_new()
        for _ in range(MAX_REDIRECTS + 1):
            response = await self._hop(session, url, file, secret, clock)
            if response.status not in REDIRECT_STATUSES:
                return self._checked(response, file, clock)
            location = response.headers.get("Location")
            response.close()
            if not location:
                raise SlackDownloadError(f"{file.id}: redirect without a Location")
            try:
                url = url.join(URL(location))
            except ValueError:
                raise SlackDownloadError(f"{file.id}: redirect to an unparseable URL") from None
            log.debug("download redirected to host %s", url.raw_host)
        raise SlackDownloadError(f"{file.id}: too many redirects")

    async def _hop(
        self, session: aiohttp.ClientSession, url: URL, file: SlackFile, secret: SecretStr,
        clock: DownloadClock,
    ) -> aiohttp.ClientResponse:
        """One request, if the policy allows it; the token only to PINBOT_DOWNLOAD_HOSTS."""
        refusal = hop_refusal(url, self.allowed_hosts)
        if refusal is not None:
            raise self._refused(file, url, refusal)
        headers = {}
        if host_allowed(url.raw_host, self.allowed_hosts):
            headers["Authorization"] = f"Bearer {secret.get_secret_value()}"
        try:
            return await clock.wait(
                session.get(url, headers=headers, allow_redirects=False), file.id
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise self._refused(file, url, HopRefusal.PRIVATE_ADDRESS) from None
            raise self._unreachable(file, exc) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(file, exc) from None

    @staticmethod
    def _refused(file: SlackFile, url: URL, refusal: HopRefusal) -> UnsafeDownloadError:
        message = CLEARTEXT_MESSAGE if refusal is HopRefusal.CLEARTEXT else None
        return UnsafeDownloadError(
            f"{file.id}: refusing to fetch from host {url.raw_host!r}: {refusal.value}", message
        )

    @staticmethod
    def _unreachable(file: SlackFile, exc: BaseException) -> SlackDownloadError:
        return SlackDownloadError(
            f"{file.id}: could not reach Slack's file host ({type(exc).__name__})",
            "pinbot could not reach Slack to download the file. Please try again.",
        )

    def _checked(
        self, response: aiohttp.ClientResponse, file: SlackFile, clock: DownloadClock
    ) -> SlackDownload:
        if response.status in (401, 403):
            response.close()
            raise LoginPageError(f"{file.id}: Slack answered {response.status} to the download")
        if response.status == 404:
            response.close()
            raise SlackDownloadError(
                f"{file.id}: Slack answered 404 to the download",
                "The file is gone from Slack (deleted?), so it was not pinned.",
            )
        if response.status != 200:
            response.close()
            raise SlackDownloadError(f"{file.id}: Slack answered HTTP {response.status}")
        content_type = response.headers.get("Content-Type", "").lower()
        if "text/html" in content_type and not file.is_html:
            response.close()
            raise LoginPageError(f"{file.id}: got an HTML page instead of the file")
        assert file.size is not None
        length = response.content_length
        if length is not None and length != file.size:
            response.close()
            raise SizeMismatchError(
                f"{file.id}: Slack sent Content-Length {length}, files.info said {file.size}"
            )
        return SlackDownload(response, file.size, file.name, clock=clock)
