"""Benchmark: stream a generated file through W3IPFSClient.pin_file, beside curl.

Endpoints, each its own process on 127.0.0.1:
  (a) the W3IPFS emulator (hashes every byte into a real CID), and
  (b) a discard sink (the emulator with --discard: reads and drops the body), so the
      emulator's own hashing does not cap the figure.
For each, the same file is uploaded by `curl -F file=@PATH` (the baseline) and by the client.
Prints MB/s for each, the client/curl ratios, and the client's peak RSS growth during the upload.

    python bench/stream_pin.py                 # 256 MiB
    python bench/stream_pin.py --size 1024     # 1 GiB
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _measure import reset_peak, rss_kib  # noqa: E402

from bot.cid import StreamingCID  # noqa: E402
from bot.w3ipfs import RetryPolicy, W3IPFSClient  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"
MiB = 1024 * 1024


def make_file(path: Path, size_mib: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as fh:
        for i in range(size_mib):
            fh.write(i.to_bytes(8, "little") + block[8:])


def start_server(discard: bool) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "pinbot.emulators.w3ipfs", "--key", KEY, "--secret", SECRET]
    if discard:
        args.append("--discard")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"(http://\S+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, match.group(1)


def curl_upload(url: str, path: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        [
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
            "-H", f"pinning_api_key: {KEY}", "-H", f"pinning_secret_key: {SECRET}",
            "-H", "Expect:",  # no 100-continue round trip, as the client does not use one
            "-F", f"file=@{path}", f"{url}/pinning/",
        ],
        check=True, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    if out.stdout.strip() != "201":
        raise RuntimeError(f"curl upload failed: HTTP {out.stdout}")
    return elapsed


async def client_upload(url: str, path: Path, verify: bool) -> tuple[float, int]:
    async with W3IPFSClient(url, KEY, SECRET, retry=RetryPolicy(max_retries=0)) as client:
        await client.test_authentication()  # warm the connection pool
        hasher = StreamingCID() if verify else None
        baseline = rss_kib("VmRSS")
        reset_peak()
        start = time.perf_counter()
        pin = await client.pin_file(
            path, path.name, on_chunk=hasher.update if hasher else None
        )
        elapsed = time.perf_counter() - start
        growth = rss_kib("VmHWM") - baseline
        if hasher is not None and not pin.cid.startswith("bafkreihdwdcef"):
            assert hasher.finalize() == pin.cid, "CID mismatch"
    return elapsed, growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256, help="file size in MiB (max 1024)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--dir", default=None, help="where to write the test file")
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baseline")
    size = args.size * MiB
    workdir = Path(tempfile.mkdtemp(prefix="pinbot-bench-", dir=args.dir))
    path = workdir / f"bench-{args.size}MiB.bin"
    try:
        make_file(path, args.size)
        print(
            f"file: {args.size} MiB, runs: {args.runs} (median), "
            f"python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
        )
        print(f"{'endpoint':<10} {'uploader':<16} {'MB/s':>8} {'vs curl':>8} {'RSS growth':>11}")
        for label, discard in (("emulator", False), ("discard", True)):
            proc, url = start_server(discard)
            try:
                curl_rate = statistics.median(
                    size / 1e6 / curl_upload(url, path) for _ in range(args.runs)
                )
                print(f"{label:<10} {'curl -F':<16} {curl_rate:8.0f} {'1.00x':>8} {'-':>11}")
                for name, verify in (("pinbot client", False), ("client+CID", True)):
                    results = [
                        asyncio.run(client_upload(url, path, verify)) for _ in range(args.runs)
                    ]
                    rate = statistics.median(size / 1e6 / t for t, _ in results)
                    growth_mib = max(g for _, g in results) / 1024
                    print(f"{label:<10} {name:<16} {rate:8.0f} {rate / curl_rate:7.2f}x"
                          f" {growth_mib:8.1f} MiB")
            finally:
                proc.terminate()
                proc.wait(timeout=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
