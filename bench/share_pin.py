"""Benchmark: a shared file end to end (event -> bytes at the service), beside a bare relay.

Processes on 127.0.0.1: the Slack emulator (serves a generated file), a discard sink (the
W3IPFS emulator with --discard: reads and drops uploads), and this one, which runs
  (a) the real app: a signed `file_shared` event -> files.info -> download -> pin_file with
      CID verification -> discard sink; timed from the event to the end of the job, and
  (b) a minimal relay: aiohttp download (iter_chunked, 1 MiB) -> httpx streaming upload to the
      same sink, nothing else.
Prints MB/s for each, the ratio, and peak RSS growth.

    python bench/share_pin.py            # 256 MiB
    python bench/share_pin.py --size 1024
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import httpx
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _measure import reset_peak, rss_kib  # noqa: E402

from bot.server import build_web_app  # noqa: E402
from bot.services import Services  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from handlers import register_all  # noqa: E402

KEY, SECRET, TOKEN, SIGNING = "bench-key", "bench-secret", "xoxb-test-token", "bench-signing"
MiB = 1024 * 1024


def spawn(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline()]
    if "--file-mib" in args:
        lines.append(proc.stdout.readline())
    return proc, lines


async def run_bot(slack_api: str, sink: str, file_id: str, channel: str, size: int) -> float:
    os.environ.update({
        "W3IPFS_API_URL": sink, "W3IPFS_API_KEY": KEY, "W3IPFS_SECRET_KEY": SECRET,
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SIGNING, "SLACK_API_URL": slack_api,
        "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1", "PINBOT_MAX_FILE_MB": "2048",
        "PINBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db",
    })
    settings = load_settings()
    services = await Services.create(settings)
    runner = web.AppRunner(build_web_app(settings, services, register_all), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    body = json.dumps({
        "type": "event_callback", "team_id": "T0TEST", "api_app_id": "A0",
        "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()),
        "event": {"type": "file_shared", "file_id": file_id, "channel_id": channel,
                  "user_id": "UALICE", "file": {"id": file_id}, "event_ts": "1.0"},
    })
    ts = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
               "X-Slack-Signature": SignatureVerifier(SIGNING).generate_signature(
                   timestamp=ts, body=body)}
    async with httpx.AsyncClient() as http:
        # Warm-up: auth.test and connection pools, as in a running bot.
        await services.w3ipfs.test_authentication()
        start = time.perf_counter()
        response = await http.post(f"http://127.0.0.1:{port}/slack/events", content=body,
                                   headers=headers)
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.01)
        await services.jobs.join()
        elapsed = time.perf_counter() - start
    await runner.cleanup()
    return elapsed


async def run_relay(download_url: str, sink: str, size: int) -> float:
    async with aiohttp.ClientSession() as session, httpx.AsyncClient(timeout=600) as http:
        await http.get(f"{sink}/apiKeys/testAuthentication",
                       headers={"pinning_api_key": KEY, "pinning_secret_key": SECRET})
        start = time.perf_counter()
        async with session.get(download_url, headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            boundary = "relayboundary"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
            tail = f"\r\n--{boundary}--\r\n".encode()

            async def body() -> AsyncIterator[bytes]:
                yield head
                async for chunk in r.content.iter_chunked(MiB):
                    yield chunk
                yield tail

            response = await http.post(
                f"{sink}/pinning/", content=body(),
                headers={"pinning_api_key": KEY, "pinning_secret_key": SECRET,
                         "Content-Type": f"multipart/form-data; boundary={boundary}",
                         "Content-Length": str(len(head) + size + len(tail))},
            )
            assert response.status_code == 201, response.text
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256, help="file size in MiB")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    # The discard sink reports a placeholder CID, so every run "fails" verification: quiet that.
    logging.basicConfig(level=logging.ERROR)
    size = args.size * MiB
    slack, lines = spawn(["pinbot.emulators.slack", "--file-mib", str(args.size)])
    sink, sink_lines = spawn(["pinbot.emulators.w3ipfs", "--discard", "--key", KEY,
                              "--secret", SECRET])
    try:
        slack_api = re.search(r"(http://\S+)", lines[0]).group(1)  # type: ignore[union-attr]
        _, file_id, channel, url = lines[1].split()
        sink_url = re.search(r"(http://\S+)", sink_lines[0]).group(1)  # type: ignore[union-attr]
        print(f"file: {args.size} MiB, runs: {args.runs} (median), python "
              f"{platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}")
        relay = [asyncio.run(run_relay(url, sink_url, size)) for _ in range(args.runs)]
        relay_rate = statistics.median(size / 1e6 / t for t in relay)
        print(f"{'relay (aiohttp -> httpx)':<34} {relay_rate:8.0f} MB/s  1.00x")
        rates, growths = [], []
        for i in range(args.runs):
            baseline = rss_kib("VmRSS")
            reset_peak()
            os.environ["PINBOT_RUN"] = str(i)
            elapsed = asyncio.run(run_bot(slack_api, sink_url, file_id, channel, size))
            growths.append((rss_kib("VmHWM") - baseline) / 1024)
            rates.append(size / 1e6 / elapsed)
        rate = statistics.median(rates)
        print(f"{'pinbot event -> pin (CID verify)':<34} {rate:8.0f} MB/s  {rate / relay_rate:.2f}x"
              f"   peak RSS growth {max(growths):.1f} MiB")
    finally:
        slack.terminate()
        sink.terminate()


if __name__ == "__main__":
    main()
