"""When a job refreshes a workspace's rotating token (`_expiring`, bot/slack/clients.py).

Bolt refreshes a rotating token two hours before it expires; a job does the same, but never
in the first half of the token's life: Bolt (or another process) may have just refreshed it,
and refreshing again would revoke the token that request is using.
"""

from __future__ import annotations

import time

import pytest

from bot.slack.clients import REFRESH_AHEAD, _expiring

HOUR = 3600.0


def test_a_token_that_does_not_expire_is_never_refreshed() -> None:
    assert not _expiring(None, None)
    assert not _expiring(None, time.time())
    assert not _expiring(0, time.time())


@pytest.mark.parametrize(("issued_ago", "expires_in", "refresh"), [
    (60, 12 * HOUR - 60, False),          # fresh 12-hour token
    (10 * HOUR, 2 * HOUR - 60, True),     # within the two hours before expiry
    (9 * HOUR, 3 * HOUR, False),          # not yet
    (12 * HOUR + 60, -60, True),          # already expired
    # A short-lived token: two hours ahead would be at once; wait for half its life.
    (10, HOUR - 10, False),
    (20 * 60, 40 * 60, False),
    (31 * 60, 29 * 60, True),
])
def test_refreshed_in_the_last_two_hours_but_never_in_the_first_half_of_its_life(
    issued_ago: float, expires_in: float, refresh: bool,
) -> None:
    now = time.time()
    assert _expiring(now + expires_in, now - issued_ago) is refresh


def test_without_an_issue_time_two_hours_ahead_applies() -> None:
    now = time.time()
    assert _expiring(now + REFRESH_AHEAD - 60, None)
    assert not _expiring(now + REFRESH_AHEAD + 60, None)
