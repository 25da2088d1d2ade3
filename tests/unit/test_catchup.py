"""Catch-up after downtime (bot/pins/catchup.py): which files it lists, and which it pins.

Slack is the project's emulator on the wire (files.list with ts_from/ts_to and paging); the
watermarks and job records are the real stores on a temporary SQLite database. Only the
workspace registry (`SlackClients`) and the intake's `submit` are stand-ins.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import Job, JobStore, PinRequest
from bot.pins.catchup import GRACE, OVERLAP, CatchUp, _channels
from bot.slack.clients import SlackClients, Workspace
from bot.slack_files import SlackFile
from bot.store import Ledger, upgrade
from bot.store.workspaces import Watermarks
from pinbot.emulators.slack import SlackEmulator

TEAM = "T0TEST"
DAY = 86400.0


class Clients:
    """The workspaces pinbot serves: one, with a real Web API client to the emulator."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def teams(self) -> list[str]:
        return [TEAM]

    async def workspace(self, team_id: str) -> Workspace | None:
        return Workspace(team_id, self.client, "UBOT")


@dataclass
class World:
    slack: SlackEmulator
    jobs: JobStore
    watermarks: Watermarks
    auto_pin: set[str] = field(default_factory=lambda: {"C0GENERAL", "C0RANDOM"})
    client: AsyncWebClient | None = None

    def catch_up(self, *, max_event_age: float = DAY, grace: timedelta = GRACE) -> CatchUp:
        assert self.client is not None

        async def auto_pins_in(team: str, channel: str) -> bool:
            return channel in self.auto_pin

        async def submit(request: PinRequest, key: str, *, pin_key: str | None = None
                         ) -> Job | None:
            job, created = await self.jobs.create(request, key, pin_key=pin_key)
            return job if created else None

        return CatchUp(cast(SlackClients, Clients(self.client)), self.watermarks, self.jobs,
                       auto_pins_in, submit, max_event_age, grace)

    async def started(self, ago: float) -> None:
        """pinbot first ran in the workspace `ago` seconds ago."""
        await self.watermarks.get_or_start(TEAM, datetime.now(UTC) - timedelta(seconds=ago))

    def shared(self, ago: float, channel: str = "C0GENERAL") -> str:
        """A file shared `ago` seconds ago (while pinbot was away): its id."""
        return self.slack.add_file(f"f{ago:.0f}.txt", b"data", channel=channel,
                                   created=time.time() - ago).id

    async def pinned(self) -> dict[str, list[str]]:
        """Each file that got a job, with the channels its jobs answer in."""
        found: dict[str, list[str]] = {}
        for file_id in self.slack.files:
            for job in await self.jobs.for_pin_key(TEAM, f"file:{file_id}"):
                found.setdefault(file_id, []).append(job.request.channel_id)
        return found

    def listed_from(self) -> list[float]:
        return [float(c.args["ts_from"]) for c in self.slack.calls_to("files.list")]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    slack = SlackEmulator()
    await slack.start()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'catchup.db'}")
    await upgrade(ledger.engine)
    state = World(slack, JobStore(ledger), Watermarks(ledger))
    state.client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    try:
        yield state
    finally:
        await ledger.close()
        await slack.stop()


async def test_the_very_first_start_pins_no_history(world: World) -> None:
    """Installing pinbot must not pin a channel's history."""
    world.shared(3600)
    world.shared(60)
    assert await world.catch_up().run_once() == 0
    assert await world.pinned() == {}
    state = await world.watermarks.get_or_start(TEAM, datetime.now(UTC))
    assert abs(state.first_seen.timestamp() - time.time()) < 5  # the first start is now


async def test_only_files_shared_since_the_first_start_are_pinned(world: World) -> None:
    await world.started(ago=3600)
    before = world.shared(3600 + 60)  # a minute before pinbot first ran (inside OVERLAP)
    while_away = world.shared(1800)
    just_now = world.shared(2)  # its own event is on the way: left to it
    assert await world.catch_up().run_once() == 1
    assert await world.pinned() == {while_away: ["C0GENERAL"]}
    assert before not in await world.pinned() and just_now not in await world.pinned()


async def test_the_next_pass_lists_from_where_the_last_got_to(world: World) -> None:
    """A second pass asks Slack only for what it has not listed (minus a small overlap),
    and pins nothing twice."""
    await world.started(ago=3 * 3600)
    first = world.shared(3600)
    catch_up = world.catch_up()
    assert await catch_up.run_once() == 1
    t0 = time.time()
    later = world.shared(60)
    assert await catch_up.run_once() == 1
    assert await catch_up.run_once() == 0
    listed = world.listed_from()
    assert len(listed) == 3
    assert abs(listed[0] - (t0 - 3 * 3600)) < 5  # the first pass: from the first start
    overlap = (OVERLAP + GRACE).total_seconds()
    assert abs(listed[1] - (t0 - overlap)) < 5  # then from the last pass, less the overlap
    assert set(await world.pinned()) == {first, later}
    state = await world.watermarks.get_or_start(TEAM, datetime.now(UTC))
    assert state.caught_up_to is not None
    assert abs(state.caught_up_to.timestamp() - (time.time() - GRACE.total_seconds())) < 5


async def test_nothing_older_than_max_event_age_is_pinned(world: World) -> None:
    """Down for three days with PINBOT_MAX_EVENT_AGE=1d: yesterday's files, not older."""
    await world.started(ago=7 * DAY)
    old = world.shared(2 * DAY)
    recent = world.shared(DAY / 2)
    await world.catch_up(max_event_age=DAY).run_once()
    assert set(await world.pinned()) == {recent}
    assert old not in await world.pinned()
    assert abs(world.listed_from()[0] - (time.time() - DAY)) < 5


async def test_files_already_asked_for_or_outside_auto_pin_are_skipped(world: World) -> None:
    await world.started(ago=3600)
    seen = world.shared(600)
    await world.jobs.create(PinRequest("share", TEAM, "C0GENERAL", "UALICE", file_id=seen),
                            "share:Ev1", pin_key=f"file:{seen}")
    quiet = world.shared(600, channel="C0QUIET")  # auto-pin off there
    missed = world.shared(600)
    assert await world.catch_up().run_once() == 1
    pinned = await world.pinned()
    assert pinned[missed] == ["C0GENERAL"]
    assert pinned[seen] == ["C0GENERAL"]  # only the event's own job: nothing added
    assert quiet not in pinned


async def test_a_file_shared_in_two_channels_is_answered_in_both(world: World) -> None:
    await world.started(ago=3600)
    file_id = world.shared(600)
    world.slack.share_again(world.slack.files[file_id], "C0RANDOM")
    await world.catch_up().run_once()
    assert sorted((await world.pinned())[file_id]) == ["C0GENERAL", "C0RANDOM"]


async def test_when_slack_does_not_answer_the_next_pass_lists_again(world: World) -> None:
    await world.started(ago=3600)
    file_id = world.shared(600)
    world.slack.rate_limit_next["files.list"] = 1
    catch_up = world.catch_up()
    assert await catch_up.run_once() == 0
    state = await world.watermarks.get_or_start(TEAM, datetime.now(UTC))
    assert state.caught_up_to is None  # not moved past files it never saw
    assert await catch_up.run_once() == 1
    assert file_id in await world.pinned()


async def test_many_files_are_listed_page_by_page(world: World) -> None:
    await world.started(ago=3600)
    ids = {world.shared(600 + i) for i in range(450)}  # three pages of 200
    assert await world.catch_up().run_once() == 450
    assert set(await world.pinned()) == ids
    assert [c.args["page"] for c in world.slack.calls_to("files.list")] == ["1", "2", "3"]


def slack_file(**data: Any) -> SlackFile:
    return SlackFile.from_api({"id": "F1", "name": "a.txt", **data})


def test_channels_are_the_file_s_shares_and_listed_channels() -> None:
    file = slack_file(
        shares={"public": {"C2": [{"ts": "1.1"}], "C1": [{"ts": "1.2"}, {"ts": "1.3"}]},
                "private": {"G1": [{"ts": "1.4"}]}},
        channels=["C1", "C3"], groups=["G2", ""])
    assert _channels(file) == ["C1", "C2", "C3", "G1", "G2"]


def test_a_file_without_shares_has_no_channel_to_answer_in() -> None:
    assert _channels(slack_file()) == []
    assert _channels(slack_file(channels=None, groups=None, shares={})) == []
