"""The `waiting` step of a shared file and of `/pin CID` (bot/pins/share.py, by_cid.py).

A request for content another request is already uploading waits as a scheduled check (no
upload slot held): it looks again with growing gaps, capped so the answer comes within a
minute of the other upload's end; takes the upload over if the other failed, went stale or
vanished; and points at the pin when it is done. Real ledger and job records on a temporary
SQLite database, Slack's emulator on the wire; the pinning service is never called here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import update

from bot.jobs import JobStore, Lease, Next, PinRequest
from bot.pins import by_cid, share
from bot.pins.accounts import Accounts
from bot.slack.clients import Workspace
from bot.slack_files import SlackDownloader
from bot.store import Ledger, upgrade
from bot.store.ledger import STALE_CLAIM, utcnow
from bot.store.models import PinRow
from bot.w3ipfs import Pin, W3IPFSClient
from bot.w3ipfs.gateways import GatewayResolver
from pinbot.emulators.slack import FakeFile, SlackEmulator

TEAM = "T0TEST"
CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
OWNER = "otherhost:1:test"


@dataclass
class Scene:
    slack: SlackEmulator
    ledger: Ledger
    jobs: JobStore
    workspace: Workspace
    sharing: share.PinSharedFile
    by_cid: by_cid.PinByCID

    async def other_claim(self, key: str, name: str = "a.txt") -> int:
        """Another request holds `key` (it is uploading the same content): a live job."""
        other, _ = await self.jobs.create(
            PinRequest("share", TEAM, "C0GENERAL", "UALICE", file_id="FOTHER"),
            f"other:{key}", delay=3600)  # active, and not leased by these tests
        claim = await self.ledger.claim(TEAM, key, name=name, channel_id="C0GENERAL",
                                        user_id="UALICE", owner=f"job:{other.id}")
        assert claim.won
        return claim.record.id

    async def waiting_lease(self, request: PinRequest, pin_key: str, *,
                            card: str | None = None) -> Lease:
        job, _ = await self.jobs.create(request, f"test:{pin_key}:{request.channel_id}")
        [leased] = await self.jobs.lease(OWNER, ("queued",), 1, 60)
        assert leased.id == job.id
        lease = Lease(self.jobs, OWNER, leased)
        await lease.save(state="waiting", pin_key=pin_key, card_channel=request.channel_id,
                         card_ts=card, result={"waits": 0})
        return lease

    async def age(self, row_id: int, by: timedelta) -> None:
        async with self.ledger.sessions.begin() as session:
            await session.execute(update(PinRow).where(PinRow.id == row_id)
                                  .values(updated_at=utcnow() - by))


@pytest.fixture
async def scene(tmp_path: Path) -> AsyncIterator[Scene]:
    slack = SlackEmulator()
    await slack.start()
    ledger = await Ledger.open(f"sqlite+aiosqlite:///{tmp_path / 'waiting.db'}")
    await upgrade(ledger.engine)
    client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    # Never called in these steps: a client to a port where nothing listens.
    w3ipfs = W3IPFSClient("http://127.0.0.1:9", "unused-key", "unused-secret")
    accounts = Accounts(w3ipfs, ledger, None, gateways=GatewayResolver("https://gw.example"))
    settings = share.ShareSettings(max_file_bytes=1 << 30,
                                   max_event_age=3600, progress_interval=1.0,
                                   status_poll_interval=5.0, status_poll_seconds=3600)
    downloader = SlackDownloader(SecretStr(slack.bot_token), ["127.0.0.1"])
    try:
        yield Scene(slack, ledger, JobStore(ledger), Workspace(TEAM, client, "UBOT"),
                    share.PinSharedFile(settings, accounts, ledger, downloader),
                    by_cid.PinByCID(accounts, ledger))
    finally:
        await w3ipfs.aclose()
        await ledger.close()
        await slack.stop()


def share_of(fake: FakeFile, channel: str = "C0RANDOM") -> PinRequest:
    return PinRequest("share", TEAM, channel, "UBOB", file_id=fake.id)


async def test_a_waiting_share_looks_again_with_growing_gaps_at_most_a_minute(
    scene: Scene,
) -> None:
    fake = scene.slack.add_file("a.txt", b"a")
    await scene.other_claim(f"file:{fake.id}")
    lease = await scene.waiting_lease(share_of(fake), f"file:{fake.id}", card="1.1")
    steps = [await scene.sharing.run(lease, scene.workspace) for _ in range(8)]
    assert [s.state for s in steps] == ["waiting"] * 8
    assert [s.delay for s in steps] == [4, 8, 16, 32, 60, 60, 60, 60]
    assert lease.job.result["waits"] == 8  # durable: a restart goes on from here


async def test_a_waiting_share_takes_over_when_the_other_upload_failed(scene: Scene) -> None:
    fake = scene.slack.add_file("a.txt", b"a")
    row = await scene.other_claim(f"file:{fake.id}")
    lease = await scene.waiting_lease(share_of(fake), f"file:{fake.id}", card="1.1")
    assert (await scene.sharing.run(lease, scene.workspace)).state == "waiting"
    await scene.ledger.fail(row, "the service said no")
    assert await scene.sharing.run(lease, scene.workspace) == Next("queued")


async def test_a_waiting_share_takes_over_a_stale_or_vanished_claim(scene: Scene) -> None:
    """The other request's process died hours ago, or an admin removed its row: waiting
    on would be forever."""
    fake = scene.slack.add_file("a.txt", b"a")
    row = await scene.other_claim(f"file:{fake.id}")
    await scene.age(row, STALE_CLAIM + timedelta(minutes=1))
    lease = await scene.waiting_lease(share_of(fake), f"file:{fake.id}", card="1.1")
    assert await scene.sharing.run(lease, scene.workspace) == Next("queued")
    gone = scene.slack.add_file("b.txt", b"b")
    lease = await scene.waiting_lease(share_of(gone), f"file:{gone.id}", card="1.2")
    assert await scene.sharing.run(lease, scene.workspace) == Next("queued")


async def test_a_waiting_share_points_at_the_pin_once_it_is_done(scene: Scene) -> None:
    fake = scene.slack.add_file("a.txt", b"a")
    row = await scene.other_claim(f"file:{fake.id}")
    card = await scene.workspace.client.chat_postMessage(channel="C0RANDOM", text="waiting…")
    lease = await scene.waiting_lease(share_of(fake), f"file:{fake.id}", card=card["ts"])
    await scene.ledger.complete(row, Pin(id="pin-1", cid=CID, size=1, status="pinned",
                                         pinned=True), verified=True)
    assert await scene.sharing.run(lease, scene.workspace) == Next("done")
    shown = str(scene.slack.messages[("C0RANDOM", card["ts"])]["blocks"])
    assert "Already pinned" in shown and CID in shown and "C0GENERAL" in shown


async def test_a_waiting_pin_cid_looks_again_and_answers_the_command(scene: Scene) -> None:
    url = scene.slack.response_url()
    row = await scene.other_claim(f"cid:{CID}", name=CID)
    request = PinRequest("cid", TEAM, "C0RANDOM", "UBOB", cid=CID, response_url=url)
    lease = await scene.waiting_lease(request, f"cid:{CID}")
    steps = [await scene.by_cid.run(lease) for _ in range(6)]
    assert [s.delay for s in steps] == [2, 4, 8, 16, 30, 30]
    assert all(s.state == "waiting" for s in steps)
    await scene.ledger.complete(row, Pin(id="pin-1", cid=CID, status="pinned", pinned=True),
                                verified=None)
    assert await scene.by_cid.run(lease) == Next("done")
    [answer] = scene.slack.response_posts(url)
    assert "already has this CID" in str(answer) and answer["response_type"] == "ephemeral"


async def test_a_waiting_pin_cid_takes_over_when_the_other_failed(scene: Scene) -> None:
    row = await scene.other_claim(f"cid:{CID}", name=CID)
    request = PinRequest("cid", TEAM, "C0RANDOM", "UBOB", cid=CID)
    lease = await scene.waiting_lease(request, f"cid:{CID}")
    await scene.ledger.fail(row, "the service said no")
    assert await scene.by_cid.run(lease) == Next("queued")
