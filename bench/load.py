"""Load benchmark: `pinbot serve` over HTTP under a burst of events and commands.

Each run starts fresh processes on 127.0.0.1: the Slack emulator, the W3IPFS emulator (real
CIDs), `pinbot serve`, and — in the Redis mode — two `pinbot worker`s. Then, at concurrency 50:
200 `file_shared` events (1 MiB files) and 1,000 slash commands (`/pins`, `/pins mine`,
`/pin help`), while 4 large files (default 256 MiB each) stream. It prints ack latency
p50/p99/max, the time until every file is pinned, pins created (must equal files shared),
and peak RSS of the bot's processes. Both modes run side by side.

    python bench/load.py                       # in-process and 2 workers via Redis
    python bench/load.py --large-mib 512 --modes redis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
KEY, SECRET, TOKEN, SIGNING = "test-key", "test-secret", "xoxb-test-token", "bench-signing"
MiB = 1024 * 1024
POSTGRES = os.environ.get("PINBOT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("PINBOT_BENCH_REDIS", "redis://127.0.0.1:6379/14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None,
          nice: int = 0) -> subprocess.Popen[str]:
    out = log.open("a") if log else subprocess.PIPE
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, text=True,
                            stdout=out, stderr=subprocess.STDOUT if log else None,
                            preexec_fn=(lambda: os.nice(nice)) if nice else None)


def first_url(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    match = re.search(r"(http://\S+)", proc.stdout.readline())
    assert match, "emulator did not start"
    return match.group(1)


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


async def fresh_database() -> str:
    import asyncpg

    name = f"pinbot_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(POSTGRES)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + "/" + name


class Load:
    def __init__(self, events_url: str, slack_url: str) -> None:
        self.events_url = events_url
        self.slack_url = slack_url.replace("/api/", "")
        self.verifier = SignatureVerifier(SIGNING)
        self.latencies: list[float] = []
        self.server: list[float] = []
        self.errors = 0

    async def post(self, http: aiohttp.ClientSession, body: str, content_type: str) -> None:
        ts = str(int(time.time()))
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": self.verifier.generate_signature(timestamp=ts,
                                                                          body=body)}
        start = time.perf_counter()
        async with http.post(self.events_url, data=body.encode(), headers=headers) as response:
            await response.read()
            self.latencies.append(time.perf_counter() - start)
            timing = response.headers.get("Server-Timing", "")
            if "dur=" in timing:
                self.server.append(float(timing.split("dur=")[1]) / 1000)
            if response.status != 200:
                self.errors += 1

    def event(self, file: dict[str, Any]) -> str:
        return json.dumps({
            "type": "event_callback", "team_id": "T0TEST", "api_app_id": "A0",
            "event_id": f"Ev{uuid.uuid4().hex[:16]}", "event_time": int(time.time()),
            "event": {"type": "file_shared", "file_id": file["id"],
                      "channel_id": file["channel"], "user_id": file["user"],
                      "file": {"id": file["id"]}, "event_ts": f"{time.time():.6f}"},
        })

    def command(self, text: str, command: str) -> str:
        return urlencode({
            "team_id": "T0TEST", "channel_id": "C0GENERAL", "user_id": "UALICE",
            "command": command, "text": text, "api_app_id": "A0",
            "response_url": f"{self.slack_url}/response/none", "trigger_id": "1.2.3",
        })


async def run_mode(mode: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    # The emulators stand in for Slack and W3IPFS, which in production are not on the bot's
    # machine: they run at lower CPU priority so they take what the bot leaves.
    slack = spawn(["pinbot.emulators.slack"], nice=args.emulator_nice)
    w3ipfs = spawn(["pinbot.emulators.w3ipfs", "--key", KEY, "--secret", SECRET],
                   nice=args.emulator_nice)
    bot_procs: list[subprocess.Popen[str]] = []
    try:
        slack_api, w3ipfs_api = first_url(slack), first_url(w3ipfs)
        port = free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("W3IPFS_", "SLACK_", "PINBOT_"))}
        env.update({
            "PYTHONPATH": str(ROOT), "W3IPFS_API_URL": w3ipfs_api, "W3IPFS_API_KEY": KEY,
            "W3IPFS_SECRET_KEY": SECRET, "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING, "SLACK_API_URL": slack_api,
            "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1", "PINBOT_HOST": "127.0.0.1",
            "PINBOT_PORT": str(port), "PINBOT_CONCURRENCY": "4", "PINBOT_LOG_LEVEL": "WARNING",
            "PINBOT_DATABASE_URL": await fresh_database(),
        })
        if mode == "redis":
            import redis

            redis.from_url(REDIS).flushdb()
            env["PINBOT_REDIS_URL"] = REDIS
        log = workdir / f"{mode}.log"
        bot_procs.append(spawn(["bot.cli", "serve"], env, log))
        if mode == "redis":
            bot_procs += [spawn(["bot.cli", "worker"], env, log) for _ in range(2)]
        async with httpx.AsyncClient(timeout=60,
                                     limits=httpx.Limits(max_connections=60)) as http:
            for _ in range(200):
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5 if mode == "redis" else 0.2)  # workers connect
            base = slack_api.replace("/api/", "")

            async def add(name: str, size: int, channel: str) -> dict[str, Any]:
                r = await http.post(f"{base}/_emulator/files",
                                    json={"name": name, "size": size, "channel": channel})
                return dict(r.json())

            large = [await add(f"large-{i}.iso", args.large_mib * MiB, "C0LARGE")
                     for i in range(4)]
            small = [await add(f"small-{i:03d}.bin", MiB, f"C0CH{i % 8}")
                     for i in range(args.files)]
            load = Load(f"http://127.0.0.1:{port}/slack/events", slack_api)
            bodies: list[tuple[str, str]] = [
                (load.event(f), "application/json") for f in small
            ] + [
                (load.command(*random.choice([("", "/pins"), ("mine", "/pins"),
                                              ("help", "/pin")])),
                 "application/x-www-form-urlencoded")
                for _ in range(args.commands)
            ]
            random.shuffle(bodies)
            sem = asyncio.Semaphore(args.concurrency)
            session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=args.concurrency))

            async def one(body: str, ctype: str) -> None:
                async with sem:
                    await load.post(session, body, ctype)

            start = time.perf_counter()
            for f in large:
                await load.post(session, load.event(f), "application/json")
            await asyncio.gather(*(one(b, c) for b, c in bodies))
            await session.close()
            acked = time.perf_counter() - start
            expected = len(small) + len(large)
            summary: dict[str, Any] = {}
            while time.perf_counter() - start < args.timeout:
                summary = (await http.get(f"{base}/_emulator/summary")).json()
                if summary["verified"] + summary["failed"] >= expected:
                    break
                await asyncio.sleep(0.2)
            done = time.perf_counter() - start
            pins = (await http.get(f"{w3ipfs_api.replace('/api', '')}/_emulator/pins")
                    ).json()["data"]
        if os.environ.get("PINBOT_BENCH_DEBUG"):
            print("first 60 ms:", [round(x * 1000) for x in load.latencies[:60]])
            worst = sorted(range(len(load.latencies)), key=lambda i: -load.latencies[i])[:15]
            print("worst at positions:", sorted(worst))
        lat = sorted(load.latencies)
        app = sorted(load.server) or [0.0]
        return {
            "app_p50": statistics.median(app) * 1000,
            "app_p99": app[max(0, int(len(app) * 0.99) - 1)] * 1000,
            "mode": "in-process" if mode == "local" else "2 workers (Redis)",
            "p50": statistics.median(lat) * 1000,
            "p99": lat[int(len(lat) * 0.99) - 1] * 1000,
            "max": lat[-1] * 1000,
            "requests": len(lat), "errors": load.errors, "acked_s": acked,
            "all_pinned_s": done, "files": expected, "pins": pins["count"],
            "verified": summary.get("verified"), "failed": summary.get("failed"),
            "rss": [round(peak_rss_mib(p.pid), 1) for p in bot_procs],
        }
    finally:
        for proc in bot_procs:
            proc.send_signal(signal.SIGTERM)
        for proc in bot_procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        slack.terminate()
        w3ipfs.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--large-mib", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--modes", default="local,redis")
    parser.add_argument("--emulator-nice", type=int, default=10,
                        help="CPU niceness of the emulator processes (0: same as the bot)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pinbot-load-"))
    print(f"{args.files} file_shared (1 MiB) + {args.commands} commands at concurrency "
          f"{args.concurrency}, while 4 x {args.large_mib} MiB stream; python "
          f"{platform.python_version()}, {os.cpu_count()} cores; logs in {workdir}")
    print(f"{'mode':<18} {'ack p50':>8} {'p99':>8} {'max':>8} {'app p50':>8} {'app p99':>8} "
          f"{'errors':>6} {'all pinned':>10} {'pins/files':>10} {'peak RSS MiB':>20}")
    for mode in args.modes.split(","):
        r = asyncio.run(run_mode(mode, args, workdir))
        print(f"{r['mode']:<18} {r['p50']:6.1f}ms {r['p99']:6.1f}ms {r['max']:6.0f}ms "
              f"{r['app_p50']:6.1f}ms {r['app_p99']:6.1f}ms "
              f"{r['errors']:>6} {r['all_pinned_s']:9.1f}s {r['pins']:>4}/{r['files']:<5} "
              f"{', '.join(map(str, r['rss'])):>20}")
        if r["failed"]:
            print(f"  {r['failed']} files reported failed; see {workdir}/{mode}.log")


if __name__ == "__main__":
    main()
