"""Attacks on the audit and the export: an unlucky operator and a misbehaving service.

Promises attacked: a pinning API that answers 404 to everything (a wrong W3IPFS_API_URL, a
proxy's error page during a deploy) is an outage, not proof that every pin is gone — the sweep
corrects nothing and redraws no card, and `pinbot audit` exits 2, not 1; `--since` at the edge
of the calendar is a one-line error, not a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.jobs.sweeper import SWEEP
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_audit import FAST, ROOT, env_for
from tests.e2e.test_cli import assert_one_line_error, cli_env, pinbot
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_shared_files import text_of
from tests.e2e.test_workspace_keys import FERNET, OTHER_KEY, OTHER_SECRET, setup_keys


async def states(bot: Bot) -> dict[str, tuple[str, str | None]]:
    async with bot.services.ledger.sessions() as session:
        return {r.name: (r.state, r.unpin_reason)
                for r in (await session.scalars(select(PinRow))).all()}


async def sweep_once(bot: Bot, sweeping: Bot) -> None:
    """`bot` hands the sweep's lease over to `sweeping` (PINBOT_SWEEP_INTERVAL=1), which
    must then finish a whole pass (retention, notices, audit)."""
    started = utcnow()
    await bot.services.sweeper.leases.release(SWEEP, bot.services.sweeper.owner)
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        state = await sweeping.services.sweeper.leases.state(SWEEP)
        if (state is not None and state.last_finished_at is not None
                and state.last_finished_at > started and "audit:" in (state.last_result or "")):
            return
        assert asyncio.get_running_loop().time() < deadline, "no sweep finished"
        await asyncio.sleep(0.1)


async def test_an_api_answering_404_to_everything_is_an_outage_not_gone_pins(
    make_bot: BotFactory, database_url: str, tmp_path: Path,
) -> None:
    bot = await make_bot(**FAST)
    # The base URL without its `/api`: every path of the API is the web server's 404.
    wrong = bot.w3ipfs.base_url.removesuffix("/api")
    env = env_for(bot, database_url) | {"W3IPFS_API_URL": wrong}
    cards = {}
    for name in ("one.txt", "two.txt"):  # one pin (asked about alone), then two (listed)
        cards[name] = await share_and_wait(bot, name, f"content of {name}".encode())
        for args in (("audit",), ("audit", "--json")):
            res = await pinbot(*args, env=env, cwd=tmp_path)
            assert res.code == 2, (name, args, res.out, res.err)
            assert "gone" not in res.out.replace('"gone": 0', ""), res.out

    await sweep_once(bot, await make_bot(PINBOT_SWEEP_INTERVAL="1", W3IPFS_API_URL=wrong,
                                         **FAST))
    assert await states(bot) == {"one.txt": ("pinned", None), "two.txt": ("pinned", None)}
    for card in cards.values():
        shown = text_of(bot.slack.thread(card["channel"], card["thread_ts"])[0])
        assert "Gone from the pinning service" not in shown


async def test_since_at_the_edge_of_the_calendar_is_a_one_line_error(
    tmp_path: Path, w3ipfs: Any,
) -> None:
    env = cli_env(w3ipfs.base_url, PYTHONPATH=str(ROOT),
                  PINBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    for since in ("0001-01-01T00:00+01:00", "9999-12-31T23:59-01:00"):
        res = await pinbot("export", "--since", since, env=env, cwd=tmp_path)
        assert res.code == 2, (since, res.err)
        assert_one_line_error(res)


async def test_pins_made_before_the_workspace_had_its_own_keys_are_not_gone(
    make_bot: BotFactory, database_url: str, tmp_path: Path,
) -> None:
    bot = await make_bot(PINBOT_ENCRYPTION_KEY=FERNET, **FAST)
    bot.w3ipfs.accounts[OTHER_KEY] = OTHER_SECRET
    before = await share_and_wait(bot, "before.txt", b"pinned into the environment's account")
    saved = await setup_keys(bot)
    assert saved.body["response_action"] == "update"
    await share_and_wait(bot, "after.txt", b"pinned into the workspace's own account")
    assert [p["metadata"]["name"] for p in bot.w3ipfs.all_pins()] == ["before.txt"]
    env = env_for(bot, database_url) | {"PINBOT_ENCRYPTION_KEY": FERNET}

    clean = await pinbot("audit", env=env, cwd=tmp_path)
    assert clean.code == 0, clean.out + clean.err
    assert "checked 2 pins in 1 workspace: no drift" in clean.out

    await sweep_once(bot, await make_bot(PINBOT_SWEEP_INTERVAL="1",
                                         PINBOT_ENCRYPTION_KEY=FERNET, **FAST))
    assert await states(bot) == {"before.txt": ("pinned", None), "after.txt": ("pinned", None)}
    assert "Gone from" not in text_of(bot.slack.thread(before["channel"],
                                                       before["thread_ts"])[0])

    # Unpinned behind pinbot's back in the account that holds it: real drift, corrected as
    # such by the sweep (which keeps running), not as "gone".
    (at_service,) = bot.w3ipfs.all_pins()
    await bot.services.w3ipfs.unpin(at_service["id"])

    def corrected() -> bool:
        shown = text_of(bot.slack.thread(before["channel"], before["thread_ts"])[0])
        return "Unpinned at the pinning service" in shown

    await bot.eventually(corrected, timeout=20)
    async with bot.services.ledger.sessions() as session:
        row = (await session.scalars(select(PinRow).where(PinRow.name == "before.txt"))).one()
    assert (row.state, row.unpin_reason, row.status) == ("unpinned", "service", "UNPINNED")
