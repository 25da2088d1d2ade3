"""SIGKILL at the awkward moments of a pin job, real `pinbot serve` processes (SQLite, no
Redis): after the service stored the upload but before its answer reached the job, and
while a duplicate request waits for another request's upload. Each restart must end in one
pin and one answer per thread.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cid import cid_v1_of
from tests.e2e import test_crash_recovery as crash
from tests.e2e.test_scale_out import Cluster
from tests.e2e.test_shared_files import text_of

embedded = crash.embedded
until = crash.until


@pytest.mark.slow
async def test_killed_after_the_service_stored_the_upload_adopts_it(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    """The service keeps the file but holds its answer; pinbot is SIGKILLed meanwhile. The
    restarted process finds the pin by its upload key: no second upload, same card."""
    c = embedded()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.w3ipfs.inject("late", path="/pinning/", method="POST", hang_seconds=60)
    fake = c.slack.add_file("stored.bin", b"stored before the crash\n" * 1000)
    await c.driver.file_shared(fake)
    await until(lambda: c.w3ipfs.all_pins(), 20, "the service stored the upload")
    c.procs["serve"].send_signal(signal.SIGKILL)
    await c.procs["serve"].wait()
    c.w3ipfs.faults.clear()
    await c.start("serve-again", "serve")
    expected = cid_v1_of(fake.content())
    await until(lambda: any(expected in text_of(m) for m in c.slack.thread(fake.channel,
                                                                            fake.ts)),
                30, lambda: "the card shows the CID: " + c.log_tail("serve-again"))
    await asyncio.sleep(1.0)  # let anything that would go wrong go wrong
    (card,) = c.slack.thread(fake.channel, fake.ts)
    assert "found this pin by its upload key" in text_of(card)
    assert len(c.w3ipfs.api_requests("POST", "/pinning/")) == 1  # never uploaded again
    assert [p["cid"] for p in c.w3ipfs.all_pins()] == [expected]
    assert [s for s, _ in crash._jobs(tmp_path / "pinbot.db")] == ["done"]


@pytest.mark.slow
async def test_killed_while_a_duplicate_waits_both_threads_answered_once(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    """The same file shared in two channels; the second request waits for the first one's
    upload; SIGKILL. After the restart: one pin, each thread has exactly one message, and
    the waiting one turned into "Already pinned"."""
    c = embedded()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.w3ipfs.throttle_upload = 0.05
    fake = c.slack.add_file("twice.tar", size=20 * 1024 * 1024)
    second_ts = c.slack.share_again(fake, "C0RANDOM")
    await c.driver.file_shared(fake)
    await until(lambda: c.slack.thread(fake.channel, fake.ts), 20, "first card")
    await c.driver.file_shared(fake, channel="C0RANDOM")
    await until(lambda: any("is being pinned" in text_of(m)
                            for m in c.slack.thread("C0RANDOM", second_ts)), 20, "waiting")
    c.procs["serve"].send_signal(signal.SIGKILL)
    await c.procs["serve"].wait()
    c.w3ipfs.throttle_upload = 0.0
    await c.start("serve-again", "serve")
    expected = cid_v1_of(fake.content())

    def shows_cid(channel: str, ts: str) -> bool:
        return any(expected in text_of(m) for m in c.slack.thread(channel, ts))

    await until(lambda: shows_cid(fake.channel, fake.ts) and shows_cid("C0RANDOM", second_ts),
                60, lambda: "both threads show the CID: " + c.log_tail("serve-again"))
    await asyncio.sleep(1.0)
    (first,) = c.slack.thread(fake.channel, fake.ts)
    (second,) = c.slack.thread("C0RANDOM", second_ts)
    assert "Already pinned" in text_of(second) and "Already pinned" not in text_of(first)
    assert [p["cid"] for p in c.w3ipfs.all_pins()] == [expected]
    assert {s for s, _ in crash._jobs(tmp_path / "pinbot.db")} == {"done"}
