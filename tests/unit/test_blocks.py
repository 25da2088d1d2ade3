"""Every card and list rendered with edge data: valid for Slack, and saying the right things."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import blocks
from bot.commands import PinsQuery
from bot.w3ipfs import Pin, PinPage

GW = "https://gw.example"
CID = "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla"


def make_pin(i: int = 0, **overrides: Any) -> Pin:
    data: dict[str, Any] = {
        "id": f"3c3fec2a-ca65-4b8e-bcf3-{i:012d}",
        "cid": CID,
        "size": 1536 * (i + 1),
        "date_pinned": (datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i)).isoformat(),
        "date_unpinned": "0001-01-01T00:00:00Z",
        "pinned": True,
        "status": "DONE",
        "metadata": {"name": f"file-{i}.txt"},
    }
    data.update(overrides)
    return Pin.model_validate(data)


def dump(message: blocks.Message) -> str:
    return message.text + json.dumps(message.blocks, ensure_ascii=False)


def assert_valid(message: blocks.Message, limit: int = 50) -> None:
    assert len(message.blocks) <= limit
    assert 0 < len(message.text) <= 3000
    for block in message.blocks:
        assert len(block.get("block_id", "")) <= 255
        for element in block.get("elements", []):
            assert len(element.get("action_id", "")) <= 255
            assert len(element.get("value", "")) <= 2000
    ids = [e["action_id"] for b in message.blocks for e in b.get("elements", [])
           if "action_id" in e]
    assert len(ids) == len(set(ids)), "action ids must be unique within a message"


LONG = "Ω≈ç√∫µ≤≥÷ 📌 " * 400


def test_pin_card() -> None:
    msg = blocks.pin_card(make_pin(), gateway_url=GW, file_name="a.txt", size=10,
                          shared_by="UALICE", verified=True, local_cid=CID)
    assert_valid(msg)
    shown = dump(msg)
    assert CID in shown and "`" + CID + "`" in shown
    assert f"{GW}/ipfs/{CID}" in shown and "<@UALICE>" in shown and "Verified" in shown
    assert blocks.UNPIN_BUTTON in shown and "1.5 KiB" in shown


@pytest.mark.parametrize("name", [LONG, "<script>&", "", "x" * 10_000])
def test_pin_card_with_awkward_names(name: str) -> None:
    pin = make_pin(metadata={"name": name})
    msg = blocks.pin_card(pin, gateway_url=GW, verified=False, local_cid="bafk-local")
    assert_valid(msg)
    shown = dump(msg)
    assert "<script>" not in shown  # escaped
    assert "Not verified" in shown and "bafk-local" in shown


def test_pin_card_with_missing_fields() -> None:
    pin = Pin.model_validate({"id": "abcdef-123", "cid": None, "metadata": None, "status": None})
    msg = blocks.pin_card(pin, gateway_url=GW)
    assert_valid(msg)
    shown = dump(msg)
    assert "abcdef-123" in shown and "unknown" in shown
    assert "ipfs/" not in shown  # no gateway link without a CID


def test_unpinned_card_has_no_unpin_button() -> None:
    pin = make_pin(pinned=False, date_unpinned="2026-02-01T00:00:00Z", status="DONE")
    msg = blocks.unpinned_card(pin, gateway_url=GW, by_user="UBOB")
    assert_valid(msg)
    assert blocks.UNPIN_BUTTON not in dump(msg) and "Unpinned by <@UBOB>" in dump(msg)


def test_details_card() -> None:
    pin = make_pin(metadata={"name": LONG, "keyvalues": {"team": "T1", "k" * 50: "v" * 3000}},
                   is_dir=True)
    msg = blocks.pin_details(pin, gateway_url=GW)
    assert_valid(msg)
    header = msg.blocks[0]
    assert header["type"] == "header" and len(header["text"]["text"]) <= 150
    assert "directory" in dump(msg) and blocks.SHARE_PIN in dump(msg)


@pytest.mark.parametrize("count", [0, 1, 10, 50])
def test_pins_list(count: int) -> None:
    pins = [make_pin(i, metadata={"name": LONG if i % 2 else f"ünïcødé-{i}"}) for i in range(count)]
    page = PinPage(totals={"files": 123, "size": 10**9}, pins=pins, offset=10, limit=10)  # type: ignore[arg-type]
    msg = blocks.pins_list(page, PinsQuery("pinned", "size", "asc", 10), gateway_url=GW)
    assert_valid(msg)
    shown = dump(msg)
    assert "123 pins" in shown and "954 MiB" in shown
    rows = [b for b in msg.blocks if b.get("accessory", {}).get("action_id") == blocks.ROW_MENU]
    assert len(rows) == min(count, 40)
    for row in rows:
        options = row["accessory"]["options"]
        assert [o["value"].split(":")[0] for o in options] == ["details", "open", "unpin"]
        assert options[1]["url"].startswith(f"{GW}/ipfs/")
    if count:
        assert f"{blocks.PAGE_BUTTON}_prev" in shown and f"{blocks.PAGE_BUTTON}_next" in shown


def test_pins_list_first_and_last_page_buttons() -> None:
    first = PinPage(totals={"files": 3, "size": 3}, pins=[make_pin(i) for i in range(3)],  # type: ignore[arg-type]
                    offset=0, limit=10)
    shown = dump(blocks.pins_list(first, PinsQuery(), gateway_url=GW))
    assert "_prev" not in shown and "_next" not in shown and blocks.SHARE_LIST in shown
    shared = dump(blocks.pins_list(first, PinsQuery(), gateway_url=GW, shared=True))
    assert blocks.SHARE_LIST not in shared


def test_unpinned_rows_offer_no_unpin() -> None:
    pin = make_pin(pinned=False, date_unpinned="2026-02-01T00:00:00Z")
    page = PinPage(totals={"files": 1, "size": 1}, pins=[pin])  # type: ignore[arg-type]
    row = blocks.pins_list(page, PinsQuery(), gateway_url=GW).blocks[2]
    assert [o["value"].split(":")[0] for o in row["accessory"]["options"]] == ["details", "open"]


def test_unpin_confirm_and_result() -> None:
    pins = [make_pin(i) for i in range(20)]
    msg = blocks.unpin_confirm(pins, ["nope-1234", "<bad>"])
    assert_valid(msg)
    shown = dump(msg)
    assert "these 20 pins" in shown and "nope-1234" in shown and "&lt;bad&gt;" in shown
    value = json.loads(next(e["value"] for b in msg.blocks for e in b.get("elements", [])
                            if e.get("action_id") == blocks.UNPIN_CONFIRM))
    assert value == [p.id for p in pins]
    nothing = blocks.unpin_confirm([], ["nope-1234"])
    assert blocks.UNPIN_CONFIRM not in dump(nothing)
    result = blocks.unpin_result(
        [blocks.UnpinOutcome(pins[0].id, pin=pins[0]),
         blocks.UnpinOutcome("nope-1234", error="no such pin")], "UBOB")
    assert_valid(result)
    assert "Unpinned 1 of 2" in result.text and "no such pin" in dump(result)


@pytest.mark.parametrize("command", ["/pin", "/pins", "/unpin"])
def test_usage(command: str) -> None:
    msg = blocks.usage(command)
    assert_valid(msg)
    assert command in msg.text


def test_notices() -> None:
    assert_valid(blocks.notice("hello"))
    assert_valid(blocks.failure("Could not pin " + LONG, "reason " * 1000))
    assert_valid(blocks.pinning(LONG, 10))


def test_home_view_with_edge_data_stays_within_limits() -> None:
    pins = [make_pin(i, metadata={"name": LONG}) for i in range(50)]
    data = blocks.HomeData(
        totals=None, keys_state="keys rejected", mine=pins, latest=pins,
        owners={p.id: blocks.Owner("U1", "C1") for p in pins}, is_admin=True,
        channel_settings=[(f"C{i:08d}", i % 2 == 0, "UADMIN") for i in range(80)],
    )
    view = blocks.home_view(data, gateway_url=GW)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = json.dumps(view, ensure_ascii=False)
    assert "rejects the keys" in text and "Totals unavailable" in text and "Clean up" in text
    member = blocks.home_view(blocks.HomeData(None, "ok", [], [], {}, False), gateway_url=GW)
    assert "Admin" not in json.dumps(member) and "not pinned anything" in json.dumps(member)


def test_cleanup_views() -> None:
    modal = blocks.cleanup_modal()
    assert modal["submit"]["text"] == "Preview" and len(modal["blocks"]) <= 100
    rows = [make_pin(i) for i in range(30)]
    preview = blocks.cleanup_preview("older than 90 days", rows, 30, 10**9, "{}")
    text = json.dumps(preview, ensure_ascii=False)
    assert "*30 pins*" in text and "…and 20 more" in text and preview["submit"]
    empty = blocks.cleanup_preview("x", [], 0, 0, "{}")
    assert "submit" not in empty and "Nothing to remove" in json.dumps(empty)
    summary = blocks.cleanup_summary("x", 3, 1, 1, [("a.txt", "The service said no")])
    assert_valid(summary)
    assert "1 unpinned" in dump(summary) and "a.txt" in dump(summary)


def test_shortcut_choice() -> None:
    msg = blocks.shortcut_choice(3, '{"c":"C1","ts":"1.0"}')
    assert_valid(msg)
    assert "*3 files*" in dump(msg)
    assert {blocks.PIN_EACH, blocks.PIN_FOLDER} <= {
        e["action_id"] for b in msg.blocks for e in b.get("elements", [])}
