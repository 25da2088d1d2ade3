"""The far ends of a benchmark, run as separate (niced) processes: Slack and the pinning API.

    python bench/_endpoints.py slack FILES_DIR   # Slack emulator + a sendfile file server
    python bench/_endpoints.py sink              # W3IPFS emulator that discards uploads
    python bench/_endpoints.py sink --hash       # the same, computing real CIDs

Each prints its base URL on the first line. Besides the emulators' own routes they answer:
  slack: POST /_bench/share {"name", "size", "channel"?} -> a shared file whose download is
         FILES_DIR/name served with sendfile (aiohttp FileResponse), not generated in Python;
         GET /_bench/calls -> Slack API call counts by method, and for each bench file the
         time (epoch s) of the first card that names it with a CID.
  sink:  GET /_emulator/bench_pins?n=K -> waits until K pins were made; the epoch time the K-th was.
The times let the bench stop its clock when the bytes are at the sink (or the card is up)
rather than when a process notices.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pinbot.emulators.slack import SlackEmulator  # noqa: E402
from pinbot.emulators.w3ipfs import W3IPFSEmulator  # noqa: E402

KEY, SECRET = "bench-key", "bench-secret"
CARD_METHODS = ("chat.update", "chat.postMessage")


class TimedCalls(list):  # type: ignore[type-arg]
    """The emulator's call log, with the time of each call beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, call: Any) -> None:
        self.times.append(time.time())
        super().append(call)


async def serve_slack(files_dir: Path) -> None:
    emulator = SlackEmulator()  # its default token is the bench's
    calls = TimedCalls()
    emulator.calls = calls
    names: dict[str, None] = {}
    files = web.Application()

    async def send(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(files_dir / request.match_info["name"])

    files.router.add_get("/{name}", send)
    runner = web.AppRunner(files, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    files_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def share(request: web.Request) -> web.Response:
        body = await request.json()
        name = str(body["name"])
        file_name = str(body.get("as", name))
        fake = emulator.add_file(
            file_name, size=int(body["size"]), channel=str(body.get("channel", "C0GENERAL")),
            download_url=f"http://127.0.0.1:{files_port}/{name}")
        names[file_name] = None
        return web.json_response({"id": fake.id, "channel": fake.channel, "user": fake.user})

    async def calls_view(request: web.Request) -> web.Response:
        counts: dict[str, int] = {}
        cards: dict[str, float] = {}
        for call, at in zip(list(calls), list(calls.times), strict=True):
            counts[call.method] = counts.get(call.method, 0) + 1
            if call.method in CARD_METHODS:
                text = json.dumps(call.args.get("blocks") or call.args.get("text") or "")
                if "bafk" in text or "bafy" in text:
                    for name in names:
                        if name in text and name not in cards:
                            cards[name] = at
        return web.json_response({"counts": counts, "cards": cards})

    emulator.app.router.add_post("/_bench/share", share)
    emulator.app.router.add_get("/_bench/calls", calls_view)
    await emulator.start()
    print(emulator.api_url, flush=True)
    await asyncio.Event().wait()


async def serve_sink(discard: bool) -> None:
    emulator = W3IPFSEmulator({KEY: SECRET}, discard=discard)
    made: list[float] = []
    changed = asyncio.Event()
    new_pin = emulator._new_pin

    def timed(*args: Any, **kwargs: Any) -> dict[str, Any]:
        made.append(time.time())
        changed.set()
        return new_pin(*args, **kwargs)

    emulator._new_pin = timed  # type: ignore[method-assign]

    async def pins(request: web.Request) -> web.Response:
        wanted = int(request.query["n"])
        while len(made) < wanted:
            changed.clear()
            await changed.wait()
        return web.json_response({"t": made[wanted - 1], "count": len(made)})

    emulator.app.router.add_get("/_emulator/bench_pins", pins)
    print(await emulator.start(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    if sys.argv[1] == "slack":
        asyncio.run(serve_slack(Path(sys.argv[2])))
    else:
        asyncio.run(serve_sink(discard="--hash" not in sys.argv))
