"""The upload POST on aiohttp (bot/w3ipfs/upload_stream.py) keeps the httpx path's semantics.

Over real HTTP against the W3IPFS emulator: what is sent (keys, exact length, the upload key),
which failures are re-sent (only those that prove no effect: no connection, a 429), which end
as "no answer" (read or write timeout after bytes went out), that the source's own errors come
out as they are, and that the pools are shared and closed like the httpx one.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.cid import cid_v1_of
from bot.w3ipfs import (
    NoAnswerError,
    RetryPolicy,
    TransportError,
    W3IPFSClient,
    W3IPFSError,
)
from bot.w3ipfs.client import USER_AGENT
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY

MiB = 1024 * 1024


class SourceBroke(Exception):
    """Stands for a download that failed mid-stream (not an error of the pinning API)."""


def zeros(chunks: int) -> AsyncIterator[bytes]:
    async def stream() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            yield bytes(MiB)

    return stream()


async def test_the_upload_sends_the_keys_the_length_and_the_upload_key(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    data = bytes(range(256)) * 9000
    pin = await client.pin_file(data, "f.bin", metadata={"slack_team": "T1"}, upload_key="k-9")
    assert pin.cid == cid_v1_of(data)
    (sent,) = w3ipfs.api_requests("POST", "/pinning/")
    assert sent.headers["pinning_api_key"] == API_KEY
    assert sent.headers["pinning_secret_key"] == SECRET_KEY
    assert sent.headers["User-Agent"] == USER_AGENT
    assert "Transfer-Encoding" not in sent.headers
    assert sent.body_bytes == len(data) and int(sent.headers["Content-Length"]) > len(data)
    (stored,) = w3ipfs.all_pins()
    assert stored["metadata"]["keyvalues"] == {"slack_team": "T1", "pinbot_upload": "k-9"}


async def test_no_connection_is_retried_then_raised_as_unreachable() -> None:
    seen: list[tuple[W3IPFSError, bool]] = []
    async with W3IPFSClient("http://127.0.0.1:9/api", API_KEY, SECRET_KEY, retry=FAST_RETRY,
                            on_error=lambda e, again: seen.append((e, again))) as c:
        with pytest.raises(TransportError) as info:
            await c.pin_file(b"re-readable bytes", "f.bin")
    assert not isinstance(info.value, NoAnswerError)
    assert "could not be reached" in info.value.user_message
    assert [again for _, again in seen] == [True] * FAST_RETRY.max_retries + [False]
    assert SECRET_KEY not in str(info.value) and API_KEY not in str(info.value)


async def test_a_silent_service_is_no_answer_and_never_posted_twice(
    w3ipfs: W3IPFSEmulator,
) -> None:
    w3ipfs.inject("hang", path="/pinning/", method="POST", hang_seconds=5)
    seen: list[tuple[W3IPFSError, bool]] = []
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY,
                            upload_timeout=0.3,
                            on_error=lambda e, again: seen.append((e, again))) as c:
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match="did not answer in time"):
            await c.pin_file(b"small enough to be sent whole", "f.bin")
    assert time.monotonic() - started < 3
    assert len(w3ipfs.api_requests("POST", "/pinning/")) == 1
    assert [(type(e), again) for e, again in seen] == [(NoAnswerError, False)]


async def test_a_service_that_stops_reading_hits_the_write_timeout(
    w3ipfs: W3IPFSEmulator,
) -> None:
    # The emulator's hang reads nothing: once the socket buffers are full no chunk can be
    # handed over, and after `timeout` the upload is "no answer" (bytes went out).
    w3ipfs.inject("hang", path="/pinning/", method="POST", hang_seconds=10)
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY,
                            timeout=0.5, upload_timeout=60) as c:
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match="WriteTimeout"):
            await c.pin_file(lambda: zeros(64), "big.bin", size=64 * MiB)
    assert time.monotonic() - started < 8
    assert len(w3ipfs.api_requests("POST", "/pinning/")) == 1


async def test_the_sources_own_error_comes_out_as_it_is(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    async def breaks() -> AsyncIterator[bytes]:
        yield bytes(MiB)
        raise SourceBroke("the download broke")

    with pytest.raises(SourceBroke, match="the download broke"):
        await client.pin_file(breaks(), "f.bin", size=4 * MiB)
    assert w3ipfs.all_pins() == []


async def test_pools_are_shared_across_credentials_and_closed_by_their_owner(
    w3ipfs: W3IPFSEmulator,
) -> None:
    w3ipfs.accounts["other-key"] = "other-secret"
    main = W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=RetryPolicy(max_retries=0))
    other = main.with_credentials("other-key", "other-secret")
    await other.pin_file(b"theirs", "theirs.txt")
    await other.aclose()
    await main.pin_file(b"mine", "mine.txt")  # the shared upload pool is still open
    assert [len(w3ipfs.pins[k]) for k in (API_KEY, "other-key")] == [1, 1]
    await main.aclose()
    assert main._uploads._session is None  # closed, and made again only if used again
