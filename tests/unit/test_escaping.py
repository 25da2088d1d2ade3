"""The one escaping path (`bot.text`) and the renderers and refusals that go through it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot import blocks
from bot.commands import CommandError, PinsQuery, parse_pin, parse_pins, parse_unpin
from bot.slack_files import SlackFile, check_file
from bot.text import BIDI_CONTROLS, escape, inline_name, neutralise, plain
from bot.w3ipfs import Pin, PinPage, Totals

LINK = "<https://evil.example|Re-authorise pinbot>"
FAKE_LINE = "report.pdf\n:lock: *Verified*: FAKE-LINE"
BIDI = "invoice\u202egpj.exe\u2066x\u2069\u200e\u200f\u061c"
HOSTILE_NAMES = [
    LINK, FAKE_LINE, BIDI, "<!channel> <!here> <@U0ADMIN> <#C0SECRET>",
    "a\r\nb\u2028c\u2029d\x85e\x0bf\x0cg", "tab\there\x00nul\x1besc\x7fdel",
    "&lt;already escaped&gt;", "\n\n\n", "\u202e",
]


def texts(node: Any, plain_only: bool = False) -> list[str]:
    """Every `text` string in a Block Kit structure (mrkdwn and plain_text alike; only the
    plain_text ones with `plain_only`)."""
    if isinstance(node, dict):
        own = isinstance(node.get("text"), str) and (
            not plain_only or node.get("type") == "plain_text")
        found = [node["text"]] if own else []
        return found + [t for value in node.values() for t in texts(value, plain_only)]
    if isinstance(node, list):
        return [t for item in node for t in texts(item, plain_only)]
    return []


def assert_safe(text: str, *, mrkdwn: bool = True) -> None:
    """No link or mention made of someone else's text (in mrkdwn), no bidi or control
    characters, and no line of it started by a name's line break."""
    if mrkdwn:
        assert "<https://evil" not in text and "<!channel>" not in text
        assert "<!here>" not in text and "<@U0ADMIN>" not in text and "<#C0SECRET>" not in text
    assert not any(ord(c) in BIDI_CONTROLS for c in text)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]", text)
    assert not re.search(r"(^|\n)\s*:lock: \*Verified\*: FAKE-LINE", text)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_inline_name_is_one_escaped_line(name: str) -> None:
    shown = inline_name(name, 200)
    assert_safe(shown)
    assert "\n" not in shown and "\t" not in shown
    assert not re.search(r"[<>]", shown) and not re.search(r"&(?!amp;|lt;|gt;)", shown)


def test_escape_is_one_line_too() -> None:
    assert escape("a<b>&c\r\nd\u2028e\u202ef") == "a&lt;b&gt;&amp;c d ef"
    assert escape(LINK) == "&lt;https://evil.example|Re-authorise pinbot&gt;"
    assert escape(FAKE_LINE) == "report.pdf :lock: *Verified*: FAKE-LINE"
    assert neutralise("a\r\nb\u2028c\u202e", inline=False) == "a\nb\nc"


def test_plain_neutralises_without_escaping() -> None:
    assert plain("a <b> & c\nd\u202e", 150) == "a <b> & c d"
    assert plain("x" * 200, 150) == "x" * 149 + "…"


def test_cut_happens_before_escaping() -> None:
    shown = inline_name("<" * 100, 10)
    assert shown == "&lt;" * 9 + "…"  # nine characters kept, each escaped whole


def test_neutralise_collapses_what_line_breaks_leave() -> None:
    assert neutralise("  a \n\n b\t\tc  ") == "a b c"
    assert neutralise("ok\u200d\U0001F469", inline=True) == "ok\u200d\U0001F469"  # ZWJ kept


def pin(name: str, **extra: Any) -> Pin:
    return Pin.model_validate({
        "id": "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2", "cid": "bafkreiexample", "size": 10,
        "status": "DONE", "metadata": {"name": name, "keyvalues": {name: name}}, **extra,
    })


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_every_rendering_of_a_hostile_name_is_safe(name: str) -> None:
    p = pin(name)
    owners = {p.id: blocks.Owner("UALICE", "C0GENERAL")}
    page = PinPage(pins=[p], totals=Totals(files=1, size=10))
    rendered: list[Any] = [
        blocks.pinning(name, 10), blocks.uploading(name, 10, 5, 1.0),
        blocks.pin_card(p, gateway_url="https://gw", file_name=name, verified=True,
                        local_cid="bafk"),
        blocks.pin_details(p, gateway_url="https://gw", owner=owners[p.id]),
        blocks.unpin_confirm([p], [name], []), blocks.failure(f"Could not pin {name}", "x"),
        blocks.unpin_result([blocks.UnpinOutcome(p.id, p), blocks.UnpinOutcome(name)]),
        blocks.unknown_pin(name),
        blocks.details_modal(p, gateway_url="https://gw", owner=None),
        blocks.unpin_modal(p), blocks.notice_modal(name, blocks.inline_name(name)),
        blocks.cleanup_preview("x", [p], 1, 10, "{}"),
        blocks.cleanup_summary("x", 1, 0, 0, [(name, "gone")]),
        blocks.pins_list(page, PinsQuery(), gateway_url="https://gw", owners=owners),
        blocks.home_view(blocks.HomeData(None, name, [p], [p], owners, True),
                         gateway_url="https://gw"),
    ]
    for message in rendered:
        payload = message.as_kwargs() if isinstance(message, blocks.Message) else message
        plain_texts = texts(payload, plain_only=True)
        for text in [*texts(payload), payload.get("text") or ""]:
            assert_safe(text, mrkdwn=text not in plain_texts)
        for text in plain_texts:
            assert "\n" not in text
    card = blocks.pin_card(p, gateway_url="https://gw", verified=True, local_cid="bafk")
    lines = "\n".join(texts(card.blocks)).splitlines()
    assert sum(line.startswith(":lock: *Verified*") for line in lines) == 1  # pinbot's own


def test_headers_and_titles_are_one_line() -> None:
    details = blocks.pin_details(pin(FAKE_LINE + BIDI), gateway_url="https://gw")
    header = details.blocks[0]["text"]["text"]
    assert header.startswith("report.pdf :lock:") and "\n" not in header
    assert not any(ord(c) in BIDI_CONTROLS for c in header)


def test_owner_mentions_only_well_formed_ids() -> None:
    assert blocks.Owner("UALICE", "C0GENERAL").describe() == (
        "pinned by <@UALICE> in <#C0GENERAL>")
    assert blocks.Owner("U1> <!channel", "C0GENERAL").describe() is None


@pytest.mark.parametrize(("options", "reason"), [
    ({"size": 0}, "empty"),
    ({"size": 10 ** 12}, "too_large"),
    ({"is_external": True}, "external"),
    ({"mode": "file_access", "url_private_download": None}, "file_access"),
    ({"mode": "tombstone"}, "deleted"),
    ({"url_private_download": None, "mode": "snippet\n<!channel>"}, "no_download"),
    ({"size": None}, "no_size"),
])
@pytest.mark.parametrize("name", [LINK, FAKE_LINE, BIDI])
def test_check_file_refusals_escape_the_name(
    options: dict[str, Any], reason: str, name: str
) -> None:
    data = {"id": "F1", "name": name, "size": 5, "user": "UBOB", "mode": "hosted",
            "url_private_download": "https://files.slack.com/x", **options}
    refusal = check_file(SlackFile.from_api(data), max_bytes=1000, bot_user_id="UBOT")
    assert refusal is not None and refusal.reason == reason
    assert_safe(refusal.message)
    assert "\n" not in refusal.message
    if name == LINK:
        assert "&lt;https://evil.example|Re-authorise pinbot&gt;" in refusal.message


@pytest.mark.parametrize(("parse", "text"), [
    (parse_pins, "<!channel>"), (parse_pins, "sort:<!here>"), (parse_unpin, "<!channel>"),
    (parse_unpin, "3c3fec2a-ca65 <https://evil.example|x>"), (parse_pin, "<!channel>x"),
    (parse_pin, "x<https://evil.example|Re-authorise>"),
])
def test_command_echoes_are_escaped(parse: Any, text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse(text)
    assert_safe(str(info.value))
    assert "&lt;" in str(info.value) or "&gt;" in str(info.value)  # echoed, escaped


def test_search_echo_is_escaped() -> None:
    query = parse_pins("find <!channel>\n:lock: *Verified*: FAKE-LINE")
    assert isinstance(query, PinsQuery)
    assert_safe(query.describe())
    assert "\n" not in query.describe() and "&lt;!channel&gt;" in query.describe()
