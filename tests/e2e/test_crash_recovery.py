"""Real `pinbot serve` processes killed and restarted, in the default embedded mode (SQLite,
no Redis): a SIGKILL mid-upload resumes on the same card; files shared while pinbot was down
are caught up; nothing is pinned twice. The emulators run in this process.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cid import cid_v1_of
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.e2e.test_scale_out import Cluster, free_port, process_env
from tests.e2e.test_shared_files import text_of


@pytest.fixture
async def embedded(
    w3ipfs: W3IPFSEmulator, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """`pinbot serve` as deployed by default: one process, SQLite in its working directory."""
    slack = SlackEmulator()
    await slack.start()
    made: list[Cluster] = []

    def make(**extra: str) -> Cluster:
        # No PINBOT_DATABASE_URL: SQLite in the process's working directory, the default.
        cluster = Cluster(process_env(slack, w3ipfs, **extra), tmp_path, slack, w3ipfs)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        await cluster.stop()
    await slack.stop()


async def until(check: Callable[[], Any], within: float,
                what: str | Callable[[], str]) -> Any:
    """Poll `check`; on failure say `what` (a callable is read then: a log's tail at the end)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within}s: {what() if callable(what) else what}")


@pytest.mark.slow
async def test_serve_killed_mid_upload_resumes_on_the_same_card(
    embedded: Callable[..., Cluster],
) -> None:
    c = embedded()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.w3ipfs.throttle_upload = 0.05  # ~20 MiB/s: 100 MiB take about 5 s
    fake = c.slack.add_file("dataset.tar", size=100 * 1024 * 1024)
    await c.driver.file_shared(fake)
    await until(lambda: c.w3ipfs.api_requests("POST", "/pinning/"), 30, "upload started")
    await asyncio.sleep(2.0)  # well into the upload (progress on the card)
    c.procs["serve"].send_signal(signal.SIGKILL)
    await c.procs["serve"].wait()
    assert c.w3ipfs.all_pins() == []  # the cut upload left nothing at the service
    killed_at = time.monotonic()
    await c.start("serve-again", "serve")
    expected = cid_v1_of(fake.content())

    def finished() -> dict[str, Any] | None:
        cards = c.slack.thread(fake.channel, fake.ts)
        return cards[0] if cards and expected in text_of(cards[0]) else None

    card = await until(finished, 60, lambda: "the card shows the CID: " + c.log_tail("serve-again"))
    assert time.monotonic() - killed_at < 60
    (only,) = c.slack.thread(fake.channel, fake.ts)  # the original card, carried on
    assert only["ts"] == card["ts"] and "Verified" in text_of(card)
    assert any("%" in text_of(step) for step in card["history"])  # progress was shown
    (pin,) = c.w3ipfs.all_pins()
    assert pin["cid"] == expected
    # The file's reaction is swapped after the card is edited: wait for it, too.
    await until(lambda: c.slack.reactions.get((fake.channel, fake.ts)) == {"white_check_mark"},
                10, "the working reaction swapped for done")


@pytest.mark.slow
async def test_files_shared_while_down_are_caught_up_not_history(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    c = embedded(PINBOT_CATCHUP_INTERVAL="1h")
    before_first_start = time.time() - 60
    old = c.slack.add_file("history.pdf", b"shared before pinbot was installed",
                           created=before_first_start)
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    # The first start records the workspace's first start; nothing from before it is pinned.
    first_seen = await until(lambda: _first_seen(tmp_path / "pinbot.db"), 20, "first start")
    live = c.slack.add_file("live.txt", b"shared while pinbot runs")
    await c.driver.file_shared(live)
    await until(lambda: c.slack.thread(live.channel, live.ts), 20, "live file pinned")
    c.procs["serve"].send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(c.procs["serve"].wait(), 40) == 0
    # Three files shared while pinbot is down: their events are lost.
    missed = [c.slack.add_file(f"missed-{i}.bin", f"missed {i}".encode(),
                               created=first_seen + 1 + i) for i in range(3)]
    c.slack.share_again(missed[2], "C0RANDOM")  # one of them in two channels
    await asyncio.sleep(max(0.0, first_seen + 12 - time.time()))  # past catch-up's grace
    await c.start("serve", "serve")  # the same deployment, started again (same log)
    await c.wait_ready(workers=0)
    for fake in missed:
        await until(lambda f=fake: any(cid_v1_of(f.content()) in text_of(m)
                                       for m in c.slack.thread(f.channel, f.ts)), 30,
                    lambda f=fake: f"{f.name} caught up: " + c.log_tail("serve"))
        assert len(c.slack.thread(fake.channel, fake.ts)) == 1
    await asyncio.sleep(1.0)  # let anything that would go wrong go wrong
    cids = [p["cid"] for p in c.w3ipfs.all_pins()]
    assert sorted(cids) == sorted(cid_v1_of(f.content()) for f in [live, *missed])  # once each
    assert cid_v1_of(old.content()) not in cids and c.slack.thread(old.channel, old.ts) == []
    assert len(c.slack.thread(live.channel, live.ts)) == 1  # not answered a second time


def _first_seen(db: Path) -> float | None:
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        try:
            row = conn.execute("SELECT first_seen FROM workspace_state").fetchone()
        except sqlite3.OperationalError:
            return None
    if row is None:
        return None
    return datetime.fromisoformat(str(row[0])).replace(tzinfo=UTC).timestamp()


def _jobs(db: Path) -> list[tuple[str, str | None]]:
    """(state, lease owner) of every job, read straight from the embedded database."""
    with sqlite3.connect(db) as conn:
        return [(str(s), o) for s, o in conn.execute("SELECT state, lease_owner FROM jobs")]


@pytest.mark.slow
async def test_serve_killed_between_claim_and_card_posts_one_card(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    """SIGKILL after the ledger claim, while Slack is still refusing the card: the restarted
    process resumes the job under its own claim (not "being pinned from #general" to itself),
    posts one card and pins once."""
    c = embedded()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.slack.rate_limit_next["chat.postMessage"] = 1_000  # the card post sits in retries
    fake = c.slack.add_file("claimed.txt", b"claimed, then the lights went out")
    await c.driver.file_shared(fake)
    await until(lambda: c.slack.calls_to("chat.postMessage"), 20, "card post attempted")
    c.procs["serve"].send_signal(signal.SIGKILL)
    await c.procs["serve"].wait()
    assert c.w3ipfs.all_pins() == [] and c.slack.thread(fake.channel, fake.ts) == []
    c.slack.rate_limit_next["chat.postMessage"] = 0
    await c.start("serve-again", "serve")
    expected = cid_v1_of(fake.content())
    await until(lambda: any(expected in text_of(m) for m in c.slack.thread(fake.channel,
                                                                            fake.ts)),
                30, lambda: "the card shows the CID: " + c.log_tail("serve-again"))
    await asyncio.sleep(1.0)  # let anything that would go wrong go wrong
    (card,) = c.slack.thread(fake.channel, fake.ts)
    assert "being pinned" not in text_of(card)
    assert [p["cid"] for p in c.w3ipfs.all_pins()] == [expected]
    assert [s for s, _ in _jobs(tmp_path / "pinbot.db")] == ["done"]


@pytest.mark.slow
async def test_serve_killed_while_following_status_updates_the_card_after_restart(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    """SIGKILL while the job follows a pin the service still reports as pinning: after the
    restart the same card turns to DONE when the service finishes."""
    c = embedded(PINBOT_STATUS_POLL_INTERVAL="0.5")
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.w3ipfs.pinning_reads = 10_000
    fake = c.slack.add_file("slow.bin", b"the service takes its time" * 100)
    await c.driver.file_shared(fake)
    await until(lambda: any("still pinning" in text_of(m)
                            for m in c.slack.thread(fake.channel, fake.ts)), 20, "pinning")
    c.procs["serve"].send_signal(signal.SIGKILL)
    await c.procs["serve"].wait()
    (pin,) = c.w3ipfs.all_pins()
    pin["status"] = pin["sub_hash_status"] = "DONE"  # the service finishes meanwhile
    await c.start("serve-again", "serve")
    await until(lambda: any("DONE" in text_of(m) and "still pinning" not in text_of(m)
                            for m in c.slack.thread(fake.channel, fake.ts)),
                30, lambda: "the card shows DONE: " + c.log_tail("serve-again"))
    assert len(c.slack.thread(fake.channel, fake.ts)) == 1
    assert len(c.w3ipfs.all_pins()) == 1
    # The card is updated just before the job records "done": wait for the record too.
    await until(lambda: [s for s, _ in _jobs(tmp_path / "pinbot.db")] == ["done"], 10,
                "the job is done")


@pytest.mark.slow
async def test_two_serve_processes_on_one_sqlite_file_pin_each_file_once(
    embedded: Callable[..., Cluster], tmp_path: Path,
) -> None:
    """Two `pinbot serve` (no Redis) on the same SQLite file, both polling the job table,
    both receiving deliveries of the same files: each file pinned once, one card each."""
    c = embedded()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    other = dict(c.env, PINBOT_PORT=str(free_port()))
    second = Cluster(other, tmp_path, c.slack, c.w3ipfs)
    await second.start("serve-2", "serve")
    await second.wait_ready(workers=0)
    try:
        c.w3ipfs.throttle_upload = 0.01
        files = [c.slack.add_file(f"race-{i}.bin", f"racing file {i}\n".encode() * 3000)
                 for i in range(8)]
        await asyncio.gather(*(d.file_shared(f, event_id=None)
                               for f in files for d in (c.driver, second.driver)))
        for fake in files:
            await until(lambda f=fake: any(cid_v1_of(f.content()) in text_of(m)
                                           for m in c.slack.thread(f.channel, f.ts)),
                        60, lambda f=fake: f"{f.name} pinned: " + c.log_tail("serve")
                        + second.log_tail("serve-2"))
        await asyncio.sleep(1.0)
        assert len(c.w3ipfs.api_requests("POST", "/pinning/")) == len(files)
        for fake in files:
            assert len(c.slack.thread(fake.channel, fake.ts)) == 1, fake.name
        assert {s for s, _ in _jobs(tmp_path / "pinbot.db")} <= {"done"}
    finally:
        await second.stop()
