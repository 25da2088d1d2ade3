"""Channel policies (bot/store/policies.py) on a real database: two admins at once."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import Ledger
from bot.store.policies import ChannelPolicies

pytestmark = pytest.mark.usefixtures("clean_env")


async def test_admins_setting_a_new_channels_policy_at_once_all_succeed(ledger: Ledger) -> None:
    """The first policy of a channel is an insert; racing inserts clash on the key and must
    be retried as updates, not told 'database unavailable'."""
    policies = ChannelPolicies(ledger)
    for round_ in range(3):
        channel = f"C0RACE{round_}"
        results = await asyncio.gather(
            *(policies.set("T0A", channel, f"U{i}", retention_seconds=60 * (i + 1))
              for i in range(4)),
            *(policies.set("T0A", channel, f"Q{i}", quota_bytes=10**6 * (i + 1))
              for i in range(4)),
        )
        assert len(results) == 8
        final = await policies.get("T0A", channel)
        assert final is not None
        # Neither half of the policy was lost to the other half's writes.
        assert final.retention_seconds in {60, 120, 180, 240}
        assert final.quota_bytes in {10**6, 2 * 10**6, 3 * 10**6, 4 * 10**6}
