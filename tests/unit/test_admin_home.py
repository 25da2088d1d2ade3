"""App Home's admin sections (this month's use, policies, expiring pins): limits and escaping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot import blocks
from bot.store.policies import ChannelPolicy
from bot.store.stats import Expiring, ExpiringPin, MonthUse, UseRow
from tests.unit.test_blocks import make_pin
from tests.unit.test_escaping import HOSTILE_NAMES, assert_safe, texts

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GW = "https://gw.example"


def overview(*, policies: int = 3, due: int = 3) -> blocks.AdminOverview:
    channels = [UseRow(f"C{i:08d}", 9 - i, 2**30 >> i) for i in range(4)] + [UseRow(None, 1, 0)]
    people = [UseRow(f"U{i:08d}", 9 - i, 2**30 >> i) for i in range(4)]
    use = MonthUse(datetime(2026, 11, 1, tzinfo=UTC), 42, 5 * 2**30, channels,
                   [*people, UseRow("bad id", 1, 0)])
    names = (HOSTILE_NAMES * 3)[:10]
    pins = [ExpiringPin(f"pin-{i}", names[i], "C0EXPIRE", NOW + timedelta(hours=i), 10)
            for i in range(min(due, 10))]
    rows = [ChannelPolicy("T1", f"C{i:08d}", [None, 0, 5, 90 * 86400][i % 4],
                          [None, 2 * 10**9][i % 2], "UADMIN") for i in range(policies)]
    return blocks.AdminOverview(use=use, policies=rows, default_retention=90 * 86400,
                                quota_user_bytes=500 * 10**6,
                                expiring=Expiring(pins, due, due * 10, NOW + timedelta(days=7)))


def home(data_admin: bool, view_of: blocks.AdminOverview | None) -> dict[str, object]:
    pins = [make_pin(i, metadata={"name": "x" * 300}) for i in range(10)]
    data = blocks.HomeData(totals=None, keys_state="ok", mine=pins, latest=pins, owners={},
                           is_admin=data_admin,
                           channel_settings=[(f"C{i:08d}", True, "UADMIN") for i in range(80)])
    return blocks.home_view(data, gateway_url=GW, overview=view_of)


def test_sections_show_use_policies_and_due_pins() -> None:
    view = home(True, overview())
    text = json.dumps(view, ensure_ascii=False)
    for expected in ("Workspace use this month", "*42 files* · *5.0 GiB* pinned in November 2026",
                     "<#C00000000> · 1.0 GiB · 9 files", "_no channel_", "<@U00000000>",
                     "_someone outside Slack_", "retention *90-day* (`PINBOT_RETENTION`)",
                     "quota *500 MB* per 30 days", "quota *2 GB* per 30 days",
                     "<#C00000000>: retention follows the default",
                     "<#C00000001>: retention *off* (kept)", "<#C00000002>: retention *5-second*",
                     "(set by <@UADMIN>)", "Due to expire in the next 7 days",
                     "*3 pins* · *30 B* due by 2026-11-27 12:00 UTC", "in <#C0EXPIRE> ·"):
        assert expected in text, expected
    assert "…and" not in text.split("Retention and quotas")[1]


def test_long_lists_are_cut_and_counted_within_limits() -> None:
    view = home(True, overview(policies=200, due=500))
    assert len(view["blocks"]) <= 100  # type: ignore[arg-type]
    text = json.dumps(view, ensure_ascii=False)
    assert "…and 180 more channels" in text and "…and 490 more" in text
    assert "*500 pins*" in text
    for shown in texts(view["blocks"]):
        assert len(shown) <= 3000


def test_file_names_are_escaped() -> None:
    view = home(True, overview(due=10))
    due = [t for t in texts(view["blocks"]) if "due by" in t]
    assert len(due) == 1
    assert_safe(due[0])
    assert due[0].count("\n") == 10  # one line each: no name makes a line of its own


def test_parts_that_could_not_be_read_say_so() -> None:
    empty = blocks.AdminOverview(use=None, policies=None, default_retention=None,
                                 quota_user_bytes=None, expiring=None)
    text = json.dumps(home(True, empty))
    assert "use is unavailable" in text and "policies are unavailable" in text
    assert "Expiring pins are unavailable" in text
    assert "retention *off* (kept)" in text and "quota *none*" in text
    quiet = blocks.AdminOverview(
        use=MonthUse(NOW, 0, 0, [], []), policies=[], default_retention=None,
        quota_user_bytes=None, expiring=Expiring([], 0, 0, NOW))
    text = json.dumps(home(True, quiet), ensure_ascii=False)
    assert "*0 files* · *0 B*" in text and "Top channels" not in text
    assert "No channel has its own policy yet" in text and "Nothing is due" in text


def test_not_shown_to_members() -> None:
    text = json.dumps(home(False, overview()))
    assert "Workspace use this month" not in text and "Due to expire" not in text
