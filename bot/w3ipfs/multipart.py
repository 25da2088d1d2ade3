"""A multipart/form-data body produced from async byte iterators.

httpx's own multipart support wants file-like objects and, for async iterators, cannot know the
length; the pinning upload needs both streaming (files up to 1 GB must never be held in memory
or spooled to disk) and an exact `Content-Length` (some proxies refuse chunked uploads). So the
body is framed here: fixed preamble/epilogue bytes around each part, whose lengths are known up
front, and the file bytes passed through untouched.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import anyio

from .errors import UploadSourceError

CHUNK_SIZE = 1024 * 1024

#: A re-openable source can be read again from the start, so an upload of it can be retried.
#: bytes and paths are re-openable; so is a zero-argument callable returning a fresh iterator.
#: A bare async iterable is one-shot: an upload of it is never retried.
ByteSource: TypeAlias = (
    bytes | bytearray | memoryview | str | os.PathLike[str] | AsyncIterable[bytes]
    | Callable[[], AsyncIterable[bytes]]
)

#: Called with the number of file bytes handed to the connection so far.
ProgressCallback: TypeAlias = Callable[[int], None]


def is_reopenable(source: ByteSource) -> bool:
    if isinstance(source, bytes | bytearray | memoryview | str | os.PathLike):
        return True
    return callable(source) and not hasattr(source, "__aiter__")


async def _iter_path(path: Path, chunk_size: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as fh:
        while chunk := await fh.read(chunk_size):
            yield chunk


async def _iter_bytes(
    data: bytes | bytearray | memoryview, chunk_size: int
) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), chunk_size):
        yield bytes(view[start : start + chunk_size])


def open_source(source: ByteSource, chunk_size: int = CHUNK_SIZE) -> AsyncIterable[bytes]:
    """A fresh iterator over the source's bytes (for one-shot sources, the iterable itself)."""
    if isinstance(source, bytes | bytearray | memoryview):
        return _iter_bytes(source, chunk_size)
    if isinstance(source, str | os.PathLike):
        return _iter_path(Path(source), chunk_size)
    if hasattr(source, "__aiter__"):
        return source
    return source()


def source_size(source: ByteSource) -> int | None:
    """The size when it can be known without reading the source."""
    if isinstance(source, bytes | bytearray | memoryview):
        return len(source)
    if isinstance(source, str | os.PathLike):
        return Path(source).stat().st_size
    return None


#: Percent-escaped in a part's file name: what WHATWG multipart/form-data escapes (`"`, CR, LF)
#: and every other control character, which HTTP forbids in a header value (RFC 9110 §5.5):
#: a file named with an ESC or BEL in it was otherwise refused as a malformed header.
_HEADER_ESCAPES = {c: f"%{c:02X}" for c in (*range(0x20), 0x7F, ord('"'))}


def _quote(value: str) -> str:
    # Other UTF-8 is sent as is, as browsers do, and servers decode it.
    return value.translate(_HEADER_ESCAPES)


@dataclass(frozen=True, slots=True)
class FilePart:
    """One `file` part: its name as the service should record it, its bytes, and their size."""

    filename: str
    source: ByteSource
    size: int | None = None
    content_type: str = "application/octet-stream"

    @property
    def reopenable(self) -> bool:
        return is_reopenable(self.source)


class MultipartStream:
    """The body of one upload. Iterate it (once per attempt) to get the bytes.

    `content_length` is exact when every part's size is known, else `None` (chunked).
    While iterating, the bytes of each file are counted and checked against the promised size,
    so a short or long source fails the upload with a clear error instead of a corrupt pin.
    """

    def __init__(
        self,
        files: list[FilePart],
        metadata: Mapping[str, Any] | None = None,
        *,
        boundary: str | None = None,
        on_chunk: Callable[[bytes], None] | None = None,
        on_progress: ProgressCallback | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not files:
            raise ValueError("an upload needs at least one file")
        self.boundary = boundary or secrets.token_hex(16)
        self.files = files
        self.metadata = dict(metadata) if metadata else None
        self.on_chunk = on_chunk
        self.on_progress = on_progress
        self.chunk_size = chunk_size
        self.bytes_sent = 0
        self._head = self._metadata_part()
        self._file_heads = [self._file_head(part) for part in files]
        self._tail = f"--{self.boundary}--\r\n".encode()

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    @property
    def reopenable(self) -> bool:
        return all(part.reopenable for part in self.files)

    @property
    def content_length(self) -> int | None:
        sizes = [part.size for part in self.files]
        if any(size is None for size in sizes):
            return None
        framing = len(self._head) + len(self._tail)
        framing += sum(len(h) + 2 for h in self._file_heads)  # +2: CRLF after each file
        return framing + sum(s for s in sizes if s is not None)

    def _metadata_part(self) -> bytes:
        if self.metadata is None:
            return b""
        body = json.dumps(self.metadata, ensure_ascii=False, separators=(",", ":"))
        return (
            f"--{self.boundary}\r\n"
            'Content-Disposition: form-data; name="metadata"\r\n'
            "\r\n"
            f"{body}\r\n"
        ).encode()

    def _file_head(self, part: FilePart) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{_quote(part.filename)}"\r\n'
            f"Content-Type: {part.content_type}\r\n"
            "\r\n"
        ).encode()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.bytes_sent = 0
        if self._head:
            yield self._head
        for part, head in zip(self.files, self._file_heads, strict=True):
            yield head
            seen = 0
            async for chunk in open_source(part.source, self.chunk_size):
                if not chunk:
                    continue
                seen += len(chunk)
                if part.size is not None and seen > part.size:
                    raise UploadSourceError(
                        f"{part.filename!r} produced more than the promised {part.size} bytes"
                    )
                if self.on_chunk is not None:
                    self.on_chunk(chunk)
                yield chunk
                self.bytes_sent += len(chunk)
                if self.on_progress is not None:
                    self.on_progress(self.bytes_sent)
            if part.size is not None and seen != part.size:
                raise UploadSourceError(
                    f"{part.filename!r} ended after {seen} of the promised {part.size} bytes"
                )
            yield b"\r\n"
        yield self._tail
