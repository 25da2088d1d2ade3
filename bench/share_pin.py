"""Benchmark: a shared file end to end (signed event -> bytes at the sink) beside a bare relay.

Separate processes on 127.0.0.1, the far ends at lower CPU priority (`--emulator-nice`), as
Slack and the pinning service are not on the bot's machine in production:
  - `bench/_endpoints.py slack`: the Slack emulator; the file's download is a disk file served
    with sendfile (aiohttp FileResponse);
  - `bench/_endpoints.py sink`: the W3IPFS emulator with --discard (reads and drops uploads,
    hashes nothing);
  - `pinbot serve` (the real app, SQLite ledger): a signed `file_shared` event -> files.info ->
    download -> upload with CID hashing -> sink; clock stopped when the sink has the bytes;
  - `bench/_relay.py`, the anchor: aiohttp GET `iter_chunked(1 MiB)` -> aiohttp POST of an
    async generator with hand-framed multipart, nothing else; same source, same sink.
Relay and bot alternate (`--runs` pairs, order swapped each pair); medians are reported.
Also: CPU seconds per GiB of the bot process (event to card), of the relay process, and of
CID hashing alone over the same bytes (in this process); bot / (relay + hashing); the bot's
peak RSS growth during the run.

    python bench/share_pin.py                  # 256 MiB, 3 pairs
    python bench/share_pin.py --size 1024 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _procs import (  # noqa: E402
    bot_env,
    cpu_seconds,
    file_shared,
    first_line,
    free_port,
    reset_peak,
    spawn,
    status_kib,
    stop,
    wait_healthy,
)

from bot.cid import StreamingCID  # noqa: E402

MiB, GiB = 1024 * 1024, 1024 ** 3


def write_file(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as fh:
        for i in range(0, size, MiB):
            # Vary every block so no layer can take a shortcut on repeated data.
            fh.write((i // MiB).to_bytes(8, "little") + block[8 : min(MiB, size - i)])


def hash_cpu(path: Path) -> float:
    """CPU seconds CID hashing alone takes over the file's bytes (1 MiB chunks)."""
    hasher, spent = StreamingCID(), 0.0
    with path.open("rb") as fh:
        while chunk := fh.read(MiB):
            started = time.thread_time()
            hasher.update(chunk)
            spent += time.thread_time() - started
    started = time.thread_time()
    hasher.finalize()
    return spent + time.thread_time() - started


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.size = args.size * MiB
        self.http = httpx.Client(timeout=600)
        self.pins = 0
        self.procs: list[Any] = []

    def start(self) -> None:
        nice = self.args.emulator_nice
        slack = spawn(["bench/_endpoints.py", "slack", str(self.workdir)], nice=nice)
        sink = spawn(["bench/_endpoints.py", "sink"], nice=nice)
        self.procs += [slack, sink]
        self.slack_api, self.sink_api = first_line(slack), first_line(sink)
        self.slack_base = self.slack_api.removesuffix("/api/")
        self.sink_base = self.sink_api.removesuffix("/api")
        self.port = free_port()
        env = bot_env(self.slack_api, self.sink_api, self.port,
                      f"sqlite+aiosqlite:///{self.workdir}/bench.db")
        self.bot = spawn(["-m", "pinbot", "serve"], env=env, log=self.workdir / "bot.log")
        self.procs.append(self.bot)
        wait_healthy(self.port)

    def share(self, name: str, as_name: str) -> dict[str, str]:
        response = self.http.post(f"{self.slack_base}/_bench/share",
                                  json={"name": name, "as": as_name,
                                        "size": (self.workdir / name).stat().st_size})
        return dict(response.json())

    def sink_time(self) -> float:
        self.pins += 1
        return float(self.http.get(f"{self.sink_base}/_emulator/bench_pins",
                                   params={"n": self.pins}).json()["t"])

    def card_time(self, name: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            cards = self.http.get(f"{self.slack_base}/_bench/calls").json()["cards"]
            if name in cards:
                return float(cards[name])
            time.sleep(0.05)
        raise RuntimeError(f"no card for {name}; see {self.workdir}/bot.log")

    def run_bot(self, name: str, as_name: str) -> dict[str, float]:
        file = self.share(name, as_name)
        pid = self.bot.pid
        body, headers = file_shared(file)
        reset_peak(pid)
        rss0, cpu0 = status_kib(pid, "VmRSS"), cpu_seconds(pid)
        start = time.time()
        response = self.http.post(f"http://127.0.0.1:{self.port}/slack/events", content=body,
                                  headers=headers)
        assert response.status_code == 200, response.text
        end = self.sink_time()
        card = self.card_time(as_name)
        time.sleep(0.05)  # the job's last writes after the card
        return {"seconds": end - start, "card": card - start, "cpu": cpu_seconds(pid) - cpu0,
                "rss_growth": (status_kib(pid, "VmHWM") - rss0) / 1024}

    def run_relay(self, name: str) -> dict[str, float]:
        relay = spawn(["bench/_relay.py", f"http://127.0.0.1:{self.file_port()}/{name}",
                       self.sink_api, str((self.workdir / name).stat().st_size)])
        out, _ = relay.communicate(timeout=600)
        result = json.loads(out.strip().splitlines()[-1])
        end = self.sink_time()
        return {"seconds": end - result["start"], "cpu": result["cpu"]}

    def file_port(self) -> int:
        if not hasattr(self, "_file_port"):
            probe = self.share("small.bin", "probe.bin")
            info = self.http.post(f"{self.slack_api}files.info", data={"file": probe["id"]},
                                  headers={"Authorization": "Bearer xoxb-test-token"}).json()
            url = info["file"]["url_private_download"]
            self._file_port = int(url.split(":")[2].split("/")[0])
        return self._file_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=256, help="file size in MiB (<= 1024)")
    parser.add_argument("--runs", type=int, default=3, help="alternated relay/bot pairs")
    parser.add_argument("--emulator-nice", type=int, default=10)
    args = parser.parse_args()
    if not 1 <= args.size <= 1024:
        parser.error("--size is 1 to 1024 MiB")
    workdir = Path(tempfile.mkdtemp(prefix="pinbot-share-pin-"))
    write_file(workdir / "big.bin", args.size * MiB)
    write_file(workdir / "small.bin", MiB)
    bench = Bench(args, workdir)
    try:
        bench.start()
        # Warm-up: pools, imports, the database, the page cache.
        bench.run_bot("small.bin", "warm.bin")
        bench.run_relay("small.bin")
        hash_cpu(workdir / "big.bin")
        print(f"file {args.size} MiB, {args.runs} alternated pairs, python "
              f"{platform.python_version()}, {os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.2f}; logs in {workdir}")
        relays, bots, hashes = [], [], []
        for i in range(args.runs):
            for which in (("relay", "bot") if i % 2 == 0 else ("bot", "relay")):
                if which == "relay":
                    relays.append(bench.run_relay("big.bin"))
                else:
                    bots.append(bench.run_bot("big.bin", f"big-{i}.bin"))
            hashes.append(hash_cpu(workdir / "big.bin"))
            r, b = relays[-1], bots[-1]
            print(f"  pair {i + 1}: relay {bench.size / 1e6 / r['seconds']:6.0f} MB/s "
                  f"{r['cpu']:.2f} s CPU | bot {bench.size / 1e6 / b['seconds']:6.0f} MB/s "
                  f"(card {b['card']:.2f} s) {b['cpu']:.2f} s CPU, RSS +{b['rss_growth']:.1f} "
                  f"MiB | hash {hashes[-1]:.2f} s CPU", flush=True)
        gib = bench.size / GiB
        relay_rate = statistics.median(bench.size / 1e6 / r["seconds"] for r in relays)
        bot_rate = statistics.median(bench.size / 1e6 / b["seconds"] for b in bots)
        relay_cpu = statistics.median(r["cpu"] for r in relays) / gib
        bot_cpu = statistics.median(b["cpu"] for b in bots) / gib
        hash_gib = statistics.median(hashes) / gib
        print(f"{'relay (aiohttp -> aiohttp)':<32} {relay_rate:7.0f} MB/s  1.00x   "
              f"CPU {relay_cpu:.2f} s/GiB")
        print(f"{'pinbot, event -> sink, CID':<32} {bot_rate:7.0f} MB/s  "
              f"{bot_rate / relay_rate:.2f}x   CPU {bot_cpu:.2f} s/GiB")
        print(f"{'CID hashing alone':<32} {'':>12}           CPU {hash_gib:.2f} s/GiB")
        print(f"bot CPU / (relay + hashing): {bot_cpu / (relay_cpu + hash_gib):.2f}x;  "
              f"bot peak RSS growth {max(b['rss_growth'] for b in bots):.1f} MiB (max of runs)")
    finally:
        stop(bench.procs)
        for data in ("big.bin", "small.bin"):  # up to 1 GiB; the logs stay for reading
            (workdir / data).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
