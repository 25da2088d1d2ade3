"""Quotas, the pure parts: when space frees up, how a refusal reads, `/pin quota` parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot import blocks
from bot.commands import CommandError, Quota, parse_pin
from bot.format import decimal_size
from bot.quotas import WINDOW, QuotaRefusal, QuotaUse, frees_up_at
from bot.store.usage import Counted

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MB = 10**6


def pins(*ages_and_sizes: tuple[float, int]) -> list[Counted]:
    """Counted pins made `days` ago, of `size` bytes (ids in claim order)."""
    return [Counted(i, NOW - timedelta(days=days), size)
            for i, (days, size) in enumerate(ages_and_sizes, 1)]


def test_frees_up_when_the_oldest_pin_leaves_the_window() -> None:
    counted = pins((20, 300 * MB), (5, 150 * MB))  # 450 MB used of 500
    # 120 MB more needs 70 MB freed: the 20-day-old pin leaves in 10 days.
    assert frees_up_at(counted, size=120 * MB, limit=500 * MB, now=NOW) == (
        NOW + timedelta(days=10))


def test_frees_up_only_when_enough_pins_left() -> None:
    counted = pins((29, 10 * MB), (25, 10 * MB), (3, 400 * MB))  # 420 MB used of 500
    # 200 MB more needs 120 MB freed: the two small old pins are not enough, the big one is.
    assert frees_up_at(counted, size=200 * MB, limit=500 * MB, now=NOW) == (
        NOW + timedelta(days=27))


def test_frees_up_in_age_order_whatever_the_input_order() -> None:
    counted = list(reversed(pins((29, 100 * MB), (1, 100 * MB))))
    assert frees_up_at(counted, size=50 * MB, limit=200 * MB, now=NOW) == (
        NOW + timedelta(days=1))


def test_a_file_larger_than_the_quota_never_fits() -> None:
    assert frees_up_at(pins((1, MB)), size=600 * MB, limit=500 * MB, now=NOW) is None


def test_a_file_that_fits_fits_now() -> None:
    assert frees_up_at(pins((1, MB)), size=MB, limit=500 * MB, now=NOW) == NOW


def test_an_exact_fit_is_enough() -> None:
    counted = pins((10, 300 * MB), (2, 200 * MB))
    assert frees_up_at(counted, size=300 * MB, limit=500 * MB, now=NOW) == (
        NOW + timedelta(days=20))


def test_never_in_the_past() -> None:
    """A pin older than the window (clock skew between hosts) frees space now, not before."""
    counted = [Counted(1, NOW - WINDOW - timedelta(hours=1), 500 * MB)]
    assert frees_up_at(counted, size=MB, limit=500 * MB, now=NOW) == NOW


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 bytes"), (1, "1 byte"), (999, "999 bytes"), (1000, "1 KB"), (600_000, "600 KB"),
    (1_500_000, "1.5 MB"), (1_234_567, "1.23 MB"), (12_345_678, "12.3 MB"),
    (120 * MB, "120 MB"), (500 * MB, "500 MB"), (10 * MB, "10 MB"), (2 * 10**9, "2 GB"),
])
def test_decimal_size(size: int, shown: str) -> None:
    assert decimal_size(size) == shown


def refusal(**overrides: object) -> QuotaRefusal:
    values: dict[str, object] = {
        "which": "user", "name": "report.pdf", "size": 120 * MB, "limit": 500 * MB,
        "used": 450 * MB, "frees_at": NOW + timedelta(days=10), "user_id": "UALICE",
        "channel_id": "C0GENERAL"}
    values.update(overrides)
    return QuotaRefusal(**values)  # type: ignore[arg-type]


def test_user_refusal_names_limit_use_size_and_date() -> None:
    text = blocks.quota_refusal(refusal()).text
    assert text.startswith("*report.pdf* (120 MB) was not pinned: you have used 450 MB of "
                           "your 500 MB for 30 days. Space frees up on <!date^")
    assert str(int((NOW + timedelta(days=10)).timestamp())) in text
    assert "`/pins mine`" in text


def test_channel_refusal_says_it_is_the_channels_quota() -> None:
    text = blocks.quota_refusal(refusal(which="channel")).text
    assert "<#C0GENERAL> has used 450 MB of its 500 MB for 30 days (the channel's quota)" in text
    assert "/pin quota" in text and "your" not in text


def test_refusal_of_a_file_larger_than_the_quota() -> None:
    text = blocks.quota_refusal(refusal(size=600 * MB, frees_at=None)).text
    assert "larger than your 500 MB" in text and "frees up" not in text


def test_refusal_escapes_the_file_name() -> None:
    text = blocks.quota_refusal(refusal(name="<!channel> *x*\nnext")).text
    assert "<!channel>" not in text and "\n" not in text


def test_use_lines() -> None:
    assert "*450 MB* of your 500 MB for 30 days" in blocks.quota_use_line(
        QuotaUse(450 * MB, 500 * MB))
    assert "no personal quota" in blocks.quota_use_line(QuotaUse(3 * MB, None))


@pytest.mark.parametrize(("text", "parsed"), [
    ("quota", Quota(None, change=False)),
    ("quota off", Quota(None)),
    ("QUOTA Unlimited", Quota(None)),
    ("quota 1MB", Quota(MB)),
    ("quota 500", Quota(500 * MB)),  # a plain number is megabytes
    ("quota 1.5 GB", Quota(1_500_000_000)),
    ("quota 1GiB", Quota(2**30)),
])
def test_parse_quota(text: str, parsed: Quota) -> None:
    assert parse_pin(text) == parsed


@pytest.mark.parametrize("text", ["quota lots", "quota 0", "quota -5MB", "quota 5 PB"])
def test_parse_quota_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(CommandError, match="/pin quota 500MB"):
        parse_pin(text)
