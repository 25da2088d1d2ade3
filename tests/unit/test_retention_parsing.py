"""`/pin retention`, `/pin keep`, `/pin unkeep`: what is accepted, and the help when it is not;
and how cards and `/pins` rows show a pin's expiry or that it is kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from bot import blocks
from bot.commands import USAGE, CommandError, Keep, PinsQuery, Retention, parse_pin
from bot.pins.channel_retention import typed
from bot.w3ipfs import Pin, PinMetadata, PinPage, Totals

PIN_ID = "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2"


@pytest.mark.parametrize(("text", "expected"), [
    ("retention", Retention(None)),
    ("RETENTION", Retention(None)),
    ("retention 5s", Retention(5)),
    ("retention 90d", Retention(90 * 86400)),
    ("retention 12h", Retention(43200)),
    ("retention 30m", Retention(1800)),
    ("retention 45", Retention(45)),
    ("retention off", Retention(0)),
    ("retention OFF", Retention(0)),
    ("retention 30d --apply-to-existing", Retention(30 * 86400, True)),
    ("retention --apply-to-existing 30d", Retention(30 * 86400, True)),
    ("retention 30d \u2014apply-to-existing", Retention(30 * 86400, True)),  # Slack's em dash
    ("retention 30d \u2013apply-to-existing", Retention(30 * 86400, True)),
    ("retention off --apply-to-existing", Retention(0, True)),
])
def test_retention(text: str, expected: Retention) -> None:
    assert parse_pin(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("retention 0", "at least 1 second"),
    ("retention 0s", "at least 1 second"),
    ("retention 0.5s", "at least 1 second"),
    ("retention forever", "not a duration I know"),
    ("retention -5d", "not a duration I know"),
    ("retention 5y", "not a duration I know"),
    ("retention 90d 30d", "one duration"),
    ("retention --apply-to-existing", "Say which policy"),
    ("retention <!channel>", "not a duration I know"),
])
def test_retention_refusals_name_examples(text: str, says: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_pin(text)
    message = str(info.value)
    assert says in message
    assert all(example in message for example in ("45s", "30m", "12h", "90d")) or (
        "apply-to-existing" in message)
    assert "<!channel>" not in message  # echoes are escaped


@pytest.mark.parametrize(("text", "expected"), [
    (f"keep {PIN_ID}", Keep(PIN_ID, True)),
    (f"KEEP {PIN_ID}", Keep(PIN_ID, True)),
    (f"unkeep {PIN_ID}", Keep(PIN_ID, False)),
])
def test_keep(text: str, expected: Keep) -> None:
    assert parse_pin(text) == expected


@pytest.mark.parametrize("text", ["keep", "unkeep", f"keep {PIN_ID} {PIN_ID}", "keep ../apiKeys",
                                  "keep pins", "unkeep %2e%2e"])
def test_keep_refuses_what_is_not_one_pin_id(text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_pin(text)
    assert "/pins" in str(info.value)


def test_help_lists_the_new_commands() -> None:
    usage = USAGE["/pin"]
    for part in ("/pin retention <duration>|off", "--apply-to-existing", "/pin keep <pin id>",
                 "/pin unkeep <pin id>", "45s"):
        assert part in usage


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "5s"), (1800, "30m"), (43200, "12h"), (90 * 86400, "90d"), (14 * 86400, "2w"),
    (129600, "36h"), (61, "61s"),
])
def test_typed_duration_round_trips(seconds: int, text: str) -> None:
    assert typed(seconds) == text
    assert parse_pin(f"retention {text}") == Retention(seconds)


# -- rendering -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    kept: bool = False
    kept_by: str | None = None
    expires_at: datetime | None = None
    retention_seconds: int | None = None


EXPIRES = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def pin(pinned: bool = True) -> Pin:
    return Pin(id=PIN_ID, cid="bafkreiabc", size=10, pinned=pinned,
               status="DONE" if pinned else "UNPINNED", metadata=PinMetadata(name="a.txt"))


def actions_of(message: blocks.Message) -> list[str]:
    return [e.get("action_id", "") for b in message.blocks for e in b.get("elements", [])
            if b["type"] == "actions"]


def test_card_of_an_expiring_pin_says_when_and_offers_keep() -> None:
    card = blocks.pin_card(pin(), gateway_url="https://gw",
                           retention=Facts(expires_at=EXPIRES, retention_seconds=90 * 86400))
    shown = json.dumps(card.blocks)
    assert f"<!date^{int(EXPIRES.timestamp())}^" in shown and "2030-01-02 03:04 UTC" in shown
    assert "90-day" in shown and "Will be unpinned on" in shown
    keep = [e for b in card.blocks for e in b.get("elements", [])
            if e.get("action_id") == blocks.KEEP_BUTTON]
    assert keep and keep[0]["value"] == PIN_ID


def test_card_of_a_kept_pin_says_who_and_has_no_keep_button() -> None:
    card = blocks.pin_card(pin(), gateway_url="https://gw", retention=Facts(
        kept=True, kept_by="UALICE", expires_at=EXPIRES, retention_seconds=5))
    shown = json.dumps(card.blocks)
    assert "Kept by <@UALICE>" in shown and "Will be unpinned" not in shown
    assert blocks.KEEP_BUTTON not in actions_of(card)


@pytest.mark.parametrize(("facts", "pinned"), [
    (None, True), (Facts(), True), (Facts(expires_at=EXPIRES, retention_seconds=5), False),
])
def test_no_keep_without_an_expiry_or_once_unpinned(facts: Facts | None, pinned: bool) -> None:
    card = blocks.pin_card(pin(pinned), gateway_url="https://gw", retention=facts)
    assert blocks.KEEP_BUTTON not in actions_of(card)
    assert "Will be unpinned" not in json.dumps(card.blocks)


def test_a_forged_kept_by_is_not_a_mention() -> None:
    line = blocks.kept_line(Facts(kept=True, kept_by="<!channel>"))
    assert line is not None and "<!channel>" not in line and "<@" not in line


def test_rows_mark_kept_and_expiring_pins() -> None:
    other = Pin(id="9c3fec2a-0000-4b8e-bcf3-c8e2ceaa23d2", cid="bafkreidef", size=5,
                pinned=True, status="DONE", metadata=PinMetadata(name="b.txt"))
    page = PinPage(totals=Totals(files=2, size=15), pins=[pin(), other], offset=0, limit=10)
    owners = {
        PIN_ID: blocks.Owner("UALICE", "C0GENERAL", kept=True, kept_by="UBOB"),
        other.id: blocks.Owner("UALICE", "C0GENERAL", expires_at=EXPIRES, retention_seconds=5),
    }
    shown = json.dumps(blocks.pins_list(page, PinsQuery(), gateway_url="https://gw",
                                        owners=owners).blocks)
    assert "Kept by <@UBOB>" in shown
    assert f"Unpinned on <!date^{int(EXPIRES.timestamp())}^" in shown


def test_preview_carries_the_channel_and_duration() -> None:
    message = blocks.retention_preview("C0OLD", 1800, pins=3, size=3 * 2**30, due=2, kept=1,
                                       value='{"c":"C0OLD","s":1800}')
    shown = json.dumps(message.blocks)
    assert "30-minute policy to *3 pins* (3.0 GiB) already in <#C0OLD>" in shown
    assert "*2* of them would be unpinned at the next sweep" in shown
    assert "1 kept pin is not touched" in shown
    assert actions_of(message) == [blocks.RETENTION_APPLY, blocks.RETENTION_CANCEL]
