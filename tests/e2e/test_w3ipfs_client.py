"""Every client method, and every fault, over real HTTP against the W3IPFS emulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aleph_cid import hash_folder

from bot.cid import cid_v1_of
from bot.w3ipfs import (
    AuthenticationError,
    DirectoryEntry,
    MalformedResponseError,
    NotFoundError,
    PayloadTooLargeError,
    PinState,
    RateLimitedError,
    RequestRejectedError,
    RetryPolicy,
    ServerError,
    TransportError,
    UploadSourceError,
    W3IPFSClient,
    W3IPFSError,
)
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, FAST_RETRY, SECRET_KEY
from tests.unit.test_cid import VECTORS


async def test_authentication(client: W3IPFSClient, w3ipfs: W3IPFSEmulator) -> None:
    assert "Congratulations" in await client.test_authentication()
    sent = w3ipfs.requests[-1].headers
    assert sent["pinning_api_key"] == API_KEY and sent["pinning_secret_key"] == SECRET_KEY


async def test_bad_keys_are_rejected_everywhere(w3ipfs: W3IPFSEmulator) -> None:
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, "wrong-secret", retry=FAST_RETRY) as bad:
        calls = [
            bad.test_authentication(),
            bad.pin_file(b"x", "x"),
            bad.pin_by_hash(VECTORS[0][2]),
            bad.get_pin("nope"),
            bad.list_pins(),
            bad.unpin("nope"),
        ]
        for call in calls:
            with pytest.raises(AuthenticationError) as info:
                await call
            assert "wrong-secret" not in str(info.value)
            assert "W3IPFS_API_KEY" in info.value.user_message
    assert w3ipfs.all_pins() == []
    assert len(w3ipfs.requests) == 6  # a 401 is final, never retried


@pytest.mark.parametrize(("data", "v0", "v1"), VECTORS)
async def test_pin_file_returns_the_real_cid(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, data: bytes, v0: str, v1: str
) -> None:
    pin = await client.pin_file(data, "vector.bin")
    assert pin.cid == v1
    assert pin.size == len(data)
    assert pin.pinned and pin.state is PinState.PINNED
    assert pin.name == "vector.bin"
    assert pin.root_hash and v1 != "" and len(pin.root_hash) == 68
    assert w3ipfs.requests[-1].headers["Content-Length"] == str(
        int(w3ipfs.requests[-1].headers["Content-Length"])
    )


async def test_upload_sends_exact_content_length(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 12_000  # ~3 MiB: several chunks
    path.write_bytes(data)
    pin = await client.pin_file(path, "big.bin", metadata={"team": "T1", "channel": "C1"})
    assert pin.cid == cid_v1_of(data)
    req = w3ipfs.api_requests("POST", "/pinning")[-1]
    assert "Transfer-Encoding" not in req.headers
    assert int(req.headers["Content-Length"]) > len(data)
    assert req.body_bytes == len(data)
    assert req.part_names == ["metadata", "file"]
    assert pin.metadata.keyvalues == {"team": "T1", "channel": "C1"}


async def test_upload_of_unknown_length_is_chunked(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    async def stream() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"hello world\n"

    pin = await client.pin_file(stream(), "stream.txt")
    assert pin.cid == cid_v1_of(b"hello world\n" * 3)
    assert w3ipfs.requests[-1].headers.get("Transfer-Encoding") == "chunked"


async def test_source_shorter_than_promised_pins_nothing(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    with pytest.raises(UploadSourceError):
        await client.pin_file(b"only ten b", "short.bin", size=100)
    assert w3ipfs.all_pins() == []


async def test_on_chunk_sees_every_byte(client: W3IPFSClient) -> None:
    seen = bytearray()
    progress: list[int] = []
    data = b"abc" * 500_000
    await client.pin_file(data, "a", on_chunk=seen.extend, on_progress=progress.append)
    assert bytes(seen) == data
    assert progress[-1] == len(data) and progress == sorted(progress)


async def test_pin_directory(client: W3IPFSClient, w3ipfs: W3IPFSEmulator, tmp_path: Path) -> None:
    tree = {"a.txt": b"hello world\n", "sub/b.bin": bytes(300_000), "sub/deeper/c": b"c"}
    root = tmp_path / "site"
    for rel, data in tree.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    entries = [DirectoryEntry(rel, data) for rel, data in tree.items()]
    pin = await client.pin_directory("site", entries, {"kind": "website"})
    assert pin.is_dir
    assert pin.cid == hash_folder(root, cid_version=1)  # kubo's UnixFS directory CID
    assert pin.name == "site"
    req = w3ipfs.api_requests("POST", "/pinning")[-1]
    assert req.part_names == ["metadata", "file", "file", "file"]


async def test_pin_directory_refuses_escaping_paths(client: W3IPFSClient) -> None:
    with pytest.raises(ValueError, match="bad path"):
        await client.pin_directory("d", [DirectoryEntry("../etc/passwd", b"x")])


async def test_pin_by_hash(client: W3IPFSClient, w3ipfs: W3IPFSEmulator) -> None:
    pin = await client.pin_by_hash(VECTORS[0][1], {"source": "slack"}, name="greeting")
    assert pin.is_pin_by_hash and pin.cid == VECTORS[0][1]
    assert pin.name == "greeting" and pin.metadata.keyvalues == {"source": "slack"}
    with pytest.raises(RequestRejectedError) as info:
        await client.pin_by_hash("not-a-cid")
    assert info.value.status_code == 400 and info.value.server_message == "invalid cid"


async def test_get_pin_and_not_found(client: W3IPFSClient, w3ipfs: W3IPFSEmulator) -> None:
    pin = await client.pin_file(b"x", "x.txt")
    again = await client.get_pin(pin.id)
    assert again.id == pin.id and again.cid == pin.cid and again.size == 1
    with pytest.raises(NotFoundError):
        await client.get_pin("00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFoundError):
        await client.get_pin("../pins/")  # quoted into one path segment, not a traversal
    assert w3ipfs.requests[-1].path.startswith("/pinning/..%2Fpins")


async def make_pins(client: W3IPFSClient, n: int) -> list[str]:
    ids = []
    for i in range(n):
        pin = await client.pin_file(
            b"x" * (i * 7 % 13 + 1), f"file-{i:02d}.txt", metadata={"parity": str(i % 2)}
        )
        ids.append(pin.id)
    return ids


async def test_list_pagination_and_totals(client: W3IPFSClient) -> None:
    ids = await make_pins(client, 23)
    first = await client.list_pins(offset=0, limit=10)
    assert first.totals.files == 23
    assert len(first.pins) == 10 and first.has_next and not first.has_prev
    assert [p.id for p in first.pins] == ids[::-1][:10]  # newest first by default
    last = await client.list_pins(offset=20, limit=10)
    assert len(last.pins) == 3 and not last.has_next and last.has_prev
    sizes = [i * 7 % 13 + 1 for i in range(23)]
    assert first.totals.size == sum(sizes)


@pytest.mark.parametrize(
    ("sort_by", "order"), [("size", "ASC"), ("size", "DESC"), ("name", "ASC"), ("name", "DESC"),
                           ("created_at", "ASC")],
)
async def test_list_sorting(client: W3IPFSClient, sort_by: str, order: str) -> None:
    await make_pins(client, 8)
    page = await client.list_pins(limit=50, sort_by=sort_by, sort_order=order)  # type: ignore[arg-type]
    keys = {
        "size": [p.size for p in page.pins],
        "name": [p.name for p in page.pins],
        "created_at": [p.date_pinned for p in page.pins],
    }[sort_by]
    assert keys == sorted(keys, reverse=order == "DESC")  # type: ignore[type-var]


async def test_iter_pins_walks_every_page(client: W3IPFSClient, w3ipfs: W3IPFSEmulator) -> None:
    ids = await make_pins(client, 23)
    before = len(w3ipfs.requests)
    seen = [p.id async for p in client.iter_pins(page_size=10)]
    assert sorted(seen) == sorted(ids) and len(seen) == 23
    assert len(w3ipfs.requests) - before == 3
    pages = [page async for page in client.iter_pages(page_size=10, pinned="true")]
    assert [len(p.pins) for p in pages] == [10, 10, 3]


async def test_unpin_and_filters(client: W3IPFSClient) -> None:
    ids = await make_pins(client, 4)
    gone = await client.unpin(ids[1])
    assert gone.pinned is False and gone.date_unpinned is not None
    assert gone.state is PinState.UNPINNED
    pinned = await client.list_pins(limit=50, pinned=True)
    unpinned = await client.list_pins(limit=50, pinned="false")
    everything = await client.list_pins(limit=50, pinned="all")
    assert ids[1] not in [p.id for p in pinned.pins] and pinned.totals.files == 3
    assert [p.id for p in unpinned.pins] == [ids[1]] and unpinned.totals.files == 1
    assert everything.totals.files == 4
    assert (await client.get_pin(ids[1])).state is PinState.UNPINNED
    with pytest.raises(NotFoundError):
        await client.unpin("no-such-pin")


async def test_list_metadata_filter(client: W3IPFSClient) -> None:
    await make_pins(client, 6)
    odd = await client.list_pins(limit=50, metadata={"parity": "1"})
    assert odd.totals.files == 3
    assert {p.metadata.keyvalues["parity"] for p in odd.pins if p.metadata.keyvalues} == {"1"}


async def test_list_rejects_bad_arguments(client: W3IPFSClient) -> None:
    with pytest.raises(ValueError, match="offset"):
        await client.list_pins(offset=-1)


async def test_slow_pin_reports_pinning_then_done() -> None:
    emulator = W3IPFSEmulator({API_KEY: SECRET_KEY}, pinning_reads=2)
    url = await emulator.start()
    try:
        async with W3IPFSClient(url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as c:
            pin = await c.pin_by_hash(VECTORS[0][2])
            assert pin.state is PinState.PINNING
            assert (await c.get_pin(pin.id)).state is PinState.PINNING
            assert (await c.get_pin(pin.id)).state is PinState.PINNED
    finally:
        await emulator.stop()


async def test_too_large(w3ipfs: W3IPFSEmulator, client: W3IPFSClient) -> None:
    w3ipfs.max_upload_bytes = 1000
    with pytest.raises(PayloadTooLargeError) as info:
        await client.pin_file(bytes(5000), "big")
    assert "too large" in info.value.user_message
    assert w3ipfs.all_pins() == []


# -- faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["500", "502", "503", "429", "html", "reset", "truncated", "bad_json", "empty"]
)
async def test_reads_recover_from_transient_faults(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, kind: str
) -> None:
    pin = await client.pin_file(b"x", "x")
    w3ipfs.inject(kind, count=2, retry_after="0")
    before = len(w3ipfs.requests)
    assert (await client.get_pin(pin.id)).id == pin.id
    assert len(w3ipfs.requests) - before == 3  # two faults, then success


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("500", ServerError),
        ("429", RateLimitedError),
        ("html", MalformedResponseError),
        ("reset", TransportError),
        ("truncated", TransportError),
        ("bad_json", MalformedResponseError),
        ("error_status", MalformedResponseError),
    ],
)
async def test_persistent_faults_raise_after_retries(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, kind: str, error: type[W3IPFSError]
) -> None:
    w3ipfs.inject(kind, count=100, retry_after="0")
    with pytest.raises(error) as info:
        await client.list_pins()
    assert info.value.user_message  # every error has words for a Slack user
    assert len(w3ipfs.requests) == FAST_RETRY.max_retries + 1


async def test_retry_after_is_honoured(client: W3IPFSClient, w3ipfs: W3IPFSEmulator) -> None:
    w3ipfs.inject("429", retry_after="0.3")
    start = time.monotonic()
    await client.list_pins()
    assert time.monotonic() - start >= 0.3


async def test_long_retry_after_is_raised_not_slept(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    w3ipfs.inject("429", retry_after="3600")
    start = time.monotonic()
    with pytest.raises(RateLimitedError) as info:
        await client.list_pins()
    assert info.value.retry_after == 3600
    assert time.monotonic() - start < 2
    assert len(w3ipfs.requests) == 1


async def test_hang_times_out_then_retries(w3ipfs: W3IPFSEmulator) -> None:
    async with W3IPFSClient(
        w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY, timeout=0.3
    ) as c:
        w3ipfs.inject("hang", hang_seconds=5)
        page = await c.list_pins()
        assert page.totals.files == 0
        w3ipfs.inject("hang", count=10, hang_seconds=5)
        with pytest.raises(TransportError, match="did not answer in time"):
            await c.list_pins()


async def test_unreachable_service() -> None:
    async with W3IPFSClient("http://127.0.0.1:9/api", "k", "s", retry=FAST_RETRY) as c:
        with pytest.raises(TransportError) as info:
            await c.test_authentication()
    assert "could not be reached" in info.value.user_message


async def test_unknown_outcome_is_looked_up_before_each_new_upload(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(2_000_000))
    w3ipfs.inject("reset", path="/pinning/", method="POST")
    w3ipfs.inject("503", path="/pinning/", method="POST")
    pin = await client.pin_file(path, "f.bin", upload_key="k-1", retry_unknown=True)
    assert pin.cid == cid_v1_of(bytes(2_000_000))
    assert len(w3ipfs.api_requests("POST", "/pinning/")) == 3
    assert len(w3ipfs.api_requests("GET", "/pinning/pins")) == 2  # a look before each retry
    (stored,) = w3ipfs.all_pins()
    assert stored["metadata"]["keyvalues"]["pinbot_upload"] == "k-1"


async def test_upload_is_never_resent_blindly(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"a re-readable file")
    w3ipfs.inject("503", path="/pinning/", method="POST")
    with pytest.raises(ServerError):
        await client.pin_file(path, "f.bin")  # no upload key: the outcome stays the caller's
    assert len(w3ipfs.api_requests("POST", "/pinning/")) == 1


@pytest.mark.parametrize("fault", ["late", "store_then_500"])
async def test_stored_but_answered_late_is_adopted_not_uploaded_again(
    w3ipfs: W3IPFSEmulator, tmp_path: Path, fault: str
) -> None:
    path = tmp_path / "late.bin"
    path.write_bytes(b"stored, then the answer was lost" * 1000)
    w3ipfs.inject(fault, path="/pinning/", method="POST", hang_seconds=3)
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY,
                            upload_timeout=0.5) as client:
        pin = await client.pin_file(path, "late.bin", upload_key="k-late", retry_unknown=True)
    assert len(w3ipfs.api_requests("POST", "/pinning/")) == 1
    (stored,) = w3ipfs.all_pins()
    assert pin.id == stored["id"] and pin.cid == cid_v1_of(path.read_bytes())


async def test_find_upload_scans_when_the_filter_is_ignored(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    wanted = await client.pin_file(b"needle", "needle.txt", upload_key="k-needle")
    for i in range(5):
        await client.pin_file(f"hay {i}".encode(), f"hay{i}.txt", upload_key=f"k-{i}")
    w3ipfs.ignore_metadata_filter = True
    found = await client.find_upload("k-needle")
    assert found is not None and found.id == wanted.id
    assert await client.find_upload("k-absent") is None


async def test_one_shot_upload_is_never_replayed(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    async def once() -> AsyncIterator[bytes]:
        yield b"bytes that cannot be read twice"

    w3ipfs.inject("500", path="/pinning")
    with pytest.raises(ServerError):
        await client.pin_file(once(), "once.txt")
    assert len(w3ipfs.api_requests("POST", "/pinning")) == 1
    assert w3ipfs.all_pins() == []


async def test_factory_source_is_reopened_on_retry(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    opened = 0

    async def factory_stream() -> AsyncIterator[bytes]:
        nonlocal opened
        opened += 1
        yield b"hello world\n"

    w3ipfs.inject("429", path="/pinning", retry_after="0")
    pin = await client.pin_file(factory_stream, "hello.txt", size=12)
    assert opened == 2 and pin.cid == VECTORS[0][2]


async def test_upload_with_status_error_body_is_not_retried(
    client: W3IPFSClient, w3ipfs: W3IPFSEmulator
) -> None:
    w3ipfs.inject("error_status", path="/pinning")
    with pytest.raises(MalformedResponseError, match="something went wrong"):
        await client.pin_file(b"data", "d")
    assert len(w3ipfs.api_requests("POST", "/pinning")) == 1


async def test_one_pool_shared_across_credentials(w3ipfs: W3IPFSEmulator) -> None:
    w3ipfs.accounts["other-key"] = "other-secret"
    async with W3IPFSClient(w3ipfs.base_url, API_KEY, SECRET_KEY, retry=FAST_RETRY) as main:
        other = main.with_credentials("other-key", "other-secret")
        await other.pin_file(b"theirs", "theirs.txt")
        assert (await main.list_pins()).totals.files == 0
        assert (await other.list_pins()).totals.files == 1
        await other.aclose()  # does not close the shared pool
        assert not main.is_closed
        await main.list_pins()
    assert main.is_closed and other.is_closed


async def test_concurrent_calls_share_the_client(client: W3IPFSClient) -> None:
    pins = await asyncio.gather(*(client.pin_file(f"{i}".encode(), f"{i}") for i in range(20)))
    assert len({p.id for p in pins}) == 20
    assert (await client.list_pins()).totals.files == 20


def test_repr_hides_keys() -> None:
    c = W3IPFSClient("http://127.0.0.1:9/api", "visible-key", "visible-secret",
                     retry=RetryPolicy(max_retries=0))
    assert "visible" not in repr(c)
