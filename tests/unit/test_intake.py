"""Intake (bot/pins/intake.py): each Slack request becomes exactly the jobs it should.

The request key is what makes a Slack retry (or a second process seeing the same request)
one job, while two people asking are two jobs, each answered. Real job records on a
temporary SQLite database, Slack's emulator on the wire for the reads intake makes; the
dispatcher (what hands a job to the runner or the queue) is a list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import Job, JobStore, PinRequest
from bot.pins.intake import Intake
from bot.slack_files import SlackFile
from bot.store import Ledger, upgrade
from pinbot.emulators.slack import SlackEmulator

TEAM = "T0TEST"


@dataclass
class Scene:
    slack: SlackEmulator
    client: AsyncWebClient
    ledger: Ledger
    jobs: JobStore
    dispatched: list[Job]

    def intake(self, *, auto_pin: bool = True) -> Intake:
        async def dispatch(job: Job) -> None:
            self.dispatched.append(job)

        return Intake(ledger=self.ledger, jobs=self.jobs, dispatch=dispatch,
                      auto_pin_default=lambda channel: auto_pin, pin_reaction="pushpin")

    async def jobs_for(self, file_id: str) -> list[Job]:
        return await self.jobs.for_pin_key(TEAM, f"file:{file_id}")


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    slack = SlackEmulator()
    await slack.start()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}")
    await upgrade(ledger.engine)
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    try:
        yield Scene(slack, client, ledger, JobStore(ledger), [])
    finally:
        await ledger.close()
        await slack.stop()


async def share(scene: Scene, intake: Intake, file_id: str, *, event_id: str = "Ev1",
                channel: str = "C0GENERAL") -> None:
    await intake.file_shared(scene.client, team_id=TEAM, event_id=event_id, file_id=file_id,
                             channel_id=channel, user_id="UALICE", event_time=None)


async def test_the_same_share_event_twice_is_one_job(scene: Scene) -> None:
    """Slack retries an event it thinks was not acknowledged: one job, dispatched once."""
    file_id = scene.slack.add_file("a.txt", b"a").id
    intake = scene.intake()
    await share(scene, intake, file_id)
    await share(scene, intake, file_id)
    # A second process (another replica behind the load balancer) sees it too.
    await share(scene, scene.intake(), file_id)
    [job] = await scene.jobs_for(file_id)
    assert [j.id for j in scene.dispatched] == [job.id]
    assert (job.kind, job.request.channel_id, job.request_key) == ("share", "C0GENERAL",
                                                                   "share:Ev1")


async def test_a_share_without_an_event_id_is_one_job_per_file_and_channel(
    scene: Scene,
) -> None:
    """The request key alone (no event id to dedupe on) keeps a re-delivery one job."""
    file_id = scene.slack.add_file("a.txt", b"a").id
    intake = scene.intake()
    await share(scene, intake, file_id, event_id="")
    await share(scene, intake, file_id, event_id="")
    await share(scene, intake, file_id, event_id="", channel="C0RANDOM")
    jobs = await scene.jobs_for(file_id)
    assert sorted(j.request.channel_id for j in jobs) == ["C0GENERAL", "C0RANDOM"]
    assert len(scene.dispatched) == 2


async def test_shares_in_two_channels_are_two_jobs_one_pin_key(scene: Scene) -> None:
    """Each channel's thread is answered; the shared pin key makes the upload one."""
    file_id = scene.slack.add_file("a.txt", b"a").id
    intake = scene.intake()
    await share(scene, intake, file_id, event_id="Ev1")
    await share(scene, intake, file_id, event_id="Ev2", channel="C0RANDOM")
    jobs = await scene.jobs_for(file_id)
    assert len(jobs) == 2 and {j.pin_key for j in jobs} == {f"file:{file_id}"}


async def test_no_job_where_auto_pin_is_off(scene: Scene) -> None:
    file_id = scene.slack.add_file("a.txt", b"a").id
    await share(scene, scene.intake(auto_pin=False), file_id)
    assert await scene.jobs_for(file_id) == [] and scene.dispatched == []


async def test_a_reaction_pins_each_file_of_its_message_once(scene: Scene) -> None:
    a = scene.slack.add_file("a.txt", b"a")
    b = scene.slack.add_file("b.txt", b"b")
    ts = scene.slack.add_message_with_files([a, b])
    intake = scene.intake(auto_pin=False)  # an explicit request: auto-pin does not matter

    async def react(event_id: str, user: str) -> None:
        await intake.reaction(scene.client, team_id=TEAM, event_id=event_id,
                              channel_id="C0GENERAL", message_ts=ts, user_id=user)

    await react("EvR1", "UALICE")
    await react("EvR1", "UALICE")  # Slack's retry
    for fake in (a, b):
        [job] = await scene.jobs_for(fake.id)
        assert (job.kind, job.request.message_ts, job.request.user_id) == (
            "reaction", ts, "UALICE")
        assert job.request_key == f"reaction:EvR1:{fake.id}"
    # Somebody else reacts too: they asked, so they get an answer of their own.
    await react("EvR2", "UBOB")
    assert len(await scene.jobs_for(a.id)) == 2
    assert len(scene.dispatched) == 4


async def test_a_reaction_on_a_message_without_files_is_answered_not_dropped(
    scene: Scene,
) -> None:
    ts = scene.slack.next_ts()
    scene.slack.messages[("C0GENERAL", ts)] = {"channel": "C0GENERAL", "ts": ts,
                                               "text": "no files here"}
    await scene.intake().reaction(scene.client, team_id=TEAM, event_id="EvR1",
                                  channel_id="C0GENERAL", message_ts=ts, user_id="UALICE")
    assert scene.dispatched == []
    [notice] = scene.slack.ephemeral
    assert notice["user"] == "UALICE" and "no files" in str(notice)


def files_of(*fakes: object) -> list[SlackFile]:
    return [SlackFile.from_api({"id": getattr(f, "id", f), "name": "x"}) for f in fakes]


async def test_the_shortcut_is_one_job_per_file_per_interaction(scene: Scene) -> None:
    intake = scene.intake()
    files = files_of("F1", "F2")

    async def pin_each(request_id: str) -> None:
        await intake.pin_each(scene.client, team_id=TEAM, channel_id="C0GENERAL",
                              message_ts="1.1", user_id="UALICE", files=files,
                              request_id=request_id)

    await pin_each("trigger-1")
    await pin_each("trigger-1")  # the same interaction handled twice
    assert len(scene.dispatched) == 2
    await pin_each("trigger-2")  # asked again: a new request, answered again
    assert len(scene.dispatched) == 4
    assert {j.request_key for j in scene.dispatched} == {
        "shortcut:trigger-1:F1", "shortcut:trigger-1:F2",
        "shortcut:trigger-2:F1", "shortcut:trigger-2:F2"}
    assert {j.kind for j in scene.dispatched} == {"shortcut"}


async def test_pin_as_folder_is_one_job_per_interaction(scene: Scene) -> None:
    intake = scene.intake()
    for _ in range(2):
        await intake.pin_folder(team_id=TEAM, channel_id="C0GENERAL", message_ts="1.1",
                                thread_ts=None, user_id="UALICE",
                                files=files_of("F1", "F2"), request_id="trigger-1")
    [job] = scene.dispatched
    assert job.kind == "folder" and job.request.file_ids == ("F1", "F2")
    assert job.pin_key == "folder:C0GENERAL:1.1"


async def test_pin_cid_is_one_job_per_command(scene: Scene) -> None:
    intake = scene.intake()
    cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    for request_id in ("cmd-1", "cmd-1", "cmd-2"):
        await intake.pin_cid(team_id=TEAM, channel_id="C0GENERAL", user_id="UALICE",
                             cid=cid, name="x", response_url=None, request_id=request_id)
    assert [j.request_key for j in scene.dispatched] == ["cid:cmd-1", "cid:cmd-2"]
    assert {j.pin_key for j in scene.dispatched} == {f"cid:{cid}"}


@pytest.mark.parametrize("asked", [
    PinRequest("share", "T1", "C1", "U1", file_id="F1", event_time=1_700_000_000.25),
    PinRequest("reaction", "T1", "C1", "U1", file_id="F1", message_ts="1700000000.000100"),
    PinRequest("folder", "T1", "C1", "U1", file_ids=("F1", "F2", "F3"),
               message_ts="1.2", thread_ts="1.1"),
    PinRequest("cid", "T1", "C1", "U1", cid="bafyabc", name="näme ✓ \"quoted\"",
               response_url="https://hooks.slack.com/commands/T1/1/abc"),
    PinRequest("catchup", "T1", "C1", "", file_id="F9", event_time=0.0),
])
def test_a_request_survives_its_json_round_trip(asked: PinRequest) -> None:
    """What a job needs after any restart is exactly what was asked."""
    again = PinRequest.from_json(asked.to_json())
    assert again == asked
    assert isinstance(again.file_ids, tuple)


def test_explicit_requests_are_always_answered() -> None:
    explicit = {kind for kind in ("share", "reaction", "shortcut", "folder", "cid", "catchup")
                if PinRequest(kind, "T1", "C1", "U1").explicit}
    assert explicit == {"reaction", "shortcut", "folder", "cid"}
