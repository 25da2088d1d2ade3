"""Cleanup filters from the modal's state, and the pacing of unpin calls."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from bot.pins.cleanup import CleanupFilter, RateLimiter, parse_filters
from bot.store import PinRecord
from bot.store.ledger import utcnow


def state(**fields: object) -> dict[str, object]:
    out: dict[str, object] = {}
    for block, value in fields.items():
        if block in ("channel", "user"):
            key = "selected_conversation" if block == "channel" else "selected_user"
            out[block] = {"v": {key: value}}
        elif block == "status":
            out[block] = {"v": {"selected_option": {"value": value}}}
        else:
            out[block] = {"v": {"value": value}}
    return out


def record(**overrides: object) -> PinRecord:
    base: dict[str, object] = dict(
        id=1, team_id="T", key="file:F", state="pinned", pin_id="p1", cid="bafy", name="Draft.pdf",
        size=5_000_000, channel_id="C1", user_id="U1", slack_file_id="F", message_ts="1.0",
        status="DONE", verified=True, created_at=utcnow() - timedelta(days=100),
        unpinned_at=None, unpinned_by=None, checked_at=None, updated_at=utcnow(),
    )
    base.update(overrides)
    return PinRecord(**base)  # type: ignore[arg-type]


def test_parse_filters() -> None:
    flt = parse_filters(state(older="90", larger="1.5", channel="C1", user="U1",
                              name=" draft ", status="done"))
    assert flt == CleanupFilter(90, 1.5, "C1", "U1", "draft", "done")
    assert CleanupFilter.from_json(flt.to_json()) == flt  # type: ignore[union-attr]
    assert parse_filters({}) == CleanupFilter()
    errors = parse_filters(state(older="soon", larger="-3"))
    assert isinstance(errors, dict) and set(errors) == {"older", "larger"}


@pytest.mark.parametrize(
    ("flt", "matches"),
    [
        (CleanupFilter(), True),
        (CleanupFilter(older_than_days=90), True),
        (CleanupFilter(older_than_days=120), False),
        (CleanupFilter(larger_than_mb=4), True),
        (CleanupFilter(larger_than_mb=6), False),
        (CleanupFilter(channel_id="C2"), False),
        (CleanupFilter(user_id="U1", name_contains="DRAFT"), True),
        (CleanupFilter(status="failed"), False),
    ],
)
def test_filter_matches(flt: CleanupFilter, matches: bool) -> None:
    assert flt.matches(record()) is matches
    assert not flt.matches(record(state="unpinned"))


async def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(per_minute=600)  # one every 0.1 s
    start = time.monotonic()
    for _ in range(6):
        await limiter.wait()
    assert time.monotonic() - start >= 0.5
