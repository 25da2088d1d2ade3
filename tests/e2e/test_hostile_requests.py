"""Hostile requests to `POST /slack/events`, unsigned and signed, against the real app.

Each is refused before Bolt parses anything (`bot/inbound.py`): a 4xx, never a 500, one short
log line with no body and no traceback, nothing done — and the app still answers afterwards.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import CLEANUP_CONFIRM, KEYS_MODAL
from bot.inbound import MAX_BODY
from bot.logs import JSONFormatter
from bot.services import Services
from handlers import register_all
from pinbot.emulators.slack import SlackEmulator
from tests.databases import fresh_database
from tests.e2e import conftest as e2e_conftest
from tests.e2e import test_socket_mode
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.slack_driver import SlackDriver
from tests.e2e.test_oauth import oauth_bot
from tests.e2e.test_shared_files import text_of
from tests.e2e.test_socket_mode import wait_for

#: Written into every hostile body: it must never show up in a log line.
MARKER = "HOSTILE-MARKER-5e1f"
#: What one refused request may write to the log, in production's JSON lines.
LOG_BUDGET = 500
#: Loggers that see a request to /slack/events, at every level; other loggers (the app's
#: background work, the database driver) count from INFO, the production default.
REQUEST_LOGGERS = ("bot.server", "bot.inbound", "bot.app", "handlers", "slack_bolt", "aiohttp")

Headers = Callable[[SlackDriver, bytes], dict[str, Any]]
socket_bot = test_socket_mode.socket_bot  # the real app over Socket Mode


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """The refusals here happen before any database access: one kind of database is enough."""
    async with fresh_database("sqlite", tmp_path) as url:
        yield url


def unsigned(content_type: str = "application/json") -> Headers:
    return lambda _driver, _body: {"Content-Type": content_type}


def stamped(timestamp: str | bytes, signature: str | bytes | None = None,
            content_type: str = "application/json") -> Headers:
    """A timestamp as given; the signature as given, or a real one over that timestamp."""

    def build(driver: SlackDriver, body: bytes) -> dict[str, Any]:
        now = str(int(time.time()))
        stamp = (timestamp.replace(NOW.encode(), now.encode()) if isinstance(timestamp, bytes)
                 else timestamp.replace(NOW, now))
        sig = signature
        if sig is None:
            sig = driver.signed(body, timestamp=stamp.decode()
                                if isinstance(stamp, bytes) else stamp)["X-Slack-Signature"]
        return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": sig}

    return build


def signed(content_type: str = "application/json", *, offset: int = 0) -> Headers:
    return lambda driver, body: {"Content-Type": content_type,
                                 **driver.signed(body, timestamp=int(time.time()) + offset)}


FORM = "application/x-www-form-urlencoded"


def form(**fields: str) -> bytes:
    return urlencode(fields).encode()


def interactive(payload: Any) -> bytes:
    return form(payload=payload if isinstance(payload, str) else json.dumps(payload))


def block_actions(**overrides: Any) -> dict[str, Any]:
    return {"type": "block_actions", "team": {"id": "T0TEST"},
            "user": {"id": "UALICE", "team_id": "T0TEST"}, "trigger_id": "1.2.3",
            "response_url": "http://127.0.0.1:9/r", "token": MARKER,
            "actions": [{"action_id": "x", "block_id": "b", "value": MARKER}], **overrides}


def view_submission(view: Any = None, **overrides: Any) -> dict[str, Any]:
    body = {"type": "view_submission", "team": {"id": "T0TEST"},
            "user": {"id": "UADMIN", "team_id": "T0TEST"}, "trigger_id": "1.2.3",
            "token": MARKER, **overrides}
    if view is not None:
        body["view"] = view
    return body


def keys_view(**overrides: Any) -> dict[str, Any]:
    """The `/pin setup` modal's view; an override of None removes the field."""
    view = {"id": "V1", "type": "modal", "callback_id": KEYS_MODAL, "private_metadata": "",
            "state": {"values": {"api_key": {"v": {"value": MARKER}}}}, **overrides}
    return {k: v for k, v in view.items() if v is not None}


def nested(depth: int) -> bytes:
    return ('{"type": "event_callback", "x": ' + "[" * depth + "]" * depth + "}").encode()


@dataclass
class Case:
    name: str
    body: bytes
    headers: Headers
    status: int


#: Stands for "now" in a timestamp, filled in when the request is sent (the cases are built at
#: collection time, which may be more than Slack's 5-minute window before they run).
NOW = "@NOW@"

UNSIGNED = [
    Case("invalid JSON", b'{"type": ' + MARKER.encode(), unsigned(), 401),
    Case("payload= garbage", form(payload=MARKER + "{{"), unsigned(FORM), 401),
    Case("deeply nested JSON", b"[" * 100_000, unsigned(), 401),
    Case("JSON that is not an object", b"[1, 2, 3]", unsigned(), 401),
    Case("timestamp abc", b"{}", stamped("abc"), 400),
    Case("timestamp 1e3", b"{}", stamped("1e3"), 400),
    Case("timestamp 12.5", b"{}", stamped("12.5"), 400),
    Case("timestamp empty", b"{}", stamped(""), 400),
    Case("timestamp negative", b"{}", stamped("-" + NOW), 400),
    Case("timestamp with a sign", b"{}", stamped("+" + NOW), 400),
    Case("timestamp with underscores", b"{}", stamped("1700_000000"), 400),
    Case("timestamp in Arabic-Indic digits", b"{}", stamped("١٢٣٤".encode()), 400),
    Case("timestamp a hundred digits", b"{}", stamped("9" * 100), 400),
    Case("timestamp 301 s old, validly signed", b"{}", signed(offset=-301), 401),
    Case("timestamp 301 s ahead, validly signed", b"{}", signed(offset=301), 401),
    Case("no signature headers", b"{}", unsigned(), 401),
    Case("signature of another body", b"{}",
         lambda d, _b: {"Content-Type": "application/json", **d.signed(b"{ }")}, 401),
    Case("short signature", b"{}", stamped(NOW, "v0=deadbeef"), 401),
    Case("non-ASCII signature", b"{}", stamped(NOW, "v0=é".encode("latin-1") * 5), 401),
    Case("empty signature", b"{}", stamped(NOW, ""), 401),
    Case("1 MB body", b"[" * 1_000_000, unsigned(), 401),
    Case("1 MB form", form(payload=MARKER * 60_000)[:1_000_000], unsigned(FORM), 401),
    Case("body over the limit, unsigned: not even read", b"{" * (MAX_BODY + 1), unsigned(),
         401),
    Case("body over the limit", b"{" * (MAX_BODY + 1), stamped(NOW, "v0=" + "0" * 64), 413),
    Case("invalid UTF-8", b'{"type": "\xff\xfe' + MARKER.encode() + b'"}',
         stamped(NOW, "v0=" + "0" * 64), 400),
]

SIGNED = [
    Case("invalid JSON", b'{"type": ' + MARKER.encode(), signed(), 400),
    Case("JSON that is not an object", b'["' + MARKER.encode() + b'"]', signed(), 400),
    Case("JSON string", json.dumps(MARKER).encode(), signed(), 400),
    Case("deeply nested JSON (parser's recursion limit)", nested(100_000), signed(), 400),
    Case("nested JSON deeper than 64", nested(200), signed(), 400),
    Case("payload= not JSON", form(payload=MARKER + "{{"), signed(FORM), 400),
    Case("payload= JSON that is not an object", interactive([MARKER]), signed(FORM), 400),
    Case("payload= null", interactive("null"), signed(FORM), 400),
    Case("payload= a number", interactive("12"), signed(FORM), 400),
    Case("actions=[]", interactive(block_actions(actions=[])), signed(FORM), 400),
    Case("actions not a list", interactive(block_actions(actions=MARKER)), signed(FORM), 400),
    Case("actions=[[]]", interactive(block_actions(actions=[[]])), signed(FORM), 400),
    Case("action_id not a string",
         interactive(block_actions(actions=[{"action_id": [MARKER]}])), signed(FORM), 400),
    Case("user=[]", interactive(block_actions(user=[])), signed(FORM), 400),
    Case("team a number", interactive(block_actions(team=12)), signed(FORM), 400),
    Case("authorizations a string", interactive(block_actions(authorizations=MARKER)),
         signed(FORM), 400),
    Case("response_urls=[string]", interactive(view_submission(
        keys_view(), response_urls=[MARKER])), signed(FORM), 400),
    Case("view_submission without view", interactive(view_submission()), signed(FORM), 400),
    Case("view = []", interactive(view_submission([])), signed(FORM), 400),
    Case("view without a type", interactive(view_submission(keys_view(type=None))),
         signed(FORM), 400),
    Case("view without a callback_id", interactive(view_submission(keys_view(callback_id=None))),
         signed(FORM), 400),
    Case("action without action_id",
         interactive(block_actions(actions=[{"value": MARKER}])), signed(FORM), 400),
    Case("interactive_message without actions", interactive(
        {"type": "interactive_message", "callback_id": "x", "token": MARKER}), signed(FORM), 400),
    Case("workflow_step_edit without workflow_step", interactive(
        {"type": "workflow_step_edit", "callback_id": "x", "token": MARKER}), signed(FORM), 400),
    Case("workflow_step save without workflow_step", interactive(view_submission(
        keys_view(type="workflow_step"))), signed(FORM), 400),
    Case("private_metadata=[]", interactive(view_submission(keys_view(private_metadata=[]))),
         signed(FORM), 400),
    Case("private_metadata an object",
         interactive(view_submission(keys_view(private_metadata={"a": MARKER}))),
         signed(FORM), 400),
    Case("view.state.values a list",
         interactive(view_submission(keys_view(state={"values": [MARKER]}))), signed(FORM),
         400),
    Case("event_callback without event",
         json.dumps({"type": "event_callback", "token": MARKER}).encode(), signed(), 400),
    Case("event=[]", json.dumps({"type": "event_callback", "event": [MARKER]}).encode(),
         signed(), 400),
    Case("event without a type", json.dumps({"type": "event_callback",
                                             "event": {"file_id": MARKER}}).encode(),
         signed(), 400),
    Case("invalid UTF-8", b'{"type": "\xff' + MARKER.encode() + b'"}', signed(), 400),
]


def request_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if (r.levelno >= logging.INFO or r.name.startswith(REQUEST_LOGGERS))
            and not (r.name == "httpx" and "/slack/events" in r.getMessage())]  # the driver's


async def send_all(bot: Bot, cases: list[Case], caplog: pytest.LogCaptureFixture) -> list[str]:
    """Send each case; return what went wrong, one line per problem."""
    formatter = JSONFormatter()
    problems: list[str] = []
    await bot.idle()  # the app's start-up calls are not these requests' logs
    for case in cases:
        caplog.clear()
        response = await bot.driver.raw(case.body, case.headers(bot.driver, case.body))
        records = request_records(caplog)
        written = sum(len(formatter.format(r)) + 1 for r in records)
        text = caplog.text
        if response.status_code != case.status:
            problems.append(f"{case.name}: HTTP {response.status_code}, "
                            f"expected {case.status}")
        if len(records) != 1 or written > LOG_BUDGET:
            problems.append(f"{case.name}: {len(records)} log records, {written} bytes")
        if MARKER in text or "Traceback" in text or any(r.exc_info or r.exc_text
                                                        for r in records):
            problems.append(f"{case.name}: the body or a traceback reached the log")
        if any(r.levelno >= logging.ERROR for r in records):
            problems.append(f"{case.name}: logged at ERROR")
    return problems


async def assert_still_healthy(bot: Bot) -> None:
    async with httpx.AsyncClient() as http:
        health = await http.get(f"{bot.url}/healthz")
    assert health.status_code == 200
    usage = await bot.driver.command("/pin", "help")
    assert usage.response.status_code == 200 and "/pin <CID>" in usage.response.text


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in ("", "slack_sdk", *REQUEST_LOGGERS):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


async def test_unsigned_and_malformed_headers_are_refused_before_parsing(
    bot: Bot, debug_logs: pytest.LogCaptureFixture,
) -> None:
    await bot.idle()
    calls = len(bot.slack.calls)
    problems = await send_all(bot, UNSIGNED, debug_logs)
    assert problems == []
    assert bot.w3ipfs.requests == [] and len(bot.slack.calls) == calls  # nothing was done
    await assert_still_healthy(bot)


async def test_signed_but_malformed_bodies_get_400_not_500(
    bot: Bot, debug_logs: pytest.LogCaptureFixture,
) -> None:
    await bot.idle()
    calls = len(bot.slack.calls)
    problems = await send_all(bot, SIGNED, debug_logs)
    assert problems == []
    assert bot.w3ipfs.requests == [] and len(bot.slack.calls) == calls
    await assert_still_healthy(bot)


async def test_refusal_log_line_says_why_without_the_body(
    bot: Bot, debug_logs: pytest.LogCaptureFixture,
) -> None:
    """The one line names the reason (a clock that is off is the operator's to fix)."""
    body = interactive(view_submission(keys_view()))
    await bot.idle()
    response = await bot.driver.raw(body, signed(FORM, offset=-330)(bot.driver, body))
    assert response.status_code == 401 and response.json() == {"error": "invalid request"}
    (record,) = request_records(debug_logs)
    assert record.levelno == logging.WARNING and record.name == "bot.server"
    assert re.search(r"timestamp \+33\d s .* clock", record.getMessage())
    assert MARKER not in debug_logs.text


async def test_signed_semantically_odd_payloads_are_acked_cleanly(
    bot: Bot, debug_logs: pytest.LogCaptureFixture,
) -> None:
    """Well-formed but meaningless to pinbot: no listener's business, or a listener's to refuse.
    Never a 500, never a traceback."""
    odd = [
        view_submission({"callback_id": CLEANUP_CONFIRM, "private_metadata": "[]",
                         "state": {"values": {}}}),
        view_submission({"callback_id": CLEANUP_CONFIRM, "private_metadata": MARKER,
                         "state": {"values": {}}}),
        view_submission({"callback_id": "no-such-modal", "state": {"values": {}}}),
        block_actions(actions=[{"action_id": "no-such-action"}]),
        {"type": "no-such-type", "token": MARKER},
        {},
    ]
    for payload in odd:
        debug_logs.clear()
        body = interactive(payload)
        response = await bot.driver.raw(body, signed(FORM)(bot.driver, body))
        assert response.status_code < 500, (payload, response.status_code)
        assert "Traceback" not in debug_logs.text
        assert not any(r.levelno >= logging.ERROR for r in debug_logs.records), payload
    await bot.idle()
    await assert_still_healthy(bot)


async def test_oauth_endpoints_refuse_forged_callbacks(
    make_bot: BotFactory, debug_logs: pytest.LogCaptureFixture,
) -> None:
    bot = await oauth_bot(make_bot)
    code = f"code-{MARKER}"
    async with httpx.AsyncClient(base_url=bot.url) as browser:
        for params in ({"code": code, "state": "forged"}, {"code": code}, {"state": "x"}, {},
                       {"error": "access_denied", "state": "forged"}):
            forged = await browser.get("/slack/oauth_redirect", params=params)
            assert forged.status_code < 500, (params, forged.status_code)
            assert "Traceback" not in forged.text
        install = await browser.request("GET", "/slack/install", content=b"{" * 10_000)
        assert install.status_code == 200
    assert code not in debug_logs.text and "Traceback" not in debug_logs.text
    assert bot.slack.calls_to("oauth.v2.access") == []  # no forged code was exchanged


@pytest.fixture
def buggy_listeners(monkeypatch: pytest.MonkeyPatch) -> None:
    """pinbot's listeners plus four with a bug, registered the way the entry point does."""

    def register(app: AsyncApp, services: Services) -> None:
        register_all(app, services)

        async def bug(ack: AsyncAck, body: dict[str, Any]) -> None:
            raise RuntimeError("a bug in a listener")

        app.command("/boom")(bug)
        app.view("boom-modal")(bug)
        app.action("boom-action")(bug)
        app.event("app_mention")(bug)

    monkeypatch.setattr(e2e_conftest, "register_all", register)


async def test_a_listeners_bug_gets_a_kind_ack_and_one_line(
    buggy_listeners: None, bot: Bot, debug_logs: pytest.LogCaptureFixture,
) -> None:
    """No 500 and no Slack error screen for the person, a sentence instead; one log line
    without body or traceback. An event keeps its 500, so that Slack delivers it again."""
    await bot.idle()
    sent = [
        await bot.driver.command("/boom", MARKER),
        await bot.driver.view_submission("boom-modal", private_metadata=MARKER),
        await bot.driver.action("boom-action", value=MARKER),
    ]
    for result in sent:
        assert result.response.status_code == 200, result.response.text
    assert "unexpected error" in sent[0].body["text"]
    assert sent[0].body["response_type"] == "ephemeral"
    assert sent[1].body["response_action"] == "update"
    assert "unexpected error" in json.dumps(sent[1].body["view"])
    event = await bot.driver.event({"type": "app_mention", "user": "UALICE", "text": MARKER,
                                    "channel": "C0GENERAL", "ts": "1.2"})
    assert event.response.status_code == 500
    errors = [r for r in debug_logs.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        f"unhandled error in a listener: RuntimeError('a bug in a listener') (type={kind})"
        for kind in ("slash_command", "view_submission", "block_actions", "event_callback")]
    assert MARKER not in debug_logs.text and "Traceback" not in debug_logs.text


async def test_malformed_socket_mode_payloads_do_not_stop_the_app(
    socket_bot: tuple[SlackEmulator, Services, int], debug_logs: pytest.LogCaptureFixture,
) -> None:
    """Socket Mode has no signature to check; a malformed payload is refused (or fails) alone,
    without its body in the log, and the next one is served."""
    slack, _, _ = socket_bot
    for kind, payload in (
        ("interactive", block_actions(actions=[])),
        ("interactive", view_submission(keys_view(private_metadata=[MARKER]))),
        ("events_api", {"type": "event_callback", "event": [MARKER]}),
        ("interactive", block_actions(authorizations=MARKER)),  # breaks Bolt's own parsing
    ):
        await slack.push(kind, payload)
    envelope = await slack.push("slash_commands", {
        "token": "x", "team_id": slack.team_id, "channel_id": "C0GENERAL",
        "user_id": "UALICE", "command": "/pin", "text": "help",
        "response_url": slack.response_url(), "trigger_id": "1.2.3", "api_app_id": "A0PINBOT",
    })
    await wait_for(lambda: envelope in slack.socket_acks)
    assert "/pin <CID> [name]" in text_of(slack.socket_acks[envelope]["payload"])
    refused = [r for r in debug_logs.records if "refused a malformed payload" in r.getMessage()]
    assert len(refused) == 3
    # The last one fails inside Bolt's request parsing, before pinbot can look: Socket Mode's
    # client logs that exception's message (nothing of the body) and carries on.
    assert MARKER not in debug_logs.text
