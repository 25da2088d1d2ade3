"""The streamed multipart body is byte-exact, parseable, and checks sizes."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import AsyncIterator

import pytest

from bot.w3ipfs import UploadSourceError, parse_retry_after
from bot.w3ipfs.multipart import FilePart, MultipartStream, is_reopenable, source_size


async def collect(stream: MultipartStream) -> bytes:
    return b"".join([chunk async for chunk in stream])


def parse(body: bytes, content_type: str) -> list[tuple[str | None, str | None, bytes]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return [
        (part.get_param("name", header="content-disposition"), part.get_filename(),
         part.get_payload(decode=True))
        for part in msg.iter_parts()
    ]


async def test_content_length_is_exact_and_body_parses(tmp_path: object) -> None:
    data = bytes(range(256)) * 5000
    stream = MultipartStream(
        [FilePart("a.bin", data, len(data)), FilePart('dir/é "q".txt', b"hi", 2)],
        {"name": "x", "keyvalues": {"k": "v"}},
        chunk_size=4096,
    )
    body = await collect(stream)
    assert stream.content_length == len(body)
    parts = parse(body, stream.content_type)
    assert parts[0][0] == "metadata" and b'"keyvalues":{"k":"v"}' in parts[0][2]
    assert parts[1] == ("file", "a.bin", data)
    assert parts[2][1] == "dir/é %22q%22.txt" and parts[2][2] == b"hi"


async def test_unknown_size_means_no_content_length() -> None:
    async def gen() -> AsyncIterator[bytes]:
        yield b"abc"

    stream = MultipartStream([FilePart("a", gen(), None)])
    assert stream.content_length is None
    assert not stream.reopenable
    assert b"abc" in await collect(stream)


@pytest.mark.parametrize("actual", [b"short", b"far too long for ten"])
async def test_size_mismatch_fails(actual: bytes) -> None:
    stream = MultipartStream([FilePart("a", actual, 10)])
    with pytest.raises(UploadSourceError):
        await collect(stream)


async def test_progress_and_chunk_hooks() -> None:
    seen: list[int] = []
    chunks: list[bytes] = []
    stream = MultipartStream(
        [FilePart("a", b"x" * 10, 10)], on_chunk=chunks.append, on_progress=seen.append,
        chunk_size=4,
    )
    await collect(stream)
    assert seen == [4, 8, 10]
    assert b"".join(chunks) == b"x" * 10


def test_reopenable_sources(tmp_path: object) -> None:
    async def gen() -> AsyncIterator[bytes]:
        yield b""

    assert is_reopenable(b"x") and is_reopenable("some/path")
    assert is_reopenable(gen)  # a factory can be called again
    assert not is_reopenable(gen())  # a started stream cannot
    assert source_size(b"abc") == 3 and source_size(gen()) is None


def test_parse_retry_after() -> None:
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("-3") == 0.0
    when = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
    assert when == pytest.approx(10.0)
