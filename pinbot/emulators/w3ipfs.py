"""A faithful W3IPFS pinning API emulator: an aiohttp server on 127.0.0.1.

It implements the whole documented contract (see ../shared/reference/w3ipfs-pinning-api.txt)
and the field notes' observed behaviour: both key headers checked (401 otherwise), 201 on
upload, multipart parsed as a stream, real kubo-compatible CIDv1 of the received bytes (raw
leaves, 256 KiB chunks; a directory upload gets the UnixFS directory CID), pin-by-hash, details,
list with offset/limit/pinned/sortBy/sortOrder/metadata and totals, unpin, 404 for unknown ids.

Tests switch faults on with `inject()` (or `POST /_emulator/faults` when run as a process):
the next N matching requests fail with 500 / 429 + Retry-After / a hang / an HTML page /
a connection reset / a truncated body / a non-JSON body / a `status: error` body / 401 /
`late` (the request takes effect — the pin is stored — but the answer comes `hang_seconds`
later, after a client's timeout) / `store_then_500` (stored, then a 500 is answered).

Run it for local development::

    python -m pinbot.emulators.w3ipfs --port 8089 --key dev --secret dev
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aleph_cid import hash_folder

from bot.cid import InvalidCIDError, StreamingCID, parse_cid

ZERO_TIME = "0001-01-01T00:00:00Z"
#: What `GET /gateways/` lists for an account no test configured: the public gateway only.
PUBLIC_GATEWAY = {"name": "AIOZ Pin public gateway", "host": "gateway.w3ipfs.aioz.network",
                  "type": "Public", "bandwidth": 0, "operation": "Running", "active": True}
AUTH_MESSAGE = "Congratulations! You are communicating with the Web3 IPFS API!"
FAULT_KINDS = {
    "500", "502", "503", "429", "401", "hang", "html", "reset", "truncated", "bad_json",
    "error_status", "empty", "late", "store_then_500",
}


@dataclass
class Fault:
    kind: str
    remaining: int = 1
    path: str | None = None  # only requests whose path starts with this (after /api)
    method: str | None = None
    retry_after: str = "1"
    hang_seconds: float = 30.0

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path is None or path.startswith(self.path)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body_bytes: int = 0
    part_names: list[str] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)


RECORD = web.RequestKey("record", RecordedRequest)
ACCOUNT = web.RequestKey("account", str)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _json(data: Any, status: int = 200, **headers: str) -> web.Response:
    return web.json_response(data, status=status, headers=headers or None)


def _error(status: int, message: str, **headers: str) -> web.Response:
    return _json({"status": "error", "message": message}, status, **headers)


class W3IPFSEmulator:
    """The emulator. `await start()` returns the API base URL (ending in `/api`)."""

    def __init__(
        self,
        accounts: dict[str, str] | None = None,
        *,
        discard: bool = False,
        initial_status: str = "DONE",
        pinning_reads: int = 0,
        max_upload_bytes: int | None = None,
        temp_dir: str | None = None,
    ) -> None:
        self.accounts: dict[str, str] = dict(accounts or {"test-key": "test-secret"})
        self.discard = discard
        self.initial_status = initial_status
        self.pinning_reads = pinning_reads
        self.max_upload_bytes = max_upload_bytes
        self.temp_dir = temp_dir
        #: When set, uploads report this CID instead of the real one (a misbehaving service).
        self.cid_override: str | None = None
        #: False: listings ignore `metadata=` (the filter is undocumented; a service may not
        #: honour it), so callers must not trust it to scope what they show.
        self.honour_metadata_filter = True
        #: Seconds to stall after each MiB of an upload (a slow link, for progress tests).
        self.throttle_upload = 0.0
        #: Random faults: this share of API requests fails with one of `fault_mix`.
        self.fault_rate = 0.0
        #: Behave like a service that ignores `&metadata=` on the list (unverified for real).
        self.ignore_metadata_filter = False
        self.fault_mix: list[str] = ["500", "429", "reset", "truncated"]
        self._random = random.Random(1234)
        self.faults_injected = 0
        self.pins: dict[str, list[dict[str, Any]]] = {}
        self.content_sizes: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        #: A service that ignores `offset` on the listing (every page is the first one).
        self.ignore_offset = False
        #: Per account (api key): the gateways `GET /gateways/` lists (see `set_gateways`).
        self.gateways: dict[str, list[dict[str, Any]]] = {}
        #: Per account: a whole response body that replaces the listing (junk, for tests).
        self.gateway_bodies: dict[str, Any] = {}
        self._reads_left: dict[str, int] = {}
        self._stop = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.app = self._build_app()

    # -- control -------------------------------------------------------------------------

    def inject(self, kind: str, count: int = 1, **options: Any) -> Fault:
        """Make the next `count` matching requests fail in the given way."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {sorted(FAULT_KINDS)}")
        fault = Fault(kind=kind, remaining=count, **options)
        self.faults.append(fault)
        return fault

    def set_gateways(self, gateways: list[dict[str, Any]] | None = None, *,
                     body: Any = None, api_key: str | None = None) -> None:
        """What `GET /gateways/` answers for an account (default: the first one): `gateways`
        in the documented shape, or any JSON `body` instead (a service answering junk).
        Failures are ordinary faults: `inject("500", path="/gateways")`."""
        key = api_key or next(iter(self.accounts))
        self.gateways[key] = list(gateways or [])
        if body is None:
            self.gateway_bodies.pop(key, None)
        else:
            self.gateway_bodies[key] = body

    def reset(self) -> None:
        self.gateways.clear()
        self.gateway_bodies.clear()
        self.pins.clear()
        self.content_sizes.clear()
        self.requests.clear()
        self.faults.clear()
        self._reads_left.clear()

    def api_requests(self, method: str | None = None, path: str | None = None) -> list[
        RecordedRequest
    ]:
        return [
            r for r in self.requests
            if (method is None or r.method == method) and (path is None or r.path.startswith(path))
        ]

    def all_pins(self, api_key: str | None = None) -> list[dict[str, Any]]:
        key = api_key or next(iter(self.accounts))
        return list(self.pins.get(key, []))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None
        sock = server.sockets[0]  # type: ignore[attr-defined]
        self.port = sock.getsockname()[1]
        self.base_url = f"http://{host}:{self.port}/api"
        return self.base_url

    async def stop(self) -> None:
        self._stop.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- plumbing ------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_get("/api/apiKeys/testAuthentication", self.test_authentication)
        r.add_post("/api/pinning/", self.pin_file)
        r.add_post("/api/pinning", self.pin_file)
        r.add_post("/api/pinning/pinByHash", self.pin_by_hash)
        r.add_get("/api/pinning/pins/", self.list_pins)
        r.add_get("/api/pinning/pins", self.list_pins)
        r.add_delete("/api/pinning/unpin/{pin_id}", self.unpin)
        r.add_get("/api/pinning/{pin_id}", self.get_pin)
        r.add_get("/api/gateways/", self.list_gateways)
        r.add_get("/api/gateways", self.list_gateways)
        r.add_post("/_emulator/faults", self._ctl_faults)
        r.add_post("/_emulator/reset", self._ctl_reset)
        r.add_get("/_emulator/requests", self._ctl_requests)
        r.add_get("/_emulator/pins", self._ctl_pins)
        r.add_post("/_emulator/accounts", self._ctl_accounts)
        r.add_post("/_emulator/gateways", self._ctl_gateways)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/_emulator/"):
            return await handler(request)  # type: ignore[no-any-return]
        record = RecordedRequest(
            method=request.method,
            path=request.raw_path.split("?", 1)[0].removeprefix("/api"),
            query=dict(request.query),
            headers=dict(request.headers),
        )
        self.requests.append(record)
        request[RECORD] = record
        fault = self._take_fault(request.method, record.path)
        if fault is not None and fault.kind not in ("late", "store_then_500"):
            return await self._apply_fault(fault, request)
        key = request.headers.get("pinning_api_key")
        secret = request.headers.get("pinning_secret_key")
        if key is None or secret is None or self.accounts.get(key) != secret:
            await _drain(request)
            return _error(401, "Unauthorized: invalid pinning_api_key or pinning_secret_key")
        request[ACCOUNT] = key
        response: web.StreamResponse = await handler(request)
        if fault is not None and fault.kind == "late":
            # The work is done; the answer is held back until the client has given up.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=fault.hang_seconds)
        elif fault is not None:
            return _error(500, "internal server error (after storing)")
        return response

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        if self.fault_rate and path.startswith("/pinning") and (
            self._random.random() < self.fault_rate
        ):
            self.faults_injected += 1
            return Fault(kind=self._random.choice(self.fault_mix), retry_after="1")
        return None

    async def _apply_fault(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        kind = fault.kind
        if kind == "reset":
            transport = request.transport
            if transport is not None:
                transport.abort()
            raise asyncio.CancelledError  # the connection is gone; nothing to answer
        if kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=fault.hang_seconds)
            return _error(504, "gateway timeout")
        await _drain(request)
        if kind in {"500", "502", "503"}:
            return _error(int(kind), "internal server error")
        if kind == "429":
            return _error(429, "Too Many Requests", **{"Retry-After": fault.retry_after})
        if kind == "401":
            return _error(401, "Unauthorized")
        if kind == "html":
            return web.Response(
                text="<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
                content_type="text/html",
            )
        if kind == "bad_json":
            return web.Response(text="{not json", content_type="application/json")
        if kind == "empty":
            return web.Response(body=b"", content_type="application/json")
        if kind == "error_status":
            return _json({"status": "error", "message": "something went wrong"})
        if kind == "truncated":
            body = json.dumps({"status": "success", "data": {"id": "x" * 200}}).encode()
            response = web.StreamResponse(status=200)
            response.content_type = "application/json"
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 3])
            transport = request.transport
            if transport is not None:
                transport.abort()
            return response
        raise AssertionError(kind)

    def _new_pin(
        self, account: str, cid: str, size: int, metadata: dict[str, Any], *, by_hash: bool,
        is_dir: bool = False,
    ) -> dict[str, Any]:
        pin: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "file_record_id": str(uuid.uuid4()),
            "root_hash": _root_hash(cid),
            "cid": cid,
            "size": size,
            "user_id": f"user-{account}",
            "date_pinned": _now(),
            "date_unpinned": ZERO_TIME,
            "pinned": True,
            "is_pin_by_hash": by_hash,
            "sub_hash_status": self.initial_status,
            "is_dir": is_dir,
            "metadata": metadata,
            "status": self.initial_status,
        }
        self.pins.setdefault(account, []).append(pin)
        if self.pinning_reads:
            pin["status"] = pin["sub_hash_status"] = "PINNING"
            self._reads_left[pin["id"]] = self.pinning_reads
        return pin

    def _find(self, account: str, pin_id: str) -> dict[str, Any] | None:
        for pin in self.pins.get(account, []):
            if pin["id"] == pin_id:
                return pin
        return None

    # -- the API -------------------------------------------------------------------------

    async def test_authentication(self, request: web.Request) -> web.Response:
        return _json({"message": AUTH_MESSAGE})

    async def pin_file(self, request: web.Request) -> web.Response:
        record: RecordedRequest = request[RECORD]
        if not request.content_type.startswith("multipart/"):
            await _drain(request)
            return _error(400, "expected multipart/form-data")
        if self.max_upload_bytes is not None and (request.content_length or 0) > (
            self.max_upload_bytes
        ):
            await _drain(request)
            return _error(413, "file too large")
        reader = await request.multipart()
        metadata: dict[str, Any] = {}
        files: list[tuple[str, str, int]] = []  # (filename, cid, size)
        dir_root: Path | None = None
        total = 0
        try:
            while True:
                part = await reader.next()
                if part is None:
                    break
                name = getattr(part, "name", None)
                record.part_names.append(str(name))
                if name == "metadata":
                    text = await part.text()  # type: ignore[union-attr]
                    try:
                        parsed = json.loads(text) if text.strip() else {}
                    except ValueError:
                        return _error(400, "metadata is not valid JSON")
                    if not isinstance(parsed, dict):
                        return _error(400, "metadata must be a JSON object")
                    metadata = parsed
                    continue
                if name != "file":
                    await part.release()
                    continue
                filename = part.filename or "file"  # type: ignore[union-attr]
                hasher = None if self.discard else StreamingCID()
                sink = None
                if "/" in filename.strip("/") and not self.discard:
                    if dir_root is None:
                        dir_root = Path(tempfile.mkdtemp(prefix="w3ipfs-dir-", dir=self.temp_dir))
                    rel = Path(filename.strip("/"))
                    if any(p in ("..", "") for p in rel.parts):
                        return _error(400, "bad file name")
                    target = dir_root / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    sink = target.open("wb")
                size = 0
                try:
                    while chunk := await part.read_chunk(1 << 20):  # type: ignore[union-attr]
                        size += len(chunk)
                        total += len(chunk)
                        if self.max_upload_bytes is not None and total > self.max_upload_bytes:
                            await _drain(request)
                            return _error(413, "file too large")
                        if hasher is not None:
                            hasher.update(chunk)
                        if self.throttle_upload:
                            await asyncio.sleep(self.throttle_upload * len(chunk) / (1 << 20))
                        if sink is not None:
                            sink.write(chunk)
                finally:
                    if sink is not None:
                        sink.close()
                cid = hasher.finalize() if hasher is not None else _DISCARD_CID
                files.append((filename, cid, size))
            record.body_bytes = total
            if not files:
                return _error(400, "file is required")
            account = request[ACCOUNT]
            is_dir = dir_root is not None
            if is_dir:
                assert dir_root is not None
                top = {Path(f[0].strip("/")).parts[0] for f in files}
                if len(top) != 1:
                    return _error(400, "all files of a directory must share one folder")
                (dirname,) = top
                cid = await asyncio.to_thread(hash_folder, dir_root / dirname, cid_version=1)
                metadata.setdefault("name", dirname)
            else:
                filename, cid, total = files[0] if len(files) == 1 else ("", "", 0)
                if len(files) != 1:
                    return _error(400, "several files must be sent as name dirname/path")
                metadata.setdefault("name", filename)
            self.content_sizes[cid] = total
            if self.cid_override:
                cid = self.cid_override
            pin = self._new_pin(account, cid, total, metadata, by_hash=False, is_dir=is_dir)
            return _json({"data": pin, "status": "success"}, 201)
        finally:
            if dir_root is not None:
                shutil.rmtree(dir_root, ignore_errors=True)

    async def pin_by_hash(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("hash_to_pin"), str):
            return _error(400, "hash_to_pin is required")
        cid = body["hash_to_pin"].strip()
        try:
            parse_cid(cid)
        except InvalidCIDError:
            return _error(400, "invalid cid")
        metadata = body.get("metadata") or {}
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _error(400, "metadata is not valid JSON")
        if not isinstance(metadata, dict):
            return _error(400, "metadata must be an object")
        metadata.setdefault("name", cid)
        size = self.content_sizes.get(cid, 0)
        pin = self._new_pin(request[ACCOUNT], cid, size, metadata, by_hash=True)
        return _json({"data": pin, "status": "success"})

    async def get_pin(self, request: web.Request) -> web.Response:
        pin = self._find(request[ACCOUNT], request.match_info["pin_id"])
        if pin is None:
            return _error(404, "pin not found")
        left = self._reads_left.get(pin["id"])
        if left is not None:
            if left <= 1:
                self._reads_left.pop(pin["id"])
                if pin["pinned"]:
                    pin["status"] = pin["sub_hash_status"] = "DONE"
            else:
                self._reads_left[pin["id"]] = left - 1
        return _json({"data": pin, "status": "success"})

    async def list_pins(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", "10"))
        except ValueError:
            return _error(400, "offset and limit must be integers")
        if offset < 0 or limit < 1 or limit > 1000:
            return _error(400, "offset must be >= 0 and 1 <= limit <= 1000")
        if self.ignore_offset:
            offset = 0
        pinned = q.get("pinned", "all").lower()
        if pinned not in {"all", "true", "false"}:
            return _error(400, "pinned must be one of all, true, false")
        sort_by = q.get("sortBy", "created_at")
        if sort_by not in {"created_at", "size", "name"}:
            return _error(400, "sortBy must be one of created_at, size, name")
        order = q.get("sortOrder", "DESC").upper()
        if order not in {"ASC", "DESC"}:
            return _error(400, "sortOrder must be ASC or DESC")
        wanted: dict[str, Any] = {}
        if "metadata" in q and not self.ignore_metadata_filter:
            try:
                wanted = json.loads(q["metadata"])
            except ValueError:
                return _error(400, "metadata must be JSON")
            if not isinstance(wanted, dict):
                return _error(400, "metadata must be a JSON object")
        pins = list(enumerate(self.pins.get(request[ACCOUNT], [])))
        if pinned != "all":
            pins = [(i, p) for i, p in pins if p["pinned"] == (pinned == "true")]
        if wanted and self.honour_metadata_filter:
            pins = [(i, p) for i, p in pins if _kv_match(p, wanted)]

        def key(item: tuple[int, dict[str, Any]]) -> Any:
            i, p = item
            if sort_by == "size":
                return (p["size"], i)
            if sort_by == "name":
                return (str(p["metadata"].get("name") or "").lower(), i)
            return (p["date_pinned"], i)

        pins.sort(key=key, reverse=order == "DESC")
        page = [p for _, p in pins[offset : offset + limit]]
        totals = {"files": len(pins), "size": sum(p["size"] for _, p in pins)}
        return _json({"data": {"totals": totals, "pins": page}, "status": "success"})

    async def list_gateways(self, request: web.Request) -> web.Response:
        """The account's public and dedicated gateways (vendor docs, w3ipfs-api/gateways.md):
        `type` filters (Public, Dedicated, all), `offset`/`limit` page (default 10)."""
        account = request[ACCOUNT]
        if account in self.gateway_bodies:
            return _json(self.gateway_bodies[account])
        gateways = self.gateways.get(account, [PUBLIC_GATEWAY])
        kind = request.query.get("type", "all").lower()
        if kind != "all":
            gateways = [g for g in gateways if str(g.get("type", "")).lower() == kind]
        try:
            offset = max(0, int(request.query.get("offset", "0")))
            limit = max(1, int(request.query.get("limit", "10")))
        except ValueError:
            return _error(400, "offset and limit must be numbers")
        return _json({"data": {"totals": len(gateways),
                               "gateways": gateways[offset:offset + limit]},
                      "status": "success"})

    async def unpin(self, request: web.Request) -> web.Response:
        pin = self._find(request[ACCOUNT], request.match_info["pin_id"])
        if pin is None:
            return _error(404, "pin not found")
        if pin["pinned"]:
            pin["pinned"] = False
            pin["date_unpinned"] = _now()
            pin["status"] = pin["sub_hash_status"] = "UNPINNED"
        return _json({"data": pin, "status": "success"})

    # -- control endpoints (for a separate process) -------------------------------------

    async def _ctl_faults(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            fault = self.inject(body.pop("kind"), **body)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, str(exc))
        return _json({"status": "success", "data": fault.__dict__})

    async def _ctl_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return _json({"status": "success"})

    async def _ctl_requests(self, request: web.Request) -> web.Response:
        data = [
            {**r.__dict__, "headers": {k: v for k, v in r.headers.items() if "key" not in k}}
            for r in self.requests
        ]
        return _json({"status": "success", "data": data})

    async def _ctl_pins(self, request: web.Request) -> web.Response:
        pins = [p for pins in self.pins.values() for p in pins]
        return _json({"status": "success", "data": {
            "count": len(pins), "cids": len({p["cid"] for p in pins}),
        }})

    async def _ctl_gateways(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.set_gateways(body.get("gateways"), body=body.get("body"),
                          api_key=body.get("api_key"))
        return _json({"status": "success"})

    async def _ctl_accounts(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.accounts[str(body["api_key"])] = str(body["secret_key"])
        return _json({"status": "success"})


# The CID of the empty raw block: what a discard sink reports, since it hashes nothing.
_DISCARD_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _root_hash(cid: str) -> str:
    try:
        return parse_cid(cid).multihash_hex
    except InvalidCIDError:
        return ""


def _kv_match(pin: dict[str, Any], wanted: dict[str, Any]) -> bool:
    kv = pin["metadata"].get("keyvalues") or {}
    return all(str(kv.get(k)) == str(v) for k, v in wanted.items())


async def _drain(request: web.Request) -> None:
    """Read and drop an unread body, so an early answer does not break the client's upload."""
    with contextlib.suppress(Exception):
        while await request.content.readany():
            pass


async def _serve(args: argparse.Namespace) -> None:
    emulator = W3IPFSEmulator({args.key: args.secret}, discard=args.discard)
    url = await emulator.start(args.host, args.port)
    print(f"W3IPFS emulator listening on {url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("W3IPFS_EMULATOR_PORT", 0)))
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--secret", default="test-secret")
    parser.add_argument(
        "--discard", action="store_true",
        help="read and drop uploads without hashing (a sink for benchmarks)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
