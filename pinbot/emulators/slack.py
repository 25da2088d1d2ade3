"""A Slack Web API emulator: an aiohttp server on 127.0.0.1 that records every call.

Implements what pinbot uses, in Slack's shapes: `auth.test`, `files.info`, file downloads at
`url_private_download` (Bearer token checked; without it, like Slack, a 200 HTML login page),
`chat.postMessage` / `chat.update` / `chat.postEphemeral` / `chat.delete`, `reactions.*`,
`users.info`, `views.*`, and `response_url` endpoints. Per-file knobs reproduce the field notes'
pitfalls: external files, Slack Connect `file_access`, deleted files, a login page instead of
bytes, a byte count that differs from `files.info`, redirects to another host.

    python -m pinbot.emulators.slack --port 8088
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.app import BOT_SCOPES

#: Every OAuth code and access/refresh token any emulator handed out, for the session-wide log
#: check in tests/conftest.py: none may ever reach a log.
ISSUED: set[str] = set()

LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Slack</title></head>"
    "<body><form action='/signin'>Sign in to your workspace</form></body></html>"
)


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    token: str | None


@dataclass
class FakeFile:
    id: str
    name: str
    size: int
    user: str
    channel: str
    ts: str
    thread_ts: str | None = None
    mimetype: str = "application/octet-stream"
    filetype: str = "binary"
    mode: str = "hosted"
    data: bytes | None = None
    pattern_seed: int = 0
    serve_size: int | None = None  # serve this many bytes instead of `size`
    login_page: bool = False  # serve the HTML login page even with a good token
    redirect_host: str | None = None  # redirect the download to this host (same port)
    #: Redirect the download to this URL (`{port}`, `{id}` filled in): any host, any scheme.
    redirect_to: str | None = None
    #: Offer `url_private_download` as this URL (`{port}`, `{team}`, `{id}` filled in).
    download_url: str | None = None
    #: Send the bytes one at a time, this many seconds apart (a trickling server).
    trickle: float | None = None
    deleted: bool = False
    external: bool = False
    file_access: bool = False
    no_shares: bool = False
    #: When it was shared (epoch seconds): `files.list` filters on it with ts_from/ts_to.
    created: float = 0.0

    def chunks(self, chunk: int = 1 << 20) -> Iterator[bytes]:
        total = self.size if self.serve_size is None else self.serve_size
        if self.data is not None:
            data = self.data[:total] if total <= len(self.data) else self.data + bytes(
                total - len(self.data)
            )
            for start in range(0, len(data), chunk):
                yield data[start : start + chunk]
            return
        block = pattern_block(self.pattern_seed, chunk)
        sent = 0
        while sent < total:
            piece = block[: min(chunk, total - sent)]
            sent += len(piece)
            yield piece

    def content(self) -> bytes:
        return b"".join(self.chunks())


def pattern_block(seed: int, size: int = 1 << 20) -> bytes:
    """Deterministic non-trivial bytes, cheap to regenerate (large files are never stored)."""
    base = bytes((i * 31 + seed * 7 + (i >> 8)) & 0xFF for i in range(4096))
    return (base * (size // 4096 + 1))[:size]


def pattern_bytes(seed: int, size: int) -> bytes:
    block = pattern_block(seed)
    out = bytearray()
    while len(out) < size:
        out += block[: size - len(out)]
    return bytes(out)


class SlackEmulator:
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        team_id: str = "T0TEST",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        app_token: str = "xapp-1-test-app-token",
    ) -> None:
        self.app_token = app_token
        #: Every valid bot token and the workspace it belongs to (OAuth installs add more).
        self.tokens: dict[str, str] = {bot_token: team_id}
        #: OAuth codes handed to installers: code -> team id.
        self.oauth_codes: dict[str, str] = {}
        self.client_id, self.client_secret = "111.222", "oauth-client-secret-71ab"
        #: Token rotation on: installs get short-lived tokens plus a refresh token.
        self.rotating_tokens = False
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> team
        #: OAuth access tokens start with this; Slack's rotating ones look like `xoxe.xoxb-1-…`.
        self.access_token_prefix = "xoxb-"
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.calls: list[ApiCall] = []
        self.files: dict[str, FakeFile] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: dict[str, list[dict[str, Any]]] = {}
        self.downloads: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.views: list[dict[str, Any]] = []
        self.reactions: dict[tuple[str, str], set[str]] = {}
        #: Seconds a rotating access token lives (Slack: 12 hours).
        self.token_lifetime = 60
        self.rate_limit_next: dict[str, int] = {}
        #: The bot scopes this app was granted, reported by `auth.test` in `x-oauth-scopes`
        #: as Slack does (tests drop one to see `pinbot check` notice).
        self.scopes: list[str] = list(BOT_SCOPES)
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._api)
        self.app.router.add_get("/files-pri/{file_id}/{name}", self._download)
        self.app.router.add_get("/cdn/{file_id}", self._cdn)
        self.app.router.add_post("/response/{rid}", self._response)
        self.app.router.add_get("/response/{rid}", self._responses_posted)
        self.app.router.add_get("/socket", self._socket)
        self.app.router.add_post("/_emulator/files", self._ctl_add_file)
        self.app.router.add_get("/_emulator/summary", self._ctl_summary)

    # -- setup -------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def add_user(self, user_id: str, *, admin: bool = False, owner: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id, "name": user_id.lower(), "is_admin": admin, "is_owner": owner,
            "team_id": self.team_id,
        }

    def add_file(
        self,
        name: str = "report.pdf",
        data: bytes | None = None,
        *,
        size: int | None = None,
        user: str = "UALICE",
        channel: str = "C0GENERAL",
        thread_ts: str | None = None,
        **options: Any,
    ) -> FakeFile:
        """Register a file as shared in `channel` (a message with it is created there)."""
        file_id = f"F{next(self._ids):08d}"
        if size is None:
            size = len(data) if data is not None else 0
        ts = self.next_ts()
        fake = FakeFile(
            id=file_id, name=name, size=size, user=user, channel=channel, ts=ts,
            thread_ts=thread_ts, data=data, pattern_seed=next(self._ids),
            **{"created": time.time(), **options},
        )
        self.files[file_id] = fake
        self.messages[(channel, ts)] = {
            "channel": channel, "ts": ts, "user": user, "text": "", "files": [file_id],
            "thread_ts": thread_ts,
        }
        return fake

    def add_message_with_files(self, files: list[FakeFile], *, channel: str = "C0GENERAL",
                               user: str = "UALICE") -> str:
        """One message carrying several files (as when several are shared at once)."""
        ts = self.next_ts()
        self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "user": user,
                                        "files": [f.id for f in files]}
        for fake in files:
            fake.__dict__.setdefault("extra_shares", []).append((channel, ts))
        return ts

    def share_again(self, fake: FakeFile, channel: str) -> str:
        """The same file shared into another channel: a new message there."""
        ts = self.next_ts()
        self.messages[(channel, ts)] = {"channel": channel, "ts": ts, "files": [fake.id]}
        fake.__dict__.setdefault("extra_shares", []).append((channel, ts))
        return ts

    def response_url(self) -> str:
        rid = f"R{next(self._ids):06d}"
        self.responses[rid] = []
        return f"http://127.0.0.1:{self.port}/response/{rid}"

    def file_info(self, fake: FakeFile) -> dict[str, Any]:
        base = f"http://127.0.0.1:{self.port}"
        info: dict[str, Any] = {
            "id": fake.id, "created": int(fake.created), "timestamp": int(fake.created),
            "name": fake.name, "title": fake.name, "mimetype": fake.mimetype,
            "filetype": fake.filetype, "pretty_type": fake.filetype.upper(),
            "user": fake.user, "user_team": self.team_id, "editable": False,
            "size": fake.size, "mode": fake.mode, "is_external": fake.external,
            "external_type": "gdrive" if fake.external else "", "is_public": True,
            "public_url_shared": False, "display_as_bot": False, "username": "",
            "url_private": f"{base}/files-pri/{self.team_id}-{fake.id}/{fake.name}",
            "url_private_download":
                f"{base}/files-pri/{self.team_id}-{fake.id}/download",
            "permalink": f"https://example.slack.com/files/{fake.user}/{fake.id}/{fake.name}",
            "channels": [fake.channel], "groups": [], "ims": [],
            "comments_count": 0,
        }
        if fake.download_url:
            info["url_private_download"] = fake.download_url.format(
                port=self.port, team=self.team_id, id=fake.id)
        if fake.external:
            info["mode"] = "external"
            info.pop("url_private_download")
            info["url_private"] = "https://drive.google.com/file/d/abc/view"
        if fake.file_access:
            info = {"id": fake.id, "mode": "file_access", "name": fake.name,
                    "size": fake.size, "user": fake.user}
        if not fake.no_shares and not fake.file_access:
            share: dict[str, Any] = {"ts": fake.ts, "channel_name": "general",
                                     "team_id": self.team_id, "reply_users_count": 0}
            if fake.thread_ts:
                share["thread_ts"] = fake.thread_ts
            shares: dict[str, list[dict[str, Any]]] = {fake.channel: [share]}
            for channel, ts in fake.__dict__.get("extra_shares", []):
                shares.setdefault(channel, []).append({"ts": ts, "team_id": self.team_id})
            info["shares"] = {"public": shares}
        return info

    # -- queries for tests ------------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for (c, _), m in sorted(self.messages.items())
                if c == channel and m.get("thread_ts") == thread_ts and m.get("bot")]

    def bot_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [m for (c, _), m in self.messages.items()
                if m.get("bot") and (channel is None or c == channel)]

    def response_posts(self, url: str) -> list[dict[str, Any]]:
        return self.responses[url.rsplit("/", 1)[1]]

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        assert site._server is not None
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self.api_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.pop(
            "token", None
        )
        self.calls.append(ApiCall(method, args, token))
        if self.rate_limit_next.get(method, 0) > 0:
            self.rate_limit_next[method] -= 1
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": "1"})
        if method == "apps.connections.open":
            if token != self.app_token:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"})
        if method == "oauth.v2.access":
            return web.json_response(self._oauth_access(args, request))
        if token not in self.tokens:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        args["_team"] = self.tokens[token]
        handler: Callable[[dict[str, Any]], dict[str, Any]] | None = getattr(
            self, "api_" + method.replace(".", "_"), None
        )
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        for key in ("blocks", "view"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        result = handler(args)
        headers = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else None
        return web.json_response(result, headers=headers)

    def api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://example.slack.com/", "team": "Example",
                "user": "pinbot", "team_id": args.get("_team", self.team_id),
                "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def install_code(self, team_id: str) -> str:
        """What Slack hands the installer's browser after they approve the app."""
        code = f"code-{team_id}-{uuid.uuid4().hex[:12]}"  # unique across emulators, too
        self.oauth_codes[code] = team_id
        ISSUED.add(code)
        return code

    def _oauth_access(self, args: dict[str, Any], request: web.Request) -> dict[str, Any]:
        client_id, secret = args.get("client_id"), args.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        if (client_id, secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            team = self.refresh_tokens.pop(str(args.get("refresh_token")), None)
            if team is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            for old in [t for t, owner in self.tokens.items() if owner == team]:
                del self.tokens[old]  # the old access token stops working
        else:
            team = self.oauth_codes.pop(str(args.get("code")), None)
            if team is None:
                return {"ok": False, "error": "invalid_code"}
        token = f"{self.access_token_prefix}{team}-{uuid.uuid4().hex[:12]}"
        self.tokens[token] = team
        ISSUED.add(token)
        rotation: dict[str, Any] = {}
        if self.rotating_tokens:
            refresh = f"xoxe-1-{team}-{uuid.uuid4().hex[:12]}"
            self.refresh_tokens[refresh] = team
            ISSUED.add(refresh)
            rotation = {"refresh_token": refresh, "expires_in": self.token_lifetime}
        return {**rotation,
            "ok": True, "app_id": "A0PINBOT", "authed_user": {"id": "UINSTALLER"},
            "scope": "files:read,chat:write,commands", "token_type": "bot",
            "access_token": token, "bot_user_id": self.bot_user_id,
            "team": {"id": team, "name": f"Team {team}"}, "enterprise": None,
            "is_enterprise_install": False,
        }

    def api_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        fake = self.files.get(str(args.get("file")))
        if fake is None:
            return {"ok": False, "error": "file_not_found"}
        if fake.deleted:
            return {"ok": False, "error": "file_deleted"}
        return {"ok": True, "file": self.file_info(fake), "comments": [],
                "response_metadata": {"next_cursor": ""}}

    def api_files_list(self, args: dict[str, Any]) -> dict[str, Any]:
        """Files shared in the workspace, newest first, filtered by ts_from/ts_to, paged."""
        ts_from = float(args.get("ts_from") or 0)
        ts_to = float(args.get("ts_to") or "inf")
        channel = args.get("channel")
        count = max(1, min(1000, int(args.get("count") or 100)))
        page = max(1, int(args.get("page") or 1))
        matching = sorted(
            (f for f in self.files.values()
             if ts_from <= f.created <= ts_to and not f.deleted
             and (channel is None or f.channel == channel)),
            key=lambda f: f.created, reverse=True)
        pages = max(1, -(-len(matching) // count))
        chosen = matching[(page - 1) * count: page * count]
        return {"ok": True, "files": [self.file_info(f) for f in chosen],
                "paging": {"count": count, "total": len(matching), "page": page,
                           "pages": pages}}

    def api_chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("message_ts"))
        if (channel, ts) not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": channel,
                "permalink": f"https://example.slack.com/archives/{channel}/p"
                             f"{ts.replace('.', '')}"}

    def api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _check_blocks(self, args: dict[str, Any]) -> str | None:
        blocks = args.get("blocks")
        if blocks is not None and (not isinstance(blocks, list) or len(blocks) > 50):
            return "invalid_blocks"
        if not args.get("text") and not blocks:
            return "no_text"
        return None

    def api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if error := self._check_blocks(args):
            return {"ok": False, "error": error}
        channel = str(args["channel"])
        ts = self.next_ts()
        message = {**args, "ts": ts, "bot": True, "user": self.bot_user_id,
                   "history": [dict(args)]}
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"text": args.get("text"), "ts": ts, "bot_id": self.bot_id}}

    def api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        message = self.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.get("bot"):
            return {"ok": False, "error": "cant_update_message"}
        if error := self._check_blocks(args):
            return {"ok": False, "error": error}
        message.update({k: v for k, v in args.items() if k in ("text", "blocks")})
        message["history"].append(dict(args))
        return {"ok": True, "channel": key[0], "ts": key[1], "text": args.get("text")}

    def api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if error := self._check_blocks(args):
            return {"ok": False, "error": error}
        self.ephemeral.append(dict(args))
        return {"ok": True, "message_ts": self.next_ts()}

    def api_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("ts")))
        if self.messages.pop(key, None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _message_with_files(self, channel: str, ts: str) -> dict[str, Any] | None:
        message = self.messages.get((channel, ts))
        if message is None:
            return None
        out = {k: v for k, v in message.items() if k not in ("history",)}
        out["type"] = "message"
        if message.get("files"):
            out["files"] = [self.file_info(self.files[f]) for f in message["files"]
                            if f in self.files]
        return out

    def api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("latest", ""))
        found = self._message_with_files(channel, ts)
        if found is not None and found.get("thread_ts") not in (None, found["ts"]):
            found = None  # thread replies are not in the channel history
        return {"ok": True, "messages": [found] if found else [], "has_more": False}

    def api_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel")), str(args.get("ts", ""))
        found = self._message_with_files(channel, ts)
        if found is None:
            return {"ok": False, "error": "thread_not_found"}
        return {"ok": True, "messages": [found], "has_more": False}

    def api_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("timestamp")))
        names = self.reactions.setdefault(key, set())
        if args.get("name") in names:
            return {"ok": False, "error": "already_reacted"}
        names.add(str(args.get("name")))
        return {"ok": True}

    def api_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        key = (str(args.get("channel")), str(args.get("timestamp")))
        names = self.reactions.setdefault(key, set())
        if args.get("name") not in names:
            return {"ok": False, "error": "no_reaction"}
        names.discard(str(args.get("name")))
        return {"ok": True}

    def _view(self, args: dict[str, Any]) -> dict[str, Any]:
        self.views.append(dict(args))
        view = args.get("view") or {}
        if len(view.get("blocks", [])) > 100:
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": {"id": f"V{next(self._ids)}", **view}}

    api_views_open = api_views_publish = api_views_update = api_views_push = _view

    async def _download(self, request: web.Request) -> web.StreamResponse:
        team_file = request.match_info["file_id"]
        fake = self.files.get(team_file.split("-", 1)[-1])
        auth = request.headers.get("Authorization")
        self.downloads.append({"path": request.path, "authorization": auth})
        if fake is None or fake.deleted:
            return web.Response(status=404, text="not found")
        if auth is None or auth.removeprefix("Bearer ") not in self.tokens or fake.login_page:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if fake.redirect_host:
            raise web.HTTPFound(f"http://{fake.redirect_host}:{self.port}/cdn/{fake.id}")
        if fake.redirect_to:
            raise web.HTTPFound(fake.redirect_to.format(port=self.port, id=fake.id))
        if fake.trickle:
            return await self._trickle(request, fake, self.downloads[-1])
        return await self._stream(request, fake)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        fake = self.files.get(request.match_info["file_id"])
        self.downloads.append({"path": request.path, "host": request.host,
                               "authorization": request.headers.get("Authorization")})
        if fake is None:
            return web.Response(status=404)
        return await self._stream(request, fake)

    async def _stream(self, request: web.Request, fake: FakeFile) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = fake.mimetype
        response.content_length = fake.size if fake.serve_size is None else fake.serve_size
        await response.prepare(request)
        for chunk in fake.chunks():
            await response.write(chunk)
        await response.write_eof()
        return response

    async def _trickle(
        self, request: web.Request, fake: FakeFile, record: dict[str, Any]
    ) -> web.StreamResponse:
        """A server that sends the file a byte at a time, `fake.trickle` seconds apart; the
        download's record counts the bytes `sent` and notes when the client `hung_up`."""
        response = web.StreamResponse()
        response.content_type = fake.mimetype
        response.content_length = fake.size
        await response.prepare(request)
        record["sent"] = 0
        try:
            for byte in fake.content():
                await response.write(bytes([byte]))
                record["sent"] += 1
                await asyncio.sleep(fake.trickle or 0)
            await response.write_eof()
        except ConnectionError:
            record["hung_up"] = time.monotonic()
        except asyncio.CancelledError:
            record["hung_up"] = time.monotonic()
            raise
        return response

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, then collect the app's acks for pushed envelopes."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({
            "type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0PINBOT"},
            "debug_info": {"host": "emulator", "approximate_connection_time": 3600},
        })
        async for message in ws:
            with contextlib.suppress(ValueError, TypeError):
                data = json.loads(message.data)
                if isinstance(data, dict) and "envelope_id" in data:
                    self.socket_acks[data["envelope_id"]] = data
        self.sockets.remove(ws)
        return ws

    async def push(self, kind: str, payload: dict[str, Any]) -> str:
        """Send an envelope (`events_api`, `slash_commands`, `interactive`) to the app."""
        envelope_id = f"env-{next(self._ids)}"
        await self.sockets[-1].send_json({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
            "retry_reason": "",
        })
        return envelope_id

    async def _ctl_add_file(self, request: web.Request) -> web.Response:
        """Register a generated file (for load runs from another process)."""
        body = await request.json()
        fake = self.add_file(str(body.get("name", "file.bin")), size=int(body["size"]),
                             channel=str(body.get("channel", "C0GENERAL")),
                             user=str(body.get("user", "UALICE")))
        return web.json_response({"id": fake.id, "channel": fake.channel, "ts": fake.ts,
                                  "user": fake.user})

    async def _ctl_summary(self, request: web.Request) -> web.Response:
        cards = [m for m in self.bot_messages()]
        verified = sum(1 for m in cards if "Verified" in json.dumps(m.get("blocks", [])))
        failed = sum(1 for m in cards if "Could not pin" in str(m.get("text", "")))
        return web.json_response({"messages": len(cards), "verified": verified,
                                  "failed": failed, "responses": sum(
                                      len(v) for v in self.responses.values())})

    async def _responses_posted(self, request: web.Request) -> web.Response:
        """What the app posted to a response_url (for people driving the emulator by hand)."""
        rid = request.match_info["rid"]
        if rid not in self.responses:
            return web.Response(status=404, text="no_such_response_url")
        return web.json_response(self.responses[rid])

    async def _response(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        if rid not in self.responses:
            return web.Response(status=404, text="no_such_response_url")
        self.responses[rid].append(await request.json())
        return web.Response(text="ok")


async def _serve(port: int, file_mib: int) -> None:
    emulator = SlackEmulator()
    await emulator.start(port=port)
    print(f"Slack emulator listening on {emulator.api_url}", flush=True)
    if file_mib:
        fake = emulator.add_file(f"bench-{file_mib}MiB.bin", size=file_mib * 1024 * 1024)
        info = emulator.file_info(fake)
        print(f"file {fake.id} {fake.channel} {info['url_private_download']}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description="Slack Web API emulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--file-mib", type=int, default=0,
                        help="register a generated file of this size and print its id and URL")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.port, args.file_mib))


if __name__ == "__main__":
    main()


__all__ = ["FakeFile", "SlackEmulator", "pattern_bytes"]
