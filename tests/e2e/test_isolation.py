"""Workspace isolation on a shared pinning account, tried as workspace B would try it.

Two OAuth workspaces install pinbot and neither sets keys of its own, so both pin into the
environment's W3IPFS account. Workspace B (an admin, so no refusal is down to permissions)
lists, searches, opens, unpins, forges buttons, menus and modal submissions carrying A's pin
ids, runs a cleanup and opens App Home. It must never receive A's names or CIDs, every answer
about one of A's ids must equal the answer about an id that does not exist (with no extra
API call), and all of A's pins must still be pinned at the end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.blocks import (
    CLEANUP_CONFIRM,
    CLEANUP_MODAL,
    HOME_ROW_MENU,
    ROW_MENU,
    SHARE_PIN,
    UNPIN_BUTTON,
    UNPIN_CONFIRM,
    UNPIN_MODAL,
)
from bot.cid import cid_v1_of
from bot.pins.cleanup import CleanupFilter
from tests.e2e.conftest import Bot, BotFactory
from tests.e2e.test_commands import responded
from tests.e2e.test_oauth import ACCOUNTS, install, oauth_bot, use_own_account
from tests.e2e.test_shared_files import text_of
from tests.unit.test_cid import VECTORS

A, B = "TALPHA", "TBETA"
ADMIN_A, ADMIN_B = "UAADMIN", "UBADMIN"
A_FILES = {"alpha-plan.pdf": b"alpha's plan", "alpha-budget.xlsx": b"alpha's budget"}


@dataclass
class World:
    bot: Bot
    a_ids: list[str]  # A's pins: two shared files, one /pin CID, one marked at the service
    outside_id: str  # made at the service with no workspace mark
    b_id: str
    #: What B must never read: A's names and CIDs, and the unmarked pin's.
    secrets: list[str]
    b_urls: list[str] = field(default_factory=list)
    b_acks: list[Any] = field(default_factory=list)

    def received_by_b(self) -> str:
        """Everything B's people were shown: replies, acks, views, DMs, posts."""
        posts = [self.bot.slack.response_posts(u) for u in self.b_urls]
        calls = [c.args for c in self.bot.slack.calls if c.args.get("_team") == B]
        return json.dumps([posts, self.b_acks, calls], ensure_ascii=False)

    def assert_b_saw_nothing_of_a(self) -> None:
        seen = self.received_by_b()
        leaked = [s for s in self.secrets if s in seen]
        assert not leaked, f"workspace B was shown {leaked}"

    def assert_a_still_pinned(self) -> None:
        pins = {p["id"]: p["pinned"] for p in self.bot.w3ipfs.all_pins()}
        assert all(pins[i] for i in [*self.a_ids, self.outside_id])


async def shared_account(make_bot: BotFactory) -> World:
    bot = await oauth_bot(make_bot)
    for team in (A, B):
        await install(bot, team)  # no /pin setup: both use the environment's keys
    for user in ("UALICE", "UBOB"):
        bot.slack.add_user(user)
    for admin in (ADMIN_A, ADMIN_B):
        bot.slack.add_user(admin, admin=True)
    for name, data in A_FILES.items():
        await bot.driver.file_shared(bot.slack.add_file(name, data, channel="C0ALPHA"), team=A)
    await bot.driver.command("/pin", f"{VECTORS[0][1]} alpha-by-cid", team=A,
                             channel="C0ALPHA")
    beta = bot.slack.add_file("beta-notes.txt", b"beta's notes", user="UBOB", channel="C0BETA")
    await bot.driver.file_shared(beta, team=B)
    await bot.idle()
    marked = await bot.services.w3ipfs.pin_file(b"alpha, marked", "alpha-marked.txt",
                                                metadata={"slack_team": A})
    outside = await bot.services.w3ipfs.pin_file(b"from the dashboard", "outside-slack.txt")
    by_name = {p["metadata"]["name"]: p["id"] for p in bot.w3ipfs.all_pins()}
    assert len(by_name) == 6, by_name
    a_ids = [by_name[n] for n in (*A_FILES, "alpha-by-cid")] + [marked.id]
    secrets = [*A_FILES, "alpha-by-cid", "alpha-marked", "outside-slack",
               *(cid_v1_of(d) for d in A_FILES.values()), VECTORS[0][1], VECTORS[0][2],
               marked.cid, outside.cid]
    return World(bot, a_ids, outside.id, by_name["beta-notes.txt"], secrets)


async def b_command(world: World, command: str, text: str, user: str = ADMIN_B
                    ) -> dict[str, Any]:
    sent = await world.bot.driver.command(command, text, team=B, user=user,
                                          channel="C0BETA")
    world.b_acks.append(sent.body)
    world.b_urls.append(str(sent.response_url))
    (reply,) = await responded(world.bot, sent.response_url)
    return reply


async def b_action(world: World, action_id: str, **kwargs: Any) -> dict[str, Any]:
    sent = await world.bot.driver.action(action_id, team=B, user=ADMIN_B, channel="C0BETA",
                                         **kwargs)
    world.b_acks.append(sent.body)
    world.b_urls.append(str(sent.response_url))
    (reply,) = await responded(world.bot, sent.response_url)
    return reply


async def b_view(world: World, action: Callable[[], Awaitable[Any]], method: str
                 ) -> dict[str, Any]:
    """The view B's request made pinbot open or publish."""
    before = len(world.bot.slack.calls_to(method))
    world.b_acks.append((await action()).body)
    await world.bot.idle()
    calls = world.bot.slack.calls_to(method)[before:]
    assert len(calls) == 1 and calls[0].args["_team"] == B
    return dict(calls[0].args["view"])


def b_probes(world: World) -> dict[str, Callable[[str], Awaitable[Any]]]:
    """Every way B can ask about one pin id."""
    bot = world.bot

    def home_menu(verb: str) -> Callable[[str], Awaitable[Any]]:
        return lambda pin_id: b_view(world, lambda: bot.driver.action(
            HOME_ROW_MENU, selected_value=f"{verb}:{pin_id}", team=B, user=ADMIN_B),
            "views.open")

    return {
        "/pins <id>": lambda pin_id: b_command(world, "/pins", pin_id),
        "/unpin <id>": lambda pin_id: b_command(world, "/unpin", pin_id),
        "unpin confirm button": lambda pin_id: b_action(
            world, UNPIN_CONFIRM, value=json.dumps([pin_id])),
        "card unpin button": lambda pin_id: b_action(world, UNPIN_BUTTON, value=pin_id),
        "row menu details": lambda pin_id: b_action(
            world, ROW_MENU, selected_value=f"details:{pin_id}"),
        "row menu unpin": lambda pin_id: b_action(
            world, ROW_MENU, selected_value=f"unpin:{pin_id}"),
        "share button": lambda pin_id: b_action(world, SHARE_PIN, value=pin_id),
        "home menu details": home_menu("details"),
        "home menu unpin": home_menu("unpin"),
        "unpin modal submission": lambda pin_id: b_view(world, lambda: bot.driver.view_submission(
            UNPIN_MODAL, private_metadata=pin_id, team=B, user=ADMIN_B), "views.publish"),
    }


def api_calls_about(bot: Bot, pin_id: str) -> list[str]:
    return [r.method for r in bot.w3ipfs.requests if pin_id in r.path]


def normalised(answer: Any, pin_id: str) -> str:
    return json.dumps(answer, sort_keys=True).replace(pin_id, "<id>")


async def test_another_workspaces_ids_are_answered_like_unknown_ids(
    make_bot: BotFactory,
) -> None:
    world = await shared_account(make_bot)
    # One of each: in A's ledger, only marked with A's team, and marked with no team.
    theirs_ids = [world.a_ids[0], world.a_ids[-1], world.outside_id]
    for way, probe in b_probes(world).items():
        for theirs in theirs_ids:
            unknown = str(uuid.uuid4())
            expected = normalised(await probe(unknown), unknown)
            got = normalised(await probe(theirs), theirs)
            assert got == expected, f"{way}: A's pin answered differently from an unknown id"
            assert api_calls_about(world.bot, theirs) == api_calls_about(world.bot, unknown), (
                f"{way}: A's pin cost different API calls than an unknown id")
            world.bot.w3ipfs.requests.clear()
    world.assert_a_still_pinned()
    world.assert_b_saw_nothing_of_a()


async def test_listing_search_home_and_cleanup_show_only_the_workspaces_own(
    make_bot: BotFactory,
) -> None:
    world = await shared_account(make_bot)
    await check_b_sees_only_its_own(world)
    # A is not blinded by the same rules: its ledger and its mark make its pins its own.
    sent = await world.bot.driver.command("/pins", "", team=A, channel="C0ALPHA")
    (page,) = await responded(world.bot, sent.response_url)
    shown = text_of(page)
    assert "4 pins" in shown and all(n in shown for n in (*A_FILES, "alpha-marked.txt"))
    assert "beta-notes" not in shown and "outside-slack" not in shown
    await check_cleanup(world)


async def test_scoping_holds_when_the_service_ignores_the_metadata_filter(
    make_bot: BotFactory,
) -> None:
    world = await shared_account(make_bot)
    world.bot.w3ipfs.honour_metadata_filter = False  # the filter is undocumented
    await check_b_sees_only_its_own(world)
    await check_cleanup(world)


async def test_totals_stay_the_workspaces_when_a_page_shows_only_its_own_pins(
    make_bot: BotFactory,
) -> None:
    """An ignored filter cannot hide behind a page that happens to hold only B's pins:
    the header and Home would then show the account's totals."""
    world = await shared_account(make_bot)
    for i in range(10):  # B's newest ten fill the first page by themselves
        fake = world.bot.slack.add_file(f"beta-{i}.txt", f"beta {i}".encode(), user="UBOB",
                                        channel="C0BETA")
        await world.bot.driver.file_shared(fake, team=B)
    await world.bot.idle()
    world.bot.w3ipfs.honour_metadata_filter = False
    page = text_of(await b_command(world, "/pins", ""))
    assert "11 pins ·" in page and "Showing 1 to 10 of 11" in page
    home = await b_view(world, lambda: world.bot.driver.event(
        {"type": "app_home_opened", "user": ADMIN_B, "channel": "D0HOME", "tab": "home"},
        team=B), "views.publish")
    assert "*11* pins" in json.dumps(home)
    world.assert_b_saw_nothing_of_a()


async def check_b_sees_only_its_own(world: World) -> None:
    listing = text_of(await b_command(world, "/pins", ""))
    assert "beta-notes.txt" in listing and "1 pin ·" in listing  # B's totals, not the account's
    for text in ("pinned", "unpinned", "all sort:size asc", "sort:name"):
        await b_command(world, "/pins", text)
    assert "0 pins" in text_of(await b_command(world, "/pins", "find alpha"))
    own = text_of(await b_command(world, "/pins", "find slack_channel=C0BETA"))
    assert "beta-notes.txt" in own and "1 pin ·" in own
    nobody = await b_command(world, "/pins", "find slack_team=TNOBODY")
    for search in (f"slack_team={A}", "slack_channel=C0ALPHA", "slack_user=UALICE"):
        theirs = await b_command(world, "/pins", f"find {search}")
        assert normalised(theirs, search) == normalised(nobody, "slack_team=TNOBODY")
    home = await b_view(world, lambda: world.bot.driver.event(
        {"type": "app_home_opened", "user": ADMIN_B, "channel": "D0HOME", "tab": "home"},
        team=B), "views.publish")
    shown = json.dumps(home)
    assert "*1* pins" in shown and "beta-notes.txt" in shown
    world.assert_b_saw_nothing_of_a()


async def check_cleanup(world: World) -> None:
    bot = world.bot
    preview = await bot.driver.view_submission(CLEANUP_MODAL, user=ADMIN_B, team=B)
    world.b_acks.append(preview.body)
    assert "*1 pin*" in json.dumps(preview.body) and "beta-notes" in json.dumps(preview.body)
    for forged in (CleanupFilter(channel_id="C0ALPHA"), CleanupFilter(user_id="UALICE"),
                   CleanupFilter(name_contains="alpha"), CleanupFilter()):
        sent = await bot.driver.view_submission(CLEANUP_CONFIRM, user=ADMIN_B, team=B,
                                                private_metadata=forged.to_json())
        world.b_acks.append(sent.body)
        await bot.idle()
    pinned = {p["id"]: p["pinned"] for p in bot.w3ipfs.all_pins()}
    assert pinned[world.b_id] is False  # the unfiltered cleanup took B's own pin
    world.assert_a_still_pinned()
    world.assert_b_saw_nothing_of_a()


async def test_unmarked_pins_belong_to_a_workspace_with_its_own_account(
    make_bot: BotFactory,
) -> None:
    bot = await oauth_bot(make_bot)
    for team in (A, B):
        await install(bot, team)
    await use_own_account(bot, A)  # A's account is A's alone; B stays on the shared one
    bot.slack.add_user(ADMIN_A, admin=True)
    bot.slack.add_user("UALICE")
    own = bot.services.w3ipfs.with_credentials(*ACCOUNTS[A])
    dashboard = await own.pin_file(b"made in A's dashboard", "a-dashboard.txt")
    shared = await bot.services.w3ipfs.pin_file(b"made on the shared account", "env-only.txt")

    async def ask(team: str, command: str, text: str, user: str = ADMIN_A) -> str:
        sent = await bot.driver.command(command, text, team=team, user=user)
        (reply,) = await responded(bot, sent.response_url)
        return text_of(reply)

    assert "a-dashboard.txt" in await ask(A, "/pins", "")
    assert "Pinned outside Slack" in await ask(A, "/pins", dashboard.id)
    assert "only an admin can unpin it" in await ask(A, "/unpin", dashboard.id, user="UALICE")
    assert UNPIN_CONFIRM in await ask(A, "/unpin", dashboard.id)
    # The shared account's unmarked pin is nobody's on it, B's admin included.
    assert "env-only" not in await ask(B, "/pins", "")
    assert "No pin with" in await ask(B, "/pins", shared.id)
    assert "No pin with" in await ask(B, "/unpin", shared.id)
    sent = await bot.driver.action(UNPIN_CONFIRM, value=json.dumps([dashboard.id]), team=A,
                                   user=ADMIN_A)
    (done,) = await responded(bot, sent.response_url)
    assert "Unpinned 1 of 1" in text_of(done)
    assert bot.w3ipfs.all_pins(ACCOUNTS[A][0])[0]["pinned"] is False
    assert all(p["pinned"] for p in bot.w3ipfs.all_pins())


async def test_unmarked_pins_are_manageable_in_single_workspace_mode(
    make_bot: BotFactory,
) -> None:
    bot = await make_bot(PINBOT_ADMIN_USERS="UADMIN")
    bot.slack.add_user("UALICE")
    pin = await bot.services.w3ipfs.pin_file(b"from the dashboard", "dashboard.txt")

    async def ask(command: str, text: str, user: str = "UADMIN") -> str:
        sent = await bot.driver.command(command, text, user=user)
        (reply,) = await responded(bot, sent.response_url)
        return text_of(reply)

    assert "dashboard.txt" in await ask("/pins", "") and "1 pin ·" in await ask("/pins", "")
    assert "Pinned outside Slack" in await ask("/pins", pin.id)
    assert "only an admin can unpin it" in await ask("/unpin", pin.id, user="UALICE")
    sent = await bot.driver.action(UNPIN_CONFIRM, value=json.dumps([pin.id]), user="UADMIN")
    (done,) = await responded(bot, sent.response_url)
    assert "Unpinned 1 of 1" in text_of(done)
    assert bot.w3ipfs.all_pins()[0]["pinned"] is False
