"""Hostile input through the real app, on the wire: names and command texts in every message
pinbot posts, ids through every entry point, modal values, and replayed interactions."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.blocks import (
    CLEANUP_CONFIRM,
    CLEANUP_MODAL,
    HOME_ROW_MENU,
    ROW_MENU,
    SHARE_PIN,
    UNPIN_BUTTON,
    UNPIN_CONFIRM,
    UNPIN_MODAL,
)
from bot.text import BIDI_CONTROLS
from bot.w3ipfs import NotFoundError
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.slack_driver import Sent

#: A name that would be a link in pinbot's voice, a fake "Verified" line, a mention and a
#: bidi override — all at once.
NAME = ("<https://evil.example|Re-authorise pinbot>\n:lock: *Verified*: FAKE-LINE "
        "<!channel> \u202egpj.exe")
ESCAPED_LINK = "&lt;https://evil.example|Re-authorise pinbot&gt;"
HOSTILE_IDS = [
    ".", "..", "%2e%2e", "../apiKeys", "../apiKeys/testAuthentication", "..%2F..%2Fapi",
    "x" * 10240, "", "ünïcødé-123", "pinByHash", "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2/..",
    "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2\n",
]
#: What the pinning API may be asked, whatever the input: one pin id segment, the listing,
#: uploads, and the keys check the Home tab's health line makes.
ALLOWED_PATH = re.compile(
    r"/pinning/(?:unpin/)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|/pinning/pins/?|/pinning/?|/pinning/pinByHash|/apiKeys/testAuthentication"
)


def posted(bot: Bot, *acks: Sent) -> list[Any]:
    """Everything pinbot said: Web API calls (chat.*, views.*), posts to response URLs, and
    the bodies of its HTTP acks (slash command replies, view_submission answers)."""
    out: list[Any] = [c.args for c in bot.slack.calls
                      if c.method.startswith(("chat.", "views."))]
    out += [post for posts in bot.slack.responses.values() for post in posts]
    out += [a.body for a in acks if a.response.content]
    return out


def shown(node: Any, plain: bool = False) -> list[tuple[str, bool]]:
    """(text, is_plain_text) for every string a person reads in a message or view."""
    if isinstance(node, dict):
        is_plain = node.get("type") == "plain_text"
        out = [(node["text"], is_plain)] if isinstance(node.get("text"), str) else []
        if isinstance(node.get("errors"), dict):  # inline errors of a view submission
            out += [(str(v), True) for v in node["errors"].values()]
        for key, value in node.items():
            nested_text = key == "text" and not isinstance(value, str)  # a text object
            if nested_text or key not in ("text", "errors", "private_metadata", "value", "url"):
                out += shown(value, is_plain)
        return out
    if isinstance(node, list):
        return [t for item in node for t in shown(item, plain)]
    return []


def assert_all_safe(messages: list[Any]) -> list[str]:
    texts = [t for message in messages for t in shown(message)]
    assert texts, "nothing was posted: the test saw no message"
    for text, is_plain in texts:
        where = f"in {text[:200]!r}"
        if not is_plain:
            assert "<https://evil" not in text and "<!channel>" not in text, where
        assert not any(ord(c) in BIDI_CONTROLS for c in text), where
        assert not re.search(r"(^|\n)\s*:lock: \*Verified\*: FAKE-LINE", text), where
        if is_plain:
            assert "\n" not in text or "FAKE-LINE" not in text, where
    return [t for t, _ in texts]


async def test_hostile_names_and_command_texts_in_every_message(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UALICE", PINBOT_MAX_FILE_MB=1)
    acks: list[Sent] = []
    pinned = bot.slack.add_file(NAME, b"the real bytes " * 100)
    refused = [
        bot.slack.add_file(NAME, b""),  # empty
        bot.slack.add_file(NAME, size=2 * 1024 * 1024),  # over the limit
        bot.slack.add_file(NAME, b"x", external=True),
        bot.slack.add_file(NAME, b"x", file_access=True),
    ]
    for fake in [pinned, *refused]:
        assert (await bot.driver.file_shared(fake)).response.status_code == 200
        await bot.idle()
    bot.slack.share_again(pinned, "C0OTHER")  # a second channel gets a card for the same pin
    await bot.driver.file_shared(pinned, channel="C0OTHER")
    await bot.idle()
    (pin,) = bot.w3ipfs.all_pins()
    for command, text in [
        ("/pins", ""), ("/pins", pin["id"]), ("/pins", "<!channel>"),
        ("/pins", "find <!channel>\n:lock: *Verified*: FAKE-LINE"), ("/pins", "find evil"),
        ("/pins", "sort:<!channel>"), ("/unpin", "<!channel>"), ("/unpin", pin["id"]),
        ("/pin", "<!channel>"), ("/pin", "x<https://evil.example|Re-authorise pinbot>"),
    ]:
        acks.append(await bot.driver.command(command, text))
        await bot.services.tasks.join(10)
    bot.slack.add_user("UBOB")
    acks.append(await bot.driver.command("/unpin", pin["id"], user="UBOB"))  # refused: names it
    acks.append(await bot.driver.action(UNPIN_BUTTON, value=pin["id"], user="UBOB"))
    acks.append(await bot.driver.action(SHARE_PIN, value=pin["id"]))
    await bot.driver.event({"type": "app_home_opened", "user": "UALICE", "channel": "D0HOME",
                            "tab": "home", "event_ts": f"{time.time():.6f}"})
    acks.append(await bot.driver.view_submission(CLEANUP_MODAL, values={
        "name": {"v": {"type": "plain_text_input", "value": "evil"}}}))
    acks.append(await bot.driver.action(UNPIN_BUTTON, value=pin["id"]))
    await bot.idle()
    assert all(a.response.status_code == 200 for a in acks)
    texts = assert_all_safe(posted(bot, *acks))
    # The name was shown, escaped, in each kind of message (so the checks above saw them).
    refusals = [t for note in bot.slack.ephemeral for t, _ in shown(note)]
    for word in ("empty", "MiB", "outside Slack", "Slack Connect"):
        assert any(word in t and ESCAPED_LINK in t for t in refusals), word
    card = bot.slack.thread(pinned.channel, pinned.ts)[0]
    assert any(ESCAPED_LINK in t and "FAKE-LINE" in t for t, _ in shown(card))
    assert sum(t.count("&lt;!channel&gt;") for t in texts) >= 8  # names and echoes
    assert any("Unpinned" in t and ESCAPED_LINK in t for t in texts)
    assert any("Only <@UALICE>" in t and ESCAPED_LINK in t for t in texts)  # Bob's refusal


Send = Callable[[Bot, str], Awaitable[tuple[Sent, Callable[[], bool]]]]


async def _action(bot: Bot, action_id: str, **kwargs: Any) -> tuple[Sent, Callable[[], bool]]:
    sent = await bot.driver.action(action_id, **kwargs)
    assert sent.response_url is not None
    url = sent.response_url
    return sent, lambda: bool(bot.slack.response_posts(url))


async def _home_menu(bot: Bot, value: str) -> tuple[Sent, Callable[[], bool]]:
    before = len(bot.slack.calls_to("views.open"))
    sent = await bot.driver.action(HOME_ROW_MENU, selected_value=value)
    return sent, lambda: len(bot.slack.calls_to("views.open")) > before


async def _view(bot: Bot, callback: str, metadata: str) -> tuple[Sent, Callable[[], bool]]:
    sent = await bot.driver.view_submission(callback, private_metadata=metadata)
    return sent, lambda: sent.body.get("response_action") == "update"


async def _command(bot: Bot, command: str, text: str) -> tuple[Sent, Callable[[], bool]]:
    sent = await bot.driver.command(command, text)
    url = sent.response_url or ""
    return sent, lambda: bool(sent.body.get("text") or bot.slack.response_posts(url))


ENTRY_POINTS: dict[str, Send] = {
    "share button": lambda bot, v: _action(bot, SHARE_PIN, value=v),
    "unpin button": lambda bot, v: _action(bot, UNPIN_BUTTON, value=v),
    "unpin confirm": lambda bot, v: _action(bot, UNPIN_CONFIRM, value=json.dumps([v])),
    "unpin confirm, raw": lambda bot, v: _action(bot, UNPIN_CONFIRM, value=v),
    "row menu details": lambda bot, v: _action(bot, ROW_MENU, selected_value=f"details:{v}"),
    "row menu unpin": lambda bot, v: _action(bot, ROW_MENU, selected_value=f"unpin:{v}"),
    "home menu details": lambda bot, v: _home_menu(bot, f"details:{v}"),
    "home menu unpin": lambda bot, v: _home_menu(bot, f"unpin:{v}"),
    "home unpin modal": lambda bot, v: _view(bot, UNPIN_MODAL, v),
    "cleanup confirm": lambda bot, v: _view(bot, CLEANUP_CONFIRM, json.dumps(
        {"channel_id": v})),
    "cleanup confirm, raw": lambda bot, v: _view(bot, CLEANUP_CONFIRM, v),
    "/pins <id>": lambda bot, v: _command(bot, "/pins", v),
    "/unpin <id>": lambda bot, v: _command(bot, "/unpin", v),
}


async def test_hostile_ids_never_leave_one_path_segment(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UALICE")  # an admin: every path is open to her
    await bot.services.w3ipfs.pin_file(b"keep me", "keep.txt")
    bot.w3ipfs.requests.clear()
    acks: list[Sent] = []
    for entry, send in ENTRY_POINTS.items():
        for value in HOSTILE_IDS:
            sent, answered = await send(bot, value)
            await bot.services.tasks.join(10)  # the replies (no upload job is involved)
            acks.append(sent)
            assert sent.response.status_code == 200, (entry, value[:40])
            assert answered(), f"{entry} gave no answer to {value[:40]!r}"
            for request in bot.w3ipfs.requests:
                assert ALLOWED_PATH.fullmatch(request.path), (entry, value[:40], request.path)
    await bot.idle()
    assert all(p["pinned"] for p in bot.w3ipfs.all_pins())
    assert not bot.slack.calls_to("chat.postMessage")  # no cleanup started, nothing shared
    assert_all_safe(posted(bot, *acks))


async def test_the_client_refuses_ids_that_are_not_one_path_segment(bot: Bot) -> None:
    for value in (".", "..", "", "x" * 300):
        with pytest.raises(NotFoundError):
            await bot.services.w3ipfs.get_pin(value)
        with pytest.raises(NotFoundError):
            await bot.services.w3ipfs.unpin(value)
    assert bot.w3ipfs.requests == []  # refused before any request
    with pytest.raises(NotFoundError):
        await bot.services.w3ipfs.get_pin("%2e%2e")  # quoted: one segment, asked, unknown
    assert [r.path for r in bot.w3ipfs.requests] == ["/pinning/%252e%252e"]


def values(**fields: str) -> dict[str, Any]:
    return {block: {"v": {"type": "plain_text_input", "value": value}}
            for block, value in fields.items()}


async def test_hostile_cleanup_values_are_answered_in_the_dialog(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    await bot.driver.command("/pins", "cleanup", user="UADMIN")
    await bot.idle()
    modal = bot.slack.calls_to("views.open")[-1].args["view"]
    inputs = [b["element"] for b in modal["blocks"] if b["type"] == "input"
              and b["element"]["type"] == "plain_text_input"]
    assert len(inputs) == 3 and all(0 < e["max_length"] <= 100 for e in inputs)
    for older in ("inf", "nan", "1e9", "-5", "1e400", "x" * 3000):
        sent = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN",
                                                values=values(older=older, larger=older))
        assert sent.response.status_code == 200
        assert sent.body["response_action"] == "errors"
        assert set(sent.body["errors"]) == {"older", "larger"}
    forged = {"name": {"v": {"value": "n" * 2990}},
              "channel": {"v": {"selected_conversation": "../apiKeys"}},
              "user": {"v": {"selected_user": ["U1"]}}, "older": {"v": {"value": {"a": 1}}}}
    sent = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN", values=forged)
    assert sent.response.status_code == 200 and sent.body["response_action"] == "errors"
    assert set(sent.body["errors"]) == {"name", "channel", "user", "older"}
    widest = values(older="36500", larger="10000000", name="\U0001F600\"\\<" * 25)
    widest["channel"] = {"v": {"selected_conversation": "C" * 32}}
    widest["user"] = {"v": {"selected_user": "U" * 32}}
    preview = await bot.driver.view_submission(CLEANUP_MODAL, user="UADMIN", values=widest)
    assert preview.body["response_action"] == "update"
    assert len(preview.body["view"]["private_metadata"]) <= 3000
    for metadata in ("", "[]", "x" * 10240, json.dumps({"older_than_days": 1e308}),
                     '{"older_than_days": Infinity}', json.dumps({"name_contains": "n" * 2990}),
                     "[" * 2000):
        sent = await bot.driver.view_submission(CLEANUP_CONFIRM, user="UADMIN",
                                                private_metadata=metadata)
        assert sent.response.status_code == 200 and sent.body["response_action"] == "update"
        assert "could not be read" in json.dumps(sent.body["view"])
    await bot.idle()
    assert not bot.slack.bot_messages("UADMIN")  # no cleanup ran
    assert not bot.w3ipfs.api_requests("DELETE")


async def test_replayed_interactions_act_once(make_bot: BotFactory) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UALICE")
    shared = await bot.services.w3ipfs.pin_file(b"share me", "share.txt")
    doomed = await bot.services.w3ipfs.pin_file(b"unpin me", "unpin.txt")

    share = await bot.driver.action(SHARE_PIN, value=shared.id, ephemeral=False)
    replays = [await bot.driver.replay(share) for _ in range(3)]
    await bot.idle()
    assert all(r.response.status_code == 200 for r in [share, *replays])
    assert share.response_url is not None
    assert len(bot.slack.response_posts(share.response_url)) == 1  # one channel post
    assert bot.slack.response_posts(share.response_url)[0]["response_type"] == "in_channel"
    again = await bot.driver.action(SHARE_PIN, value=shared.id)  # a real second click
    await bot.idle()
    assert again.response_url is not None and len(bot.slack.response_posts(
        again.response_url)) == 1

    submit = await bot.driver.view_submission(UNPIN_MODAL, private_metadata=doomed.id)
    for _ in range(3):
        assert (await bot.driver.replay(submit)).response.status_code == 200
    await bot.idle()
    assert len(bot.w3ipfs.api_requests("DELETE", f"/pinning/unpin/{doomed.id}")) == 1

    shortcut = await bot.driver.message_shortcut("pin_to_ipfs", "C0GENERAL", "1.000009",
                                                  with_files=False)
    for _ in range(3):
        assert (await bot.driver.replay(shortcut)).response.status_code == 200
    await bot.idle()
    assert shortcut.response_url is not None
    assert len(bot.slack.response_posts(shortcut.response_url)) == 1
