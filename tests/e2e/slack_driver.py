"""Drives the real app like Slack does: signed requests shaped like Slack's own payloads."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from pinbot.emulators.slack import FakeFile, SlackEmulator

APP_ID = "A0PINBOT"


@dataclass
class Sent:
    response: httpx.Response
    elapsed: float
    response_url: str | None = None

    @property
    def body(self) -> dict[str, Any]:
        return self.response.json() if self.response.content else {}


class SlackDriver:
    def __init__(self, events_url: str, signing_secret: str, slack: SlackEmulator) -> None:
        self.events_url = events_url
        self.verifier = SignatureVerifier(signing_secret)
        self.slack = slack
        self._ids = itertools.count(1)
        self.http = httpx.AsyncClient(timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None,
        *, timestamp: int | None = None, signature: str | None = None,
    ) -> tuple[httpx.Response, float]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        sig = signature or self.verifier.generate_signature(timestamp=ts, body=body)
        all_headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig,
            **(headers or {}),
        }
        start = time.monotonic()
        response = await self.http.post(self.events_url, content=body, headers=all_headers)
        return response, time.monotonic() - start

    def signed(self, body: bytes | str, *, timestamp: int | str | None = None) -> dict[str, str]:
        """Slack's signing headers for `body` (signed at `timestamp`, by default now).

        Over the raw bytes, as Slack signs: slack_sdk's generator needs UTF-8 text, and
        hostile bodies need not be.
        """
        ts = str(timestamp if timestamp is not None else int(time.time()))
        raw = body.encode() if isinstance(body, str) else body
        digest = hmac.new(self.verifier.signing_secret.encode(), b"v0:" + ts.encode() + b":" + raw,
                          hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    async def raw(self, body: bytes | str, headers: dict[str, str]) -> httpx.Response:
        """POST exactly these bytes with exactly these headers: no signing, nothing added."""
        return await self.http.post(self.events_url, content=body, headers=headers)

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None,
        retry_num: int | None = None, event_time: int | None = None, team: str | None = None,
    ) -> Sent:
        team = team or self.slack.team_id
        envelope = {
            "token": "legacy-verification-token",
            "team_id": team,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:16].upper()}",
            "event_time": event_time if event_time is not None else int(time.time()),
            "authorizations": [{
                "enterprise_id": None, "team_id": team,
                "user_id": self.slack.bot_user_id, "is_bot": True,
                "is_enterprise_install": False,
            }],
            "is_ext_shared_channel": False,
            "event_context": "4-eyJldCI6ImZpbGVfc2hhcmVkIn0",
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        response, elapsed = await self.post(json.dumps(envelope), "application/json", headers)
        return Sent(response, elapsed)

    async def file_shared(
        self, fake: FakeFile, *, channel: str | None = None, user: str | None = None,
        event_id: str | None = None, retry_num: int | None = None, team: str | None = None,
    ) -> Sent:
        return await self.event(
            {
                "type": "file_shared",
                "channel_id": channel or fake.channel,
                "file_id": fake.id,
                "user_id": user or fake.user,
                "file": {"id": fake.id},
                "event_ts": f"{time.time():.6f}",
            },
            event_id=event_id, retry_num=retry_num, team=team,
        )

    async def command(
        self, command: str, text: str = "", *, user: str = "UALICE", channel: str = "C0GENERAL",
        team: str | None = None,
    ) -> Sent:
        response_url = self.slack.response_url()
        form = {
            "token": "legacy-verification-token",
            "team_id": team or self.slack.team_id,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"{next(self._ids)}.123.abc",
        }
        response, elapsed = await self.post(urlencode(form), "application/x-www-form-urlencoded")
        return Sent(response, elapsed, response_url)

    async def action(
        self,
        action_id: str,
        *,
        value: str | None = None,
        selected_value: str | None = None,
        user: str = "UALICE",
        channel: str = "C0GENERAL",
        message_ts: str | None = None,
        ephemeral: bool = True,
        team: str | None = None,
    ) -> Sent:
        team = team or self.slack.team_id
        response_url = self.slack.response_url()
        action: dict[str, Any] = {
            "action_id": action_id, "block_id": "blk", "action_ts": f"{time.time():.6f}",
        }
        if selected_value is not None:
            action.update(type="overflow", selected_option={
                "text": {"type": "plain_text", "text": "x"}, "value": selected_value})
        else:
            action.update(type="button", value=value or "",
                          text={"type": "plain_text", "text": "x"})
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": team},
            "api_app_id": APP_ID,
            "token": "legacy-verification-token",
            "container": {
                "type": "message", "message_ts": message_ts or "1.000001",
                "channel_id": channel, "is_ephemeral": ephemeral,
            },
            "trigger_id": f"{next(self._ids)}.123.abc",
            "team": {"id": team, "domain": "example"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "general"},
            "response_url": response_url,
            "actions": [action],
            "state": {"values": {}},
        }
        body = urlencode({"payload": json.dumps(payload)})
        response, elapsed = await self.post(body, "application/x-www-form-urlencoded")
        return Sent(response, elapsed, response_url)

    async def message_shortcut(
        self, callback_id: str, channel: str, ts: str, *, user: str = "UALICE",
        with_files: bool = True,
    ) -> Sent:
        response_url = self.slack.response_url()
        message = dict(self.slack._message_with_files(channel, ts) or {"ts": ts})
        if not with_files:
            message.pop("files", None)
        payload = {
            "type": "message_action", "callback_id": callback_id,
            "trigger_id": f"{next(self._ids)}.123.abc", "action_ts": f"{time.time():.6f}",
            "team": {"id": self.slack.team_id, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": self.slack.team_id},
            "channel": {"id": channel, "name": "general"},
            "message": message, "message_ts": ts, "response_url": response_url,
            "token": "legacy-verification-token", "is_enterprise_install": False,
        }
        body = urlencode({"payload": json.dumps(payload)})
        response, elapsed = await self.post(body, "application/x-www-form-urlencoded")
        return Sent(response, elapsed, response_url)

    async def view_submission(
        self, callback_id: str, *, private_metadata: str = "", user: str = "UALICE",
        values: dict[str, Any] | None = None, team: str | None = None,
    ) -> Sent:
        payload = {
            "type": "view_submission",
            "team": {"id": team or self.slack.team_id, "domain": "example"},
            "user": {"id": user, "username": user.lower(), "team_id": self.slack.team_id},
            "api_app_id": APP_ID, "token": "legacy-verification-token",
            "trigger_id": f"{next(self._ids)}.123.abc",
            "view": {
                "id": f"V{next(self._ids)}", "type": "modal", "callback_id": callback_id,
                "private_metadata": private_metadata, "team_id": self.slack.team_id,
                "state": {"values": values or {}}, "hash": "1", "title": {
                    "type": "plain_text", "text": "x"}, "blocks": [],
            },
            "response_urls": [], "is_enterprise_install": False,
        }
        body = urlencode({"payload": json.dumps(payload)})
        response, elapsed = await self.post(body, "application/x-www-form-urlencoded")
        return Sent(response, elapsed)

    async def replay(self, sent: Sent) -> Sent:
        """Send a request again byte for byte — same body, timestamp and signature — as whoever
        captured it could within Slack's 5-minute window."""
        request = sent.response.request
        headers = {name: request.headers[name] for name in (
            "Content-Type", "X-Slack-Request-Timestamp", "X-Slack-Signature")}
        start = time.monotonic()
        response = await self.http.post(self.events_url, content=request.content,
                                        headers=headers)
        return Sent(response, time.monotonic() - start, sent.response_url)
