"""The upload POST, streamed on aiohttp; every other call of the client stays on httpx.

Why a second HTTP client: the upload is the product's hot path, and on the project's machine
(issue 12, `bench/share_pin.py`) streaming it through httpx cost more CPU per GiB than the
whole download, which is already on aiohttp (`bot/slack_files.py`). The JSON API calls are
small and stay on httpx.

Nothing about the request changes with the client: the same `MultipartStream` body with its
exact Content-Length, the same headers, a write timeout on every chunk sent (httpx's `write`),
the upload timeout for the answer once the last byte is out (aiohttp starts `sock_read` only
then), the answer read whole and handed back as an `httpx.Response`, so the client maps it
through the same `interpret_response`. A request that got no answer is raised as
`NoAnswer`: the W3IPFS error it means, and whether it proves the service never saw the
request (the connection was never made), the only such failure an upload may be re-sent on.
"""

from __future__ import annotations

import asyncio

import aiohttp
import httpx
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload

from .errors import NoAnswerError, TransportError, W3IPFSError
from .multipart import MultipartStream


class NoAnswer(Exception):
    """The upload got no HTTP answer: `error` is what that means, `no_effect` whether the
    service cannot have acted on it (nothing was sent)."""

    def __init__(self, error: W3IPFSError, *, no_effect: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.no_effect = no_effect


class _WriteTimeout(Exception):
    """A chunk of the body could not be handed to the connection within the write timeout."""


class _Body(Payload):
    """A `MultipartStream` as an aiohttp payload, each chunk's write under the write timeout.

    Whatever the source raises (a short file, a broken download) is kept in `failure`: aiohttp
    wraps it in a connection error, and the caller re-raises the original, as httpx did.
    """

    def __init__(self, stream: MultipartStream, write_timeout: float | None) -> None:
        super().__init__(stream, content_type=stream.content_type)
        self._size = stream.content_length
        self._stream = stream
        self._write_timeout = write_timeout
        self.failure: Exception | None = None

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("an upload body is a stream, never decoded whole")

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        # The MultipartStream checks every part against its promised size, so the bytes
        # written are exactly the Content-Length; content_length needs no second count.
        limit = self._write_timeout
        chunks = aiter(self._stream)
        try:
            while True:
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except Exception as exc:
                    self.failure = exc
                    raise
                try:
                    async with asyncio.timeout(limit):
                        await writer.write(chunk)
                except TimeoutError:
                    self.failure = _WriteTimeout()
                    raise self.failure from None
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]


def _no_answer(exc: BaseException) -> NoAnswer:
    """An aiohttp failure as what it means for an upload (cf. the httpx mapping in client)."""
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        # No connection within the connect timeout (or none free in the pool): nothing sent.
        return NoAnswer(TransportError(
            f"The pinning service did not answer in time ({name})"), no_effect=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, unresolvable, TLS handshake failed: the request never went out.
        return NoAnswer(TransportError(
            f"Could not talk to the pinning service ({name}: {exc})"), no_effect=True)
    if isinstance(exc, TimeoutError):
        # sock_read (the upload timeout, counted from the last byte sent).
        return NoAnswer(NoAnswerError(
            f"The pinning service did not answer in time ({name})"), no_effect=False)
    return NoAnswer(TransportError(
        f"Could not talk to the pinning service ({name}: {exc})"), no_effect=False)


class UploadSession:
    """One aiohttp connection pool for uploads, made on first use (it needs a running loop)
    and shared by every account's client, like the httpx pool."""

    def __init__(self, *, max_connections: int, user_agent: str) -> None:
        self._limit = max_connections
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                # The same certificate authorities as the client's httpx calls (certifi, or
                # SSL_CERT_FILE / SSL_CERT_DIR), and its proxies (HTTP(S)_PROXY, NO_PROXY).
                connector=aiohttp.TCPConnector(limit=self._limit,
                                               ssl=httpx.create_ssl_context(trust_env=True)),
                headers={"User-Agent": self._user_agent},
                trust_env=True,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(
        self,
        url: str,
        headers: dict[str, str],
        stream: MultipartStream,
        *,
        connect: float | None,
        write: float | None,
        read: float | None,
    ) -> httpx.Response:
        """POST the stream; the answer, whatever its status, or `NoAnswer`."""
        body = _Body(stream, write)
        timeout = aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect,
                                        sock_read=read)
        session = self._session_or_new()
        try:
            async with session.post(url, data=body, headers=headers, timeout=timeout,
                                    allow_redirects=False) as response:
                content = await response.read()
                answer = httpx.Response(
                    response.status, content=content,
                    headers=[(k.decode("latin-1"), v.decode("latin-1"))
                             for k, v in response.raw_headers],
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            _raise_failure(body)
            raise _no_answer(exc) from None
        _raise_failure(body)
        return answer


def _raise_failure(body: _Body) -> None:
    """The body's own failure wins over whatever aiohttp made of it."""
    failure = body.failure
    if failure is None:
        return
    if isinstance(failure, _WriteTimeout):
        raise NoAnswer(NoAnswerError(
            "The pinning service did not answer in time (WriteTimeout)"), no_effect=False)
    raise failure

