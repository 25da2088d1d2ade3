"""The shared-file hot path spends no Slack call it does not need (issue 12)."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import Bot


async def test_a_burst_of_small_shares_costs_one_call_of_each_kind_per_file(bot: Bot) -> None:
    """Twelve small files shared at once: per file one files.info (not a second read for the
    upload step), one card posted and one update to the result (no progress edits for a
    quick file)."""
    fakes = [bot.slack.add_file(f"burst-{i}.bin", bytes([i]) * 5000) for i in range(12)]
    sent = await asyncio.gather(*(bot.driver.file_shared(fake) for fake in fakes))
    assert all(s.response.status_code == 200 for s in sent)
    await bot.idle()
    cards = [m for m in bot.slack.bot_messages() if "Verified" in str(m.get("blocks"))]
    assert len(cards) == len(fakes)
    assert len(bot.slack.calls_to("files.info")) == len(fakes)
    assert len(bot.slack.calls_to("chat.postMessage")) == len(fakes)
    assert len(bot.slack.calls_to("chat.update")) == len(fakes)
