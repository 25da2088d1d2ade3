"""The anchor of bench/share_pin.py: the least a program can do to move the bytes.

    python bench/_relay.py DOWNLOAD_URL SINK_API_URL SIZE

aiohttp GET, `iter_chunked(1 MiB)` -> aiohttp POST of an async generator framed by hand as
multipart/form-data (exact Content-Length), no hashing, no bookkeeping. Runs in its own process
so its CPU time is its own; prints one JSON line: {"start", "cpu"} (epoch start; CPU seconds
of this process from the request to the sink's answer). The bench reads the end time from
the sink, as it does for the bot.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import AsyncIterator

import aiohttp

KEY, SECRET, TOKEN = "bench-key", "bench-secret", "xoxb-test-token"
MiB = 1024 * 1024


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def relay(download_url: str, sink: str, size: int) -> dict[str, float]:
    keys = {"pinning_api_key": KEY, "pinning_secret_key": SECRET}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sink}/apiKeys/testAuthentication", headers=keys) as warm:
            await warm.read()  # a pooled connection, as a running bot has
        start, cpu0 = time.time(), cpu()
        async with session.get(download_url,
                               headers={"Authorization": f"Bearer {TOKEN}"}) as source:
            boundary = "relayboundary"
            head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
            tail = f"\r\n--{boundary}--\r\n".encode()

            async def body() -> AsyncIterator[bytes]:
                yield head
                async for chunk in source.content.iter_chunked(MiB):
                    yield chunk
                yield tail

            async with session.post(
                f"{sink}/pinning/", data=body(),
                headers={**keys, "Content-Type": f"multipart/form-data; boundary={boundary}",
                         "Content-Length": str(len(head) + size + len(tail))},
            ) as response:
                await response.read()
                assert response.status == 201, response.status
        return {"start": start, "cpu": cpu() - cpu0}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(relay(sys.argv[1], sys.argv[2], int(sys.argv[3])))))
