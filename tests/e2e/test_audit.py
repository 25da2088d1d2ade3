"""Audit and export, end to end: the real app pins through the emulators, `pinbot audit` and
`pinbot export` run as real processes on the same database, and the sweep corrects drift.

Promises attacked: drift made directly at the service (unpinned through its API, failed,
forgotten, stuck pinning) is reported with exit 1 and listed by `--json`, while the CLI writes
nothing; a clean ledger exits 0; the sweep (PINBOT_SWEEP_INTERVAL=1s) corrects the ledger and
the cards; `/pins audit` is for admins and shows only the asking workspace; the export's rows
match what was pinned, a hostile file name included.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bot.export_format import COLUMNS
from bot.jobs.sweeper import SWEEP
from bot.store.ledger import utcnow
from bot.store.models import PinRow
from tests.conftest import API_KEY
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_cli import assert_one_line_error, cli_env, pinbot
from tests.e2e.test_commands import responded
from tests.e2e.test_ledger import share_and_wait
from tests.e2e.test_shared_files import text_of
from tests.unit.test_cid import VECTORS

ROOT = Path(__file__).resolve().parents[2]
FAST = {"PINBOT_API_RATE": "6000", "PINBOT_ADMIN_USERS": "UADMIN"}
#: A formula, a comma, quotes and a line break (no "/": the service would take it for a folder).
HOSTILE = '=SUM(1+2)*cmd|" -C calc"!A0, "quoted",\nline two.txt'


def env_for(bot: Bot, database_url: str) -> dict[str, str]:
    return cli_env(bot.w3ipfs.base_url, PYTHONPATH=str(ROOT), PINBOT_DATABASE_URL=database_url,
                   PINBOT_API_RATE="6000")


async def rows(bot: Bot) -> dict[str, PinRow]:
    async with bot.services.ledger.sessions() as session:
        return {r.name: r for r in (await session.scalars(select(PinRow))).all()}


async def test_audit_reports_drift_and_the_sweep_corrects_it(
    make_bot: BotFactory, database_url: str, tmp_path: Path,
) -> None:
    bot = await make_bot(**FAST)
    names = ("fine.txt", "unpinned.txt", "gone.txt", "failed.txt", "stuck.txt")
    cards = {name: await share_and_wait(bot, name, f"content of {name}".encode())
             for name in names}
    env = env_for(bot, database_url)

    clean = await pinbot("audit", env=env, cwd=tmp_path)
    assert clean.code == 0, clean.err
    assert "checked 5 pins in 1 workspace: no drift" in clean.out

    # Drift, made at the service behind pinbot's back.
    at_service = {p["metadata"]["name"]: p for p in bot.w3ipfs.all_pins()}
    await bot.services.w3ipfs.unpin(at_service["unpinned.txt"]["id"])  # through its API
    bot.w3ipfs.pins[API_KEY].remove(at_service["gone.txt"])  # it forgot the pin
    at_service["failed.txt"]["status"] = at_service["failed.txt"]["sub_hash_status"] = "FAILED"
    at_service["stuck.txt"]["status"] = at_service["stuck.txt"]["sub_hash_status"] = "PINNING"
    async with bot.services.ledger.engine.begin() as conn:
        await conn.execute(update(PinRow).where(PinRow.name == "stuck.txt")
                           .values(created_at=utcnow() - timedelta(minutes=5)))
    before = {name: (r.state, r.checked_at) for name, r in (await rows(bot)).items()}

    human = await pinbot("audit", "--stuck-after", "1m", env=env, cwd=tmp_path)
    assert human.code == 1, human.err
    lines = human.out.splitlines()
    for kind, name in (("unpinned", "unpinned.txt"), ("gone", "gone.txt"),
                       ("failed", "failed.txt"), ("stuck", "stuck.txt")):
        (line,) = [x for x in lines if f"'{name}'" in x]
        assert line.startswith(kind) and bot.slack.team_id in line
    assert not any("fine.txt" in x for x in lines)
    assert lines[-1].startswith("checked 5 pins in 1 workspace: drift: 1 unpinned, 1 gone, "
                                "1 failed, 1 stuck")
    as_json = await pinbot("audit", "--json", "--stuck-after", "1m", env=env, cwd=tmp_path)
    assert as_json.code == 1
    doc = as_json.json()
    assert isinstance(doc, dict) and doc["ok"] is False and doc["checked"] == 5
    drift = {d["name"]: d for d in doc["drift"]}
    assert {n: d["kind"] for n, d in drift.items()} == {
        "unpinned.txt": "unpinned", "gone.txt": "gone", "failed.txt": "failed",
        "stuck.txt": "stuck"}
    gone = drift["gone.txt"]
    assert gone["pin_id"] == at_service["gone.txt"]["id"] and gone["ledger_state"] == "pinned"
    assert gone["service_state"] == "not found" and gone["cid"] == at_service["gone.txt"]["cid"]
    assert drift["failed.txt"]["service_state"] == "failed"
    assert API_KEY not in human.out + human.err + as_json.out
    after = {name: (r.state, r.checked_at) for name, r in (await rows(bot)).items()}
    assert after == before  # the CLI wrote nothing

    # The sweep, in another process of the deployment, corrects the ledger and the cards.
    await bot.services.sweeper.leases.release(SWEEP, bot.services.sweeper.owner)
    sweeping = await make_bot(PINBOT_SWEEP_INTERVAL="1", **FAST)

    def corrected() -> bool:
        thread = {n: text_of(bot.slack.thread(cards[n]["channel"], cards[n]["thread_ts"])[0])
                  for n in ("unpinned.txt", "gone.txt", "failed.txt")}
        return ("Unpinned at the pinning service (found by the audit on" in thread[
                    "unpinned.txt"]
                and "Gone from the pinning service" in thread["gone.txt"]
                and "Failed at the pinning service" in thread["failed.txt"])

    await bot.eventually(corrected, timeout=20)
    ledger = await rows(bot)
    assert (ledger["unpinned.txt"].state, ledger["unpinned.txt"].unpin_reason) == (
        "unpinned", "service")
    assert (ledger["gone.txt"].state, ledger["gone.txt"].status) == ("unpinned", "GONE")
    assert ledger["failed.txt"].state == "failed" and "FAILED" in (ledger["failed.txt"].error
                                                                   or "")
    assert ledger["fine.txt"].state == "pinned" and ledger["stuck.txt"].state == "pinned"
    assert text_of(bot.slack.thread(cards["fine.txt"]["channel"],
                                    cards["fine.txt"]["thread_ts"])[0]).count("audit") == 0
    state = await sweeping.services.sweeper.leases.state(SWEEP)
    assert state is not None and "audit:" in (state.last_result or "")

    # /pins audit: admins see this workspace's summary; others are refused; another
    # workspace sees none of it.
    sent = await bot.driver.command("/pins", "audit", user="UADMIN")
    (summary,) = await responded(bot, sent.response_url)
    shown = text_of(summary)
    assert summary["response_type"] == "ephemeral"
    for words in ("*1* unpinned at the service", "*1* gone from the service",
                  "*1* failed at the service", "unpinned.txt", "Last sweep finished"):
        assert words in shown, words
    bot.slack.add_user("UALICE")
    refused = await bot.driver.command("/pins", "audit", user="UALICE")
    (refusal,) = await responded(bot, refused.response_url)
    assert "Only admins" in text_of(refusal) and "unpinned.txt" not in text_of(refusal)
    other = await bot.driver.command("/pins", "audit", user="UADMIN", team="T0OTHER")
    (elsewhere,) = await responded(bot, other.response_url)
    assert "No drift" in text_of(elsewhere) and ".txt" not in text_of(elsewhere)

    # Corrected: the ledger and the service agree again (stuck.txt is young for 24 h).
    again = await pinbot("audit", env=env, cwd=tmp_path)
    assert again.code == 0 and "checked 2 pins" in again.out, again.out + again.err


async def test_export_rows_match_what_was_pinned(
    make_bot: BotFactory, database_url: str, tmp_path: Path,
) -> None:
    bot = await make_bot(**FAST)
    await share_and_wait(bot, HOSTILE, b"hostile bytes")
    await share_and_wait(bot, "plain.txt", b"plain bytes", user="UBOB", channel="C0OTHER")
    sent = await bot.driver.command("/pin", f"{VECTORS[0][1]} greeting.txt")
    await responded(bot, sent.response_url)
    await bot.idle()
    team = bot.slack.team_id
    plain = (await rows(bot))["plain.txt"]
    assert plain.pin_id is not None
    await bot.services.ledger.mark_unpinned(team, plain.pin_id, "UBOB", "user")
    env = env_for(bot, database_url)

    as_csv = await pinbot("export", env=env, cwd=tmp_path)
    assert as_csv.code == 0, as_csv.err
    parsed = list(csv.reader(io.StringIO(as_csv.out)))
    assert parsed[0] == list(COLUMNS)
    by_name: dict[str, dict[str, str]] = {}
    for values in parsed[1:]:
        by_name[values[COLUMNS.index("name")]] = dict(zip(COLUMNS, values, strict=True))
    assert set(by_name) == {"'" + HOSTILE, "plain.txt", "greeting.txt"}
    service = {p["metadata"]["name"]: p for p in bot.w3ipfs.all_pins()}
    hostile = by_name["'" + HOSTILE]
    assert hostile["pin_id"] == service[HOSTILE]["id"] and hostile["cid"] == service[HOSTILE][
        "cid"]
    assert (hostile["size"], hostile["workspace"], hostile["channel"], hostile["user"]) == (
        "13", team, "C0GENERAL", "UALICE")
    assert (hostile["state"], hostile["verified"], hostile["kept"], hostile["source"],
            hostile["unpinned"]) == ("pinned", "true", "false", "share", "")
    assert abs(datetime.fromisoformat(hostile["created"]) - datetime.now(UTC)) < timedelta(
        minutes=5)
    assert (by_name["plain.txt"]["state"], by_name["plain.txt"]["user"],
            by_name["plain.txt"]["channel"]) == ("unpinned", "UBOB", "C0OTHER")
    assert by_name["plain.txt"]["unpinned"].endswith("Z")
    assert by_name["greeting.txt"]["source"] == "cid"
    assert by_name["greeting.txt"]["cid"] == VECTORS[0][1]

    today = datetime.now(UTC).date().isoformat()
    as_json = await pinbot("export", "--format", "json", "--since", today, env=env,
                           cwd=tmp_path)
    assert as_json.code == 0, as_json.err
    listed: Any = as_json.json()
    assert [r["name"] for r in listed] == [HOSTILE, "plain.txt", "greeting.txt"]
    first = listed[0]
    assert list(first) == list(COLUMNS) and first["size"] == 13 and first["verified"] is True
    assert first["kept"] is False and listed[1]["unpinned"] is not None
    none = await pinbot("export", "--format", "json", "--team", "T0OTHER", env=env,
                        cwd=tmp_path)
    assert none.code == 0 and json.loads(none.out) == []


async def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, w3ipfs: Any) -> None:
    env = cli_env(w3ipfs.base_url, PYTHONPATH=str(ROOT),
                  PINBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'none.db'}")
    for args in (["export", "--since", "last tuesday"], ["export", "--team", "t0;drop"],
                 ["audit"]):
        res = await pinbot(*args, env=env, cwd=tmp_path)
        assert res.code == 2, (args, res.err)
        assert_one_line_error(res)
    assert not (tmp_path / "none.db").exists()  # neither command created a database
