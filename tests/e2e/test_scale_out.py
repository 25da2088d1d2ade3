"""Scale-out with real processes: `pinbot serve` + `pinbot worker`s on real Redis/PostgreSQL.

The emulators run in this process; the bot runs as separate processes exactly as deployed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cid import cid_v1_of
from bot.queue import RedisQueue
from pinbot.emulators.slack import SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, SECRET_KEY, SECRETS
from tests.databases import fresh_database
from tests.e2e.conftest import SIGNING_SECRET
from tests.e2e.slack_driver import SlackDriver
from tests.e2e.test_shared_files import text_of
from tests.services import fresh_redis

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, env: dict[str, str], logs: Path, slack: SlackEmulator,
                 w3ipfs: W3IPFSEmulator) -> None:
        self.env, self.logs, self.slack, self.w3ipfs = env, logs, slack, w3ipfs
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.url = f"http://127.0.0.1:{env['PINBOT_PORT']}"
        self.driver = SlackDriver(f"{self.url}/slack/events", SIGNING_SECRET, slack)

    async def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pinbot", *args, env=self.env, cwd=self.logs,
            stdout=log, stderr=log,
        )

    async def wait_ready(self, workers: int) -> None:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                await asyncio.sleep(0.1)
                for name, proc in self.procs.items():
                    if proc.returncode is not None:
                        raise AssertionError(f"{name} exited: {self.log_tail(name)}")
                try:
                    ok = (await http.get(f"{self.url}/healthz")).status_code == 200
                except httpx.TransportError:
                    continue
                if ok and len(self.slack.calls_to("auth.test")) >= workers:
                    return
        raise AssertionError("cluster not ready: " + self.log_tail("serve"))

    def log_tail(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else "(no log)"

    async def stop(self) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                await asyncio.wait_for(proc.wait(), 40)
            except TimeoutError:
                proc.kill()
        await self.driver.aclose()
        for name in self.procs:  # the processes' own logs carry no secret either
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            leaked = [s for s in SECRETS if s in text]
            assert not leaked, f"{name} logged a secret"


def process_env(slack: SlackEmulator, w3ipfs: W3IPFSEmulator, **extra: str) -> dict[str, str]:
    """The environment of a real pinbot process wired to the in-test emulators."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("W3IPFS_", "SLACK_", "PINBOT_"))}
    env.update({
        "PYTHONPATH": str(ROOT),
        "W3IPFS_API_URL": w3ipfs.base_url, "W3IPFS_API_KEY": API_KEY,
        "W3IPFS_SECRET_KEY": SECRET_KEY,
        "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url, "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1",
        "PINBOT_HOST": "127.0.0.1", "PINBOT_PORT": str(free_port()),
        "PINBOT_LOG_LEVEL": "INFO",
    })
    env.update(extra)
    return env


@pytest.fixture
async def cluster(
    w3ipfs: W3IPFSEmulator, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    slack = SlackEmulator()
    await slack.start()
    clusters: list[Cluster] = []
    async with fresh_redis() as redis_url, fresh_database("postgres", tmp_path) as db_url:
        async def make(**extra: str) -> Cluster:
            env = process_env(slack, w3ipfs, **{
                "W3IPFS_MAX_RETRIES": "10", "PINBOT_DATABASE_URL": db_url,
                "PINBOT_REDIS_URL": redis_url, "PINBOT_CONCURRENCY": "4", **extra})
            made = Cluster(env, tmp_path, slack, w3ipfs)
            clusters.append(made)
            return made

        yield make
        for made in clusters:
            await made.stop()
    await slack.stop()


@pytest.mark.slow
async def test_hundred_files_through_thirty_percent_faults(cluster: Callable[..., Any]) -> None:
    c: Cluster = await cluster()
    await c.start("serve", "serve")
    await c.start("worker-1", "worker")
    await c.start("worker-2", "worker")
    await c.wait_ready(workers=2)
    c.w3ipfs.fault_rate = 0.3  # 500s, 429 with Retry-After, resets, truncated bodies
    files = [c.slack.add_file(f"file-{i:03d}.bin", os.urandom(32 * 1024)) for i in range(100)]
    sent = await asyncio.gather(*(c.driver.file_shared(f) for f in files))
    assert all(s.response.status_code == 200 for s in sent)

    def finished() -> int:
        return sum(1 for m in c.slack.bot_messages()
                   if "Verified" in text_of(m) or "Could not pin" in text_of(m))

    for _ in range(1800):
        if finished() == 100:
            break
        await asyncio.sleep(0.1)
    cards = c.slack.bot_messages()
    assert finished() == 100, f"{finished()} of 100 finished\n{c.log_tail('worker-1')}"
    assert not [m for m in cards if "Could not pin" in text_of(m)]
    assert len(cards) == 100  # one card per file, no duplicates
    assert c.w3ipfs.faults_injected > 20
    pins = c.w3ipfs.all_pins()
    assert len(pins) == 100  # every file pinned exactly once
    assert {p["cid"] for p in pins} == {cid_v1_of(f.content()) for f in files}


@pytest.mark.slow
async def test_worker_killed_mid_upload_job_finishes_on_another(
    cluster: Callable[..., Any],
) -> None:
    # The default PINBOT_JOB_TIMEOUT (1 h): the job is resumed from its record, not by arq.
    c: Cluster = await cluster(PINBOT_JOB_LEASE="5")
    await c.start("serve", "serve")
    await c.start("worker-a", "worker")
    await c.wait_ready(workers=1)
    c.w3ipfs.throttle_upload = 0.05  # ~20 MiB/s: a 64 MiB upload takes about 3 s
    fake = c.slack.add_file("large.iso", size=64 * 1024 * 1024)
    await c.driver.file_shared(fake)
    for _ in range(200):  # wait until worker A is streaming into the service
        if c.w3ipfs.api_requests("POST", "/pinning/"):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("upload never started: " + c.log_tail("worker-a"))
    await asyncio.sleep(0.5)
    c.procs["worker-a"].kill()  # SIGKILL: no cleanup, no goodbye
    await c.procs["worker-a"].wait()
    killed_at = asyncio.get_running_loop().time()
    await c.start("worker-b", "worker")
    expected = cid_v1_of(fake.content())

    def card() -> dict[str, Any] | None:
        messages = c.slack.bot_messages(fake.channel)
        return messages[0] if messages and expected in text_of(messages[0]) else None

    for _ in range(900):
        if card():
            break
        await asyncio.sleep(0.1)
    assert card(), c.log_tail("worker-b")
    # Resumed within about the lease (5 s) plus the upload (~3 s), not after the job timeout.
    assert asyncio.get_running_loop().time() - killed_at < 30
    assert len(c.slack.bot_messages(fake.channel)) == 1  # the same reply, finished
    assert "Verified" in text_of(card() or {})
    assert len(c.w3ipfs.all_pins()) == 1


async def test_a_job_is_queued_once() -> None:
    from tests.services import fresh_redis as redis_db

    async with redis_db() as url:
        first, second = await RedisQueue.connect(url), await RedisQueue.connect(url)
        try:
            assert await first.enqueue(41)
            assert not await second.enqueue(41)  # the same job from another replica
            assert await first.depth() == 1
        finally:
            await first.aclose()
            await second.aclose()


@pytest.mark.slow
async def test_a_lost_redis_loses_no_job(cluster: Callable[..., Any]) -> None:
    """The database is the truth: with every queued message gone, workers still find the
    jobs in the job table and run them."""
    c: Cluster = await cluster()
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    files = [c.slack.add_file(f"queued-{i}.txt", f"queued {i}".encode()) for i in range(3)]
    for fake in files:
        await c.driver.file_shared(fake)
    redis = await RedisQueue.connect(c.env["PINBOT_REDIS_URL"])
    try:
        for _ in range(100):  # the jobs are recorded and queued; then Redis loses them all
            if await redis.depth() == 3:
                break
            await asyncio.sleep(0.05)
        await redis.pool.flushdb()
    finally:
        await redis.aclose()
    await c.start("worker", "worker")
    def cards_done() -> bool:
        return all(any("Verified" in text_of(m) for m in c.slack.thread(f.channel, f.ts))
                   for f in files)

    for _ in range(300):
        if cards_done():
            break
        await asyncio.sleep(0.1)
    assert cards_done(), c.log_tail("worker")
    assert {p["cid"] for p in c.w3ipfs.all_pins()} == {cid_v1_of(f.content()) for f in files}
    for fake in files:
        assert len(c.slack.thread(fake.channel, fake.ts)) == 1


@pytest.mark.slow
async def test_sigterm_finishes_in_flight_pins(cluster: Callable[..., Any]) -> None:
    c: Cluster = await cluster(PINBOT_REDIS_URL="")  # in-process jobs
    await c.start("serve", "serve")
    await c.wait_ready(workers=0)
    c.w3ipfs.throttle_upload = 0.1  # ~10 MiB/s: 16 MiB takes ~1.6 s
    fake = c.slack.add_file("in-flight.bin", size=16 * 1024 * 1024)
    await c.driver.file_shared(fake)
    for _ in range(200):
        if c.w3ipfs.api_requests("POST", "/pinning/"):
            break
        await asyncio.sleep(0.05)
    c.procs["serve"].send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient() as http:  # no new work is taken meanwhile
        with pytest.raises(httpx.TransportError):
            await http.get(f"{c.url}/healthz", timeout=2)
    assert await asyncio.wait_for(c.procs["serve"].wait(), 40) == 0
    (reply,) = c.slack.bot_messages(fake.channel)
    assert cid_v1_of(fake.content()) in text_of(reply) and "Verified" in text_of(reply)


@pytest.mark.slow
async def test_worker_sigterm_finishes_its_job(cluster: Callable[..., Any]) -> None:
    c: Cluster = await cluster()
    await c.start("serve", "serve")
    await c.start("worker", "worker")
    await c.wait_ready(workers=1)
    c.w3ipfs.throttle_upload = 0.1  # ~10 MiB/s: 16 MiB take ~1.6 s
    fake = c.slack.add_file("finish-me.bin", size=16 * 1024 * 1024)
    await c.driver.file_shared(fake)
    for _ in range(200):
        if c.w3ipfs.api_requests("POST", "/pinning/"):
            break
        await asyncio.sleep(0.05)
    c.procs["worker"].send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(c.procs["worker"].wait(), 40) == 0
    (reply,) = c.slack.bot_messages(fake.channel)
    assert cid_v1_of(fake.content()) in text_of(reply) and "Verified" in text_of(reply)
    assert len(c.w3ipfs.all_pins()) == 1
