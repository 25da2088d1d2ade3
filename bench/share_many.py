"""Benchmark: many small shared files (200 x 256 KiB) through `pinbot serve`, per-file costs.

Separate processes on 127.0.0.1: the Slack emulator (files served from disk with sendfile)
and the W3IPFS emulator (real CIDs), both at lower CPU priority (`--emulator-nice`); then, on
a fresh PostgreSQL database, (a) `pinbot serve` running the jobs itself at
PINBOT_CONCURRENCY=4, (b) `pinbot serve` + two `pinbot worker`s woken through Redis. All events
are sent at once (signed `file_shared`, `--concurrency` in flight). Prints files per second
(first event to last card), the bot processes' CPU ms per file, Slack API calls per file (and
by method), and the p50/p99 time from a file's event to its finished card.

    python bench/share_many.py
    python bench/share_many.py --files 500 --modes local
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _procs import (  # noqa: E402
    bot_env,
    cpu_seconds,
    file_shared,
    first_line,
    free_port,
    spawn,
    stop,
    wait_healthy,
)

KiB = 1024
POSTGRES = os.environ.get("PINBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("PINBOT_BENCH_REDIS", "redis://127.0.0.1:6379/14")


async def fresh_database() -> str:
    import asyncpg  # bench-only; the test extra installs it

    name = f"pinbot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(POSTGRES)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    nice = args.emulator_nice
    slack = spawn(["bench/_endpoints.py", "slack", str(workdir)], nice=nice)
    sink = spawn(["bench/_endpoints.py", "sink", "--hash"], nice=nice)
    procs = [slack, sink]
    bots = []
    try:
        slack_api, sink_api = first_line(slack), first_line(sink)
        base = slack_api.removesuffix("/api/")
        port = free_port()
        extra = {"PINBOT_CONCURRENCY": "4"}
        if mode == "redis":
            import redis  # bench-only

            redis.from_url(REDIS).flushdb()
            extra["PINBOT_REDIS_URL"] = REDIS
        env = bot_env(slack_api, sink_api, port, asyncio.run(fresh_database()), **extra)
        log = workdir / f"{mode}.log"
        bots.append(spawn(["-m", "pinbot", "serve"], env=env, log=log))
        if mode == "redis":
            bots += [spawn(["-m", "pinbot", "worker"], env=env, log=log) for _ in range(2)]
        procs += bots
        wait_healthy(port)
        time.sleep(1.5 if mode == "redis" else 0.3)
        http = httpx.Client(timeout=60)
        names = [f"{mode}-{i:04d}.bin" for i in range(args.files)]
        files = [http.post(f"{base}/_bench/share", json={
            "name": "small.bin", "as": name, "size": args.kib * KiB,
            "channel": f"C0CH{i % 8}"}).json() for i, name in enumerate(names)]
        before = http.get(f"{base}/_bench/calls").json()["counts"]
        cpu0 = sum(cpu_seconds(p.pid) for p in bots)
        sent: dict[str, float] = {}

        async def send_all() -> None:
            limit = asyncio.Semaphore(args.concurrency)
            async with httpx.AsyncClient(timeout=60) as client:
                async def one(name: str, file: dict[str, str]) -> None:
                    async with limit:
                        body, headers = file_shared(file)
                        sent[name] = time.time()
                        r = await client.post(f"http://127.0.0.1:{port}/slack/events",
                                              content=body, headers=headers)
                        assert r.status_code == 200, r.text

                await asyncio.gather(*(one(n, f) for n, f in zip(names, files, strict=True)))

        asyncio.run(send_all())
        deadline = time.monotonic() + args.timeout
        while True:
            calls = http.get(f"{base}/_bench/calls").json()
            cards = {n: t for n, t in calls["cards"].items() if n in sent}
            if len(cards) == len(names) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        time.sleep(0.5)  # the jobs' last writes after their cards
        cpu = sum(cpu_seconds(p.pid) for p in bots) - cpu0
        counts = http.get(f"{base}/_bench/calls").json()["counts"]
        per_method = {m: (counts.get(m, 0) - before.get(m, 0)) / len(names)
                      for m in counts if counts.get(m, 0) != before.get(m, 0)}
        latencies = sorted(cards[n] - sent[n] for n in cards)
        span = max(cards.values()) - min(sent.values())
        return {
            "mode": "in-process" if mode == "local" else "2 workers (Redis)",
            "carded": len(cards), "files": len(names), "files_s": len(cards) / span,
            "cpu_ms": cpu * 1000 / len(names), "calls": sum(per_method.values()),
            "per_method": per_method, "p50": statistics.median(latencies),
            "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)],
        }
    finally:
        stop(procs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--concurrency", type=int, default=50, help="events in flight")
    parser.add_argument("--modes", default="local,redis")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--emulator-nice", type=int, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pinbot-share-many-"))
    (workdir / "small.bin").write_bytes(os.urandom(args.kib * KiB))
    print(f"{args.files} shares of {args.kib} KiB, PINBOT_CONCURRENCY=4, python "
          f"{platform.python_version()}, {os.cpu_count()} cores, load "
          f"{os.getloadavg()[0]:.2f}; logs in {workdir}")
    for mode in args.modes.split(","):
        r = run_mode(mode, args, workdir)
        print(f"{r['mode']:<18} {r['files_s']:6.1f} files/s  {r['cpu_ms']:6.1f} ms CPU/file  "
              f"{r['calls']:4.1f} Slack calls/file  event->card p50 {r['p50']:.2f} s "
              f"p99 {r['p99']:.2f} s  ({r['carded']}/{r['files']} cards)")
        print("   Slack calls per file: " + ", ".join(
            f"{m} {n:.2f}" for m, n in sorted(r["per_method"].items())))


if __name__ == "__main__":
    main()
