"""The one reading of durations and sizes (bot/units.py): what users type in commands and
operators in settings means the same everywhere, and nothing odd gets through."""

from __future__ import annotations

import pytest

from bot.units import parse_duration, parse_size, policy_duration, spoken_duration


@pytest.mark.parametrize(("text", "seconds"), [
    ("45s", 45), ("30m", 1800), ("12h", 43200), ("90d", 7_776_000), ("2w", 1_209_600),
    ("90", 90), (" 1.5h ", 5400), ("0", 0), ("5S", 5), (60, 60), (2.5, 2.5),
])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    "", "d", "-5s", "5y", "5 days", "1e3s", "nan", "inf", "5s5", "\uff19\uff10d", "101000000d",
    float("nan"), float("inf"), -1,
])
def test_parse_duration_refuses(text: str | float) -> None:
    with pytest.raises(ValueError, match="45s") as caught:
        parse_duration(text)
    echoed = isinstance(text, str) and len(text.strip()) > 2 and text.strip() in str(caught.value)
    assert not echoed


@pytest.mark.parametrize(("text", "size"), [
    ("500MB", 500_000_000), ("2GB", 2_000_000_000), ("1.5GiB", 1_610_612_736),
    ("750K", 750_000), ("1tb", 10**12), ("1024", 1024), ("10 MiB", 10_485_760),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_a_plain_number_takes_the_default_unit() -> None:
    assert parse_size("500", default_unit="mb") == 500_000_000


@pytest.mark.parametrize("text", [
    "", "MB", "0", "0.1", "-5MB", "5XB", "2 PB", "1e9", "5MBs", "\uff15MB",
])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="500MB"):
        parse_size(text)


@pytest.mark.parametrize(("seconds", "adjective", "noun"), [
    (7_776_000, "90-day", "90 days"), (5, "5-second", "5 seconds"), (3600, "1-hour", "1 hour"),
    (129_600, "36-hour", "36 hours"), (1_209_600, "2-week", "2 weeks"),
    (90, "90-second", "90 seconds"),
])
def test_durations_are_spelled_as_people_write_them(seconds: float, adjective: str,
                                                     noun: str) -> None:
    assert policy_duration(seconds) == adjective
    assert spoken_duration(seconds) == noun
