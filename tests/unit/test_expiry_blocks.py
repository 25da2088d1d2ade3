"""What retention says in Slack: the unpinned card and the 24-hour notice (bot/blocks.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot import blocks
from tests.unit.test_blocks import GW, LONG, assert_valid, dump, make_pin

WHEN = datetime(2026, 3, 14, 15, 9, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "policy"), [
    (90 * 86400, "90-day"), (5, "5-second"), (36 * 3600, "36-hour"), (14 * 86400, "2-week"),
])
def test_the_card_names_the_policy_and_offers_no_unpin_or_keep(seconds: int,
                                                                policy: str) -> None:
    pin = make_pin(pinned=False, date_unpinned="2026-03-14T15:09:00Z")
    msg = blocks.retention_unpinned_card(pin, gateway_url=GW, file_name="a.txt", size=10,
                                         shared_by="UALICE", verified=True,
                                         retention_seconds=seconds)
    assert_valid(msg)
    shown = dump(msg)
    assert f"Unpinned by the channel's {policy} retention policy" in shown
    assert blocks.UNPIN_BUTTON not in shown and blocks.KEEP_BUTTON not in shown
    assert "<@UALICE>" in shown and ":wastebasket:" in shown


def test_the_card_without_a_known_policy_length() -> None:
    pin = make_pin(pinned=False, date_unpinned="2026-03-14T15:09:00Z")
    msg = blocks.retention_unpinned_card(pin, gateway_url=GW, file_name=None, size=None,
                                         shared_by=None, verified=None, retention_seconds=None)
    assert "Unpinned by the channel's retention policy" in dump(msg)


def test_the_notice_says_when_and_why_with_a_keep_button() -> None:
    msg = blocks.expiry_notice("pin-123", "report.pdf", WHEN, 90 * 86400)
    assert_valid(msg)
    shown = dump(msg)
    assert "will be unpinned on" in shown and "by this channel's 90-day policy" in shown
    # The date in each reader's time zone, with a UTC fallback (also the notification).
    assert f"<!date^{int(WHEN.timestamp())}^" in shown and "2026-03-14 15:09 UTC" in shown
    assert "2026-03-14 15:09 UTC" in msg.text and "<!date" not in msg.text
    (button,) = [e for b in msg.blocks for e in b.get("elements", [])]
    assert button["action_id"] == blocks.KEEP_BUTTON and button["value"] == "pin-123"


@pytest.mark.parametrize("name", [LONG, "<!channel> *x* <https://evil|click>", "", "\u202e"])
def test_the_notice_escapes_the_name(name: str) -> None:
    msg = blocks.expiry_notice("pin-1", name, WHEN, 2 * 86400)
    assert_valid(msg)
    shown = json.dumps(msg.blocks) + msg.text
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "this channel's 2-day policy" in shown
