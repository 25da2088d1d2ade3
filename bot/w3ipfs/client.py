"""Async client for the AIOZ W3IPFS pinning API, on httpx (the upload stream on aiohttp).

One `W3IPFSClient` owns one httpx connection pool, and one aiohttp pool for the upload POST
(`upload_stream`: measured cheaper per GiB on the hot path); a process makes one and shares it
(use `with_credentials()` to talk for another account over the same pools). Uploads stream: the
body is produced chunk by chunk from the caller's source, so memory stays flat whatever the
file size.

Retries: connection errors, timeouts, 429 and 5xx are retried with exponential backoff and full
jitter (a 429's `Retry-After` is honoured). Reads (get, list, auth test) and unpin are retried.
Requests that create pins (uploads, pin-by-hash) are never sent twice blindly: only failures
that prove the service did not act (the connection was never made, a 429) are retried as such.
After a failure whose outcome is unknown (a timeout, a reset or a 5xx after the body went out)
the pin may exist: with an `upload_key` (carried in the pin's keyvalues as `pinbot_upload`) the
client looks it up first (`find_upload`) and adopts it, and only uploads again when it is not
there and the source can be read again from the start.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr, ValidationError

from .errors import (
    AuthenticationError,
    MalformedResponseError,
    NoAnswerError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
    UploadSourceError,
    W3IPFSError,
    outcome_unknown,
)
from .gateways import LOOKUP_TIMEOUT, Gateway, fingerprint, parse_gateways
from .models import Pin, PinnedFilter, PinPage, SortBy, SortOrder
from .multipart import ByteSource, FilePart, MultipartStream, ProgressCallback, source_size
from .upload_stream import NoAnswer, UploadSession

log = logging.getLogger(__name__)

USER_AGENT = "pinbot (+https://github.com/pinbot)"
#: The keyvalue that makes an upload idempotent: a random key per pin request.
UPLOAD_KEY = "pinbot_upload"
#: Where the service ignores the metadata filter, how many of the newest pins are scanned.
FIND_UPLOAD_SCAN = 200


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How persistent the client is. `max_retries=0` turns retries off."""

    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    #: A 429 asking us to wait longer than this is raised at once, with its retry_after,
    #: so the caller (a job queue, a person) can decide instead of a request hanging.
    max_retry_after: float = 60.0

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.backoff_max, self.backoff_base * (2**attempt)))


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One file of a directory upload: its path inside the directory and its bytes."""

    path: str
    source: ByteSource
    size: int | None = None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def _server_message(response: httpx.Response) -> str | None:
    """The service's own words from an error body, trimmed, if it gave any."""
    text = response.text.strip() if response.content else ""
    if not text:
        return None
    try:
        body = json.loads(text)
    except ValueError:
        if "html" in response.headers.get("content-type", "").lower() or text.startswith("<"):
            return "an HTML page instead of JSON"
        return text[:200]
    if isinstance(body, dict):
        for key in ("message", "error", "msg", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:200]
    return None


def interpret_response(response: httpx.Response) -> Any:
    """Map a response to its `data`, or to the matching `W3IPFSError`."""
    status = response.status_code
    if status >= 400:
        message = _server_message(response)
        if status in (401, 403):
            raise AuthenticationError(status_code=status, server_message=message)
        if status == 404:
            raise NotFoundError(status_code=status, server_message=message)
        if status == 413:
            raise PayloadTooLargeError(status_code=status, server_message=message)
        if status == 429:
            raise RateLimitedError(
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                server_message=message,
            )
        if status >= 500:
            raise ServerError(status_code=status, server_message=message)
        raise RequestRejectedError(status_code=status, server_message=message)
    content_type = response.headers.get("content-type", "").lower()
    if "html" in content_type or response.content.lstrip()[:1] == b"<":
        raise MalformedResponseError(
            "The pinning service answered with an HTML page instead of JSON",
            status_code=status,
        )
    try:
        body = response.json()
    except ValueError:
        raise MalformedResponseError(
            "The pinning service answered with something that is not JSON", status_code=status
        ) from None
    if not isinstance(body, dict):
        raise MalformedResponseError("The pinning service answered with unexpected JSON")
    if body.get("status") != "success":
        raise MalformedResponseError(
            "The pinning service did not report success",
            status_code=status,
            server_message=_server_message(response) or f"status={body.get('status')!r}",
        )
    return body.get("data")


MAX_PIN_ID = 256


def _pin_segment(pin_id: str) -> str:
    """A pin id as exactly one path segment, or `NotFoundError` before any request.

    Quoting keeps `/` and `%` inside the segment, but `.` and `..` survive quoting and are then
    resolved by the URL (`/pinning/..` is `GET /api` with the account's keys); an empty id
    names the upload route. No pin has such an id, so they are "not found" without asking.
    """
    segment = quote(pin_id, safe="")
    if segment in ("", ".", "..") or len(segment) > MAX_PIN_ID:
        raise NotFoundError("not a pin id: it is not a single safe path segment")
    return segment


def _httpx_failure(exc: httpx.TransportError) -> NoAnswer:
    """An httpx failure as what it means (cf. `upload_stream` for aiohttp's): only a
    connection never made proves the service did not see the request."""
    if isinstance(exc, httpx.TimeoutException):
        connect = isinstance(exc, httpx.ConnectTimeout)
        return NoAnswer((TransportError if connect else NoAnswerError)(
            f"The pinning service did not answer in time ({type(exc).__name__})"
        ), no_effect=connect)
    return NoAnswer(TransportError(
        f"Could not talk to the pinning service ({type(exc).__name__}: {exc})"
    ), no_effect=isinstance(exc, httpx.ConnectError))


#: Sends one attempt of a request given its URL and headers (the upload's aiohttp POST).
Exchange = Callable[[str, dict[str, str]], Awaitable[httpx.Response]]

_Model = TypeVar("_Model", Pin, PinPage)


def _as_model(model: type[_Model], data: Any, **extra: Any) -> _Model:
    if not isinstance(data, dict):
        raise MalformedResponseError("The pinning service's reply had no data object")
    try:
        return model.model_validate({**data, **extra})
    except ValidationError as exc:
        raise MalformedResponseError(
            f"The pinning service's reply did not fit the expected shape "
            f"({exc.error_count()} problems)"
        ) from None


def _metadata(
    name: str | None, keyvalues: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    meta: dict[str, Any] = {}
    if name:
        meta["name"] = name
    if keyvalues:
        meta["keyvalues"] = {str(k): v for k, v in keyvalues.items()}
    return meta or None


def _keyed(
    keyvalues: Mapping[str, Any] | None, upload_key: str | None
) -> Mapping[str, Any] | None:
    if upload_key is None:
        return keyvalues
    return {**(keyvalues or {}), UPLOAD_KEY: upload_key}


class W3IPFSClient:
    """Typed async client for the W3IPFS pinning API. Use as an async context manager."""

    def __init__(
        self,
        api_url: str,
        api_key: SecretStr | str,
        secret_key: SecretStr | str,
        *,
        timeout: float = 30.0,
        upload_timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        http: httpx.AsyncClient | None = None,
        max_connections: int = 32,
        transport: httpx.AsyncBaseTransport | None = None,
        on_error: Callable[[W3IPFSError, bool], None] | None = None,
    ) -> None:
        #: Called for every failed attempt with (error, will_retry): a hook for metrics.
        self.on_error = on_error
        self.api_url = api_url.rstrip("/")
        self._api_key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        self._secret_key = (
            secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        )
        self.timeout = httpx.Timeout(timeout)
        # An upload's read timeout covers the service hashing the whole file before it answers.
        self.upload_timeout = httpx.Timeout(timeout, read=upload_timeout, write=timeout)
        self.retry = retry or RetryPolicy()
        self._owns_http = http is None
        self._owns_uploads = True
        self._uploads = UploadSession(max_connections=max_connections, user_agent=USER_AGENT)
        self._http = http or httpx.AsyncClient(
            timeout=self.timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"User-Agent": USER_AGENT},
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> W3IPFSClient:
        """Build from `bot.settings.Settings` (requires the two keys to be set)."""
        settings.require("w3ipfs_api_key", "w3ipfs_secret_key")
        return cls(
            settings.w3ipfs_api_url,
            settings.w3ipfs_api_key,
            settings.w3ipfs_secret_key,
            timeout=settings.w3ipfs_timeout,
            upload_timeout=settings.w3ipfs_upload_timeout,
            retry=RetryPolicy(max_retries=settings.w3ipfs_max_retries),
            **kwargs,
        )

    def with_credentials(self, api_key: SecretStr | str, secret_key: SecretStr | str) -> Self:
        """A client for another account that shares this one's connection pool."""
        other = type(self)(
            self.api_url,
            api_key,
            secret_key,
            retry=self.retry,
            http=self._http,
            on_error=self.on_error,
        )
        other._uploads, other._owns_uploads = self._uploads, False
        other.timeout, other.upload_timeout = self.timeout, self.upload_timeout
        return other

    def __repr__(self) -> str:
        return f"W3IPFSClient(api_url={self.api_url!r}, api_key=**********)"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pools (only those this client created)."""
        if self._owns_http:
            await self._http.aclose()
        if self._owns_uploads:
            await self._uploads.aclose()

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    # -- plumbing ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "pinning_api_key": self._api_key.get_secret_value(),
            "pinning_secret_key": self._secret_key.get_secret_value(),
            "Accept": "application/json",
        }

    async def _send(
        self,
        method: str,
        path: str,
        *,
        retry_on_malformed: bool = True,
        can_retry: bool = True,
        repeatable: bool = True,
        build: Callable[[], dict[str, Any]] | None = None,
        request_timeout: httpx.Timeout | None = None,
        raw: bool = False,
        exchange: Exchange | None = None,
        **kwargs: Any,
    ) -> Any:
        """Send one logical request, retrying per policy; return the parsed `data`.

        `build` makes per-attempt keyword arguments (a fresh upload body each attempt);
        `exchange`, when given, sends each attempt instead of httpx (the upload stream).
        `repeatable=False` (requests that create pins): only failures that prove the service
        did not act are retried here; any other failure is raised for the caller to resolve.
        """
        url = f"{self.api_url}{path}"
        attempt = 0
        error: W3IPFSError
        while True:
            request_kwargs = dict(kwargs)
            if build is not None:
                request_kwargs.update(build())
            headers = self._headers()
            headers.update(request_kwargs.pop("headers", {}))
            try:
                if exchange is not None:
                    response = await exchange(url, headers)
                else:
                    response = await self._http.request(
                        method, url, headers=headers, timeout=request_timeout or self.timeout,
                        **request_kwargs,
                    )
                return response if raw else interpret_response(response)
            except UploadSourceError:
                raise
            except W3IPFSError as exc:
                retryable = isinstance(exc, RateLimitedError) or (
                    repeatable and (isinstance(exc, ServerError) or (
                        isinstance(exc, MalformedResponseError) and retry_on_malformed))
                )
                if not retryable:
                    if self.on_error is not None:
                        self.on_error(exc, False)
                    raise
                error = exc
            except (httpx.TransportError, NoAnswer) as exc:
                failure = exc if isinstance(exc, NoAnswer) else _httpx_failure(exc)
                error = failure.error
                if not repeatable and not failure.no_effect:
                    self._report(error)
                    raise error from None
            final = not can_retry or attempt >= self.retry.max_retries or (
                isinstance(error, RateLimitedError)
                and error.retry_after is not None
                and error.retry_after > self.retry.max_retry_after
            )
            if self.on_error is not None:
                self.on_error(error, not final)
            if final:
                log.warning(
                    "w3ipfs %s %s failed after %d attempt(s): %s",
                    method, path, attempt + 1, error,
                )
                raise error
            delay = self.retry.backoff(attempt)
            if isinstance(error, RateLimitedError) and error.retry_after is not None:
                delay = error.retry_after + random.uniform(0, self.retry.backoff_base)
            attempt += 1
            log.info(
                "w3ipfs %s %s: %s; retry %d/%d in %.2fs",
                method, path, error, attempt, self.retry.max_retries, delay,
            )
            await asyncio.sleep(delay)

    def _report(self, error: W3IPFSError) -> None:
        if self.on_error is not None:
            self.on_error(error, False)

    async def _upload(
        self,
        files: list[FilePart],
        metadata: dict[str, Any] | None,
        on_chunk: Callable[[bytes], None] | None,
        on_progress: ProgressCallback | None,
        upload_key: str | None = None,
        retry_unknown: bool = False,
    ) -> Pin:
        """One logical upload. With `upload_key` and `retry_unknown`, a failure of unknown
        outcome is resolved by looking the key up, and re-sent only if the pin is not there."""
        attempt = 0
        while True:
            stream = MultipartStream(
                files, metadata, on_chunk=on_chunk, on_progress=on_progress
            )
            try:
                return await self._upload_once(stream)
            except W3IPFSError as exc:
                if not (outcome_unknown(exc) and upload_key and retry_unknown
                        and stream.reopenable and attempt < self.retry.max_retries):
                    raise
                log.info("upload outcome unknown (%s); looking for it before retrying", exc)
            found = await self.find_upload(upload_key)
            if found is not None:
                return found
            attempt += 1
            await asyncio.sleep(self.retry.backoff(attempt))

    async def _upload_once(self, stream: MultipartStream) -> Pin:
        timeout = self.upload_timeout

        def build() -> dict[str, Any]:
            headers = {"Content-Type": stream.content_type}
            length = stream.content_length
            if length is not None:
                headers["Content-Length"] = str(length)
            return {"headers": headers}

        async def post(url: str, headers: dict[str, str]) -> httpx.Response:
            return await self._uploads.post(url, headers, stream, connect=timeout.connect,
                                            write=timeout.write, read=timeout.read)

        data = await self._send(
            "POST",
            "/pinning/",
            build=build,
            exchange=post,
            can_retry=stream.reopenable,
            repeatable=False,
            retry_on_malformed=False,
            request_timeout=self.upload_timeout,
        )
        return _as_model(Pin, data)

    async def find_upload(self, upload_key: str) -> Pin | None:
        """The pin an earlier upload with this key made, if the service has it.

        Asks with the metadata filter first; the real service may ignore that filter, so every
        candidate's keyvalues are checked, and when the filter returned nothing that matches,
        the newest pins are scanned as well.
        """
        page = await self.list_pins(limit=10, pinned="all", metadata={UPLOAD_KEY: upload_key})
        for pin in page.pins:
            if (pin.metadata.keyvalues or {}).get(UPLOAD_KEY) == upload_key:
                return pin
        if not page.pins:
            return None  # the filter is honoured (an ignored filter lists the newest pins)
        scanned = 0
        async for pin in self.iter_pins(page_size=50, pinned="all"):
            if (pin.metadata.keyvalues or {}).get(UPLOAD_KEY) == upload_key:
                return pin
            scanned += 1
            if scanned >= FIND_UPLOAD_SCAN:
                break
        return None

    # -- the API -----------------------------------------------------------------------------

    async def test_authentication(self) -> str:
        """`GET /apiKeys/testAuthentication`: the service's greeting if the keys are good."""
        response: httpx.Response = await self._send(
            "GET", "/apiKeys/testAuthentication", raw=True
        )
        if response.status_code >= 400 or "html" in response.headers.get("content-type", ""):
            interpret_response(response)  # raises the matching error
            raise MalformedResponseError("Unexpected reply to the key check")
        try:
            body = response.json()
        except ValueError:
            raise MalformedResponseError(
                "The pinning service answered the key check with something that is not JSON"
            ) from None
        message = body.get("message") if isinstance(body, dict) else None
        return str(message or "authenticated")

    async def pin_file(
        self,
        source: ByteSource,
        name: str,
        size: int | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        content_type: str = "application/octet-stream",
        on_chunk: Callable[[bytes], None] | None = None,
        on_progress: ProgressCallback | None = None,
        upload_key: str | None = None,
        retry_unknown: bool = False,
    ) -> Pin:
        """Upload and pin one file, streaming it from `source`.

        `size` (if known, or derivable from bytes/path) is sent as an exact Content-Length and
        checked against the bytes actually read. `metadata` are the pin's keyvalues.
        `on_chunk` sees every file chunk as it is sent (for hashing alongside the upload).
        `upload_key` goes into the keyvalues; see `_upload` for `retry_unknown`.
        """
        if size is None:
            size = source_size(source)
        part = FilePart(filename=name, source=source, size=size, content_type=content_type)
        return await self._upload([part], _metadata(name, _keyed(metadata, upload_key)),
                                  on_chunk, on_progress, upload_key, retry_unknown)

    async def pin_directory(
        self,
        name: str,
        entries: Iterable[DirectoryEntry],
        metadata: Mapping[str, Any] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        upload_key: str | None = None,
        retry_unknown: bool = False,
    ) -> Pin:
        """Upload a directory: one `file` part per entry, named `name/relative/path`."""
        dirname = name.strip("/")
        if not dirname or "/" in dirname:
            raise ValueError("a directory name is one non-empty path segment")
        parts = []
        for entry in entries:
            rel = entry.path.replace("\\", "/").strip("/")
            if not rel or any(seg in ("", ".", "..") for seg in rel.split("/")):
                raise ValueError(f"bad path inside directory: {entry.path!r}")
            size = entry.size if entry.size is not None else source_size(entry.source)
            parts.append(FilePart(filename=f"{dirname}/{rel}", source=entry.source, size=size))
        if not parts:
            raise ValueError("a directory upload needs at least one file")
        return await self._upload(parts, _metadata(dirname, _keyed(metadata, upload_key)), None,
                                  on_progress, upload_key, retry_unknown)

    async def pin_by_hash(
        self,
        cid: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        upload_key: str | None = None,
    ) -> Pin:
        """Pin content that is already on IPFS, by its CID (never sent twice blindly: on an
        unknown outcome the caller looks `upload_key` up with `find_upload`)."""
        body: dict[str, Any] = {"hash_to_pin": cid}
        meta = _metadata(name, _keyed(metadata, upload_key))
        if meta:
            body["metadata"] = meta
        data = await self._send(
            "POST", "/pinning/pinByHash", json=body, retry_on_malformed=False, repeatable=False
        )
        return _as_model(Pin, data)

    async def get_pin(self, pin_id: str) -> Pin:
        data = await self._send("GET", f"/pinning/{_pin_segment(pin_id)}")
        return _as_model(Pin, data)

    async def list_pins(
        self,
        offset: int = 0,
        limit: int = 10,
        pinned: PinnedFilter | bool | None = "all",
        sort_by: SortBy = "created_at",
        sort_order: SortOrder = "DESC",
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> PinPage:
        """One page of the account's pins, with totals for the whole filtered set."""
        if offset < 0 or limit < 1:
            raise ValueError("offset must be >= 0 and limit >= 1")
        if pinned is None:
            pinned = "all"
        elif isinstance(pinned, bool):
            pinned = "true" if pinned else "false"
        params: dict[str, Any] = {
            "offset": offset,
            "limit": limit,
            "pinned": pinned,
            "sortBy": sort_by,
            "sortOrder": sort_order.upper(),
        }
        if metadata:
            params["metadata"] = json.dumps(dict(metadata), separators=(",", ":"))
        data = await self._send("GET", "/pinning/pins/", params=params)
        return _as_model(PinPage, data, offset=offset, limit=limit)

    async def iter_pages(
        self,
        page_size: int = 50,
        pinned: PinnedFilter | bool | None = "all",
        sort_by: SortBy = "created_at",
        sort_order: SortOrder = "DESC",
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[PinPage]:
        """Every page in turn, until the totals are reached or a page comes back short."""
        offset = 0
        while True:
            page = await self.list_pins(
                offset, page_size, pinned, sort_by, sort_order, metadata=metadata
            )
            yield page
            offset += len(page.pins)
            if len(page.pins) < page_size or offset >= page.totals.files:
                return

    async def iter_pins(
        self,
        page_size: int = 50,
        pinned: PinnedFilter | bool | None = "all",
        sort_by: SortBy = "created_at",
        sort_order: SortOrder = "DESC",
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[Pin]:
        """Every pin of the account, page by page."""
        async for page in self.iter_pages(
            page_size, pinned, sort_by, sort_order, metadata=metadata
        ):
            for pin in page.pins:
                yield pin

    async def unpin(self, pin_id: str) -> Pin:
        """Remove a pin. Returns the pin as the service reports it afterwards."""
        data = await self._send("DELETE", f"/pinning/unpin/{_pin_segment(pin_id)}")
        return _as_model(Pin, data)

    # -- gateways (links to pinned content) -------------------------------------------------

    @property
    def account(self) -> str:
        """Which account this is, for the ledger (`pins.account`): the first 16 hex digits of
        the sha256 of the API key. Not the key, and not reversible to it: safe to store and
        log, so a pin can be unpinned where it was made after the workspace's keys change."""
        return fingerprint(self._api_key.get_secret_value())[:16]

    @property
    def account_fingerprint(self) -> str:
        """A non-secret name for the account these keys open (cache keys, never logged keys)."""
        return fingerprint(self.api_url, self._api_key.get_secret_value())

    async def gateways(self) -> list[Gateway]:
        """`GET /gateways/`: the account's public and dedicated gateways, read defensively
        (`bot.w3ipfs.gateways.parse_gateways`). Asked once, without retries: a card may be
        waiting, and the caller falls back to the public gateway on any error."""
        data = await self._send(
            "GET", "/gateways/", params={"offset": 0, "limit": 50, "type": "all"},
            can_retry=False, request_timeout=httpx.Timeout(LOOKUP_TIMEOUT),
        )
        return parse_gateways(data)
