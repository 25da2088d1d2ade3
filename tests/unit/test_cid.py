"""CID computation and parsing against vectors computed by kubo and the JS reference importer."""

from __future__ import annotations

import random
import threading

import pytest

from bot.cid import (
    BackgroundCID,
    InvalidCIDError,
    StreamingCID,
    cid_v0_of,
    cid_v1_of,
    is_cid,
    parse_cid,
    same_content,
)

VECTORS = [
    (
        b"hello world\n",
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    ),
    (
        bytes(1024 * 1024),
        "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU",
        "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla",
    ),
    (
        b"",
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    ),
]


@pytest.mark.parametrize(("data", "v0", "v1"), VECTORS)
def test_known_vectors(data: bytes, v0: str, v1: str) -> None:
    assert cid_v0_of(data) == v0
    assert cid_v1_of(data) == v1


@pytest.mark.parametrize("chunk", [1, 7, 4096, 262_143, 262_144, 1 << 20])
def test_streaming_cid_is_independent_of_chunking(chunk: int) -> None:
    data = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB, not a multiple of 256 KiB
    hasher = StreamingCID()
    for start in range(0, len(data), chunk):
        hasher.update(data[start : start + chunk])
    assert hasher.bytes_seen == len(data)
    assert hasher.finalize() == cid_v1_of(data)


def test_finalized_hasher_refuses_more() -> None:
    hasher = StreamingCID()
    hasher.update(b"x")
    hasher.finalize()
    assert hasher.finalize() == cid_v1_of(b"x")  # idempotent
    with pytest.raises(RuntimeError):
        hasher.update(b"y")


@pytest.mark.parametrize(("data", "v0", "v1"), VECTORS)
def test_parse_valid(data: bytes, v0: str, v1: str) -> None:
    p0, p1 = parse_cid(v0), parse_cid(f"  {v1}\n")
    assert p0.version == 0 and p0.codec == "dag-pb"
    assert p1.version == 1 and p1.text == v1
    assert p0.hash_function == "sha2-256"


def test_v0_and_v1_spellings_of_one_root_are_same_content() -> None:
    v0 = VECTORS[1][1]
    v1_spelling = parse_cid(v0).v1
    assert v1_spelling.startswith("bafybei")
    assert same_content(v0, v1_spelling)
    # kubo's v0 and v1 imports build different DAGs (dag-pb vs raw leaves): different content.
    assert not same_content(v0, VECTORS[1][2])
    assert not same_content(VECTORS[0][2], VECTORS[2][2])
    assert not same_content("nonsense", VECTORS[0][2])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "Qm123",
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5O0",  # 0 is not base58
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei",  # truncated
        "https://ipfs.io/ipfs/",
        "b" + "a" * 600,
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InvalidCIDError):
        parse_cid(text)
    assert not is_cid(text)


async def test_background_cid_is_the_cid_of_every_byte_in_order() -> None:
    """Chunks of odd sizes, across batch boundaries (small batches), hashed on a thread: the
    CID is that of the bytes in the order fed — a reordered or dropped batch changes it."""
    rng = random.Random(12)
    data = rng.randbytes(3 * 1024 * 1024 + 12345)
    loop_thread = threading.get_ident()
    threads: set[int] = set()

    class Watched(BackgroundCID):
        def _update(self, batch: list[bytes]) -> None:
            threads.add(threading.get_ident())
            super()._update(batch)

    hasher = Watched(batch=100_000)
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 7, 65_536, 262_144, 300_001])
        await hasher.feed(data[offset : offset + size])
        offset += size
    assert await hasher.finalize() == cid_v1_of(data)
    assert hasher.bytes_seen == len(data)
    assert threads and loop_thread not in threads  # hashed off the event loop
    swapped = BackgroundCID(batch=100_000)
    await swapped.feed(data[len(data) // 2 :])
    await swapped.feed(data[: len(data) // 2])
    assert await swapped.finalize() != cid_v1_of(data)
