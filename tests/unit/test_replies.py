"""Every reply pinbot sends (bot/slack/replies.py), against the Slack emulator on the wire.

Replies are best effort: the pin is the durable thing, so a refused or lost reply must not
raise into a job or a request. Each failure is one log line naming the method and Slack's
error code, never the token.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.slack import replies
from pinbot.emulators.slack import SlackEmulator

NOTE = blocks.notice("Pinned.", emoji=":pushpin:")


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def client(slack: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


def unreachable() -> AsyncWebClient:
    """A client whose Slack is down (nothing listens on the port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AsyncWebClient(token="xoxb-test-token", base_url=f"http://127.0.0.1:{port}/api/")
    client.retry_handlers.clear()  # slack_sdk's own reconnect backoff: a second per call
    return client


def reply_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.slack.replies"]


async def test_a_card_is_posted_in_its_thread_and_updated(
    slack: SlackEmulator, client: AsyncWebClient,
) -> None:
    ts = await replies.post(client, "C1", blocks.notice("Pinning…"), thread_ts="1.1")
    assert ts is not None
    assert await replies.update(client, "C1", ts, NOTE)
    [card] = slack.thread("C1", "1.1")
    assert card["ts"] == ts and "Pinned." in str(card["blocks"])


async def test_a_refused_post_is_none_and_one_log_line(
    slack: SlackEmulator, client: AsyncWebClient, caplog: pytest.LogCaptureFixture,
) -> None:
    slack.rate_limit_next["chat.postMessage"] = 1
    assert await replies.post(client, "C1", NOTE) is None
    assert reply_logs(caplog) == ["chat.postMessage to C1 failed: ratelimited"]


async def test_updating_a_card_that_is_gone_is_false(
    client: AsyncWebClient, caplog: pytest.LogCaptureFixture,
) -> None:
    assert await replies.update(client, "C1", "9.9", NOTE) is False
    assert reply_logs(caplog) == ["chat.update C1/9.9 failed: message_not_found"]


async def test_slack_down_raises_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    """A reply that cannot reach Slack at all: every helper returns, none raises."""
    down = unreachable()
    assert await replies.post(down, "C1", NOTE) is None
    assert await replies.update(down, "C1", "1.1", NOTE) is False
    await replies.ephemeral(down, "C1", "U1", NOTE)
    assert await replies.permalink(down, "C1", "1.1") is None
    await replies.show_state(down, "C1", "1.1", replies.DONE)
    assert await replies.dm(down, "U1", NOTE) is None
    await replies.open_view(down, "trigger", {"type": "modal"})
    await replies.publish_home(down, "U1", {"type": "home"})
    lines = reply_logs(caplog)
    assert len(lines) == 9  # one per call (show_state makes two: remove, then add)
    assert not any("xoxb" in line for line in lines)


async def test_a_bad_token_is_logged_without_the_token(
    slack: SlackEmulator, caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = AsyncWebClient(token="xoxb-revoked-0000", base_url=slack.api_url)
    await replies.ephemeral(wrong, "C1", "U1", NOTE)
    assert reply_logs(caplog) == ["chat.postEphemeral in C1 failed: invalid_auth"]
    assert not any("xoxb-revoked" in r.getMessage() for r in caplog.records)


async def test_a_message_shows_exactly_one_state(
    slack: SlackEmulator, client: AsyncWebClient, caplog: pytest.LogCaptureFixture,
) -> None:
    """Working, then done: the ⏳ goes, whichever process added it; done twice is quiet."""
    await replies.show_state(client, "C1", "1.1", replies.WORKING)
    await replies.show_state(client, "C1", "1.1", replies.WORKING)
    assert slack.reactions[("C1", "1.1")] == {replies.WORKING}
    await replies.show_state(client, "C1", "1.1", replies.DONE)
    assert slack.reactions[("C1", "1.1")] == {replies.DONE}
    await replies.show_state(client, "C1", "1.1", replies.DONE)  # a resumed job, again
    await replies.show_state(client, "C1", "2.2", replies.FAILED)  # never saw "working"
    assert slack.reactions[("C1", "2.2")] == {replies.FAILED}
    await replies.show_state(client, "C1", None, replies.DONE)  # no message: nothing
    assert reply_logs(caplog) == []  # already_reacted / no_reaction are not failures


async def test_a_link_to_a_card_or_none(client: AsyncWebClient) -> None:
    ts = await replies.post(client, "C1", NOTE)
    assert ts is not None
    link = await replies.permalink(client, "C1", ts)
    assert link is not None and link.startswith("https://")
    assert await replies.permalink(client, "C1", "9.9") is None


async def test_a_dead_response_url_is_logged_not_raised(
    slack: SlackEmulator, caplog: pytest.LogCaptureFixture,
) -> None:
    """`/pin CID` answered after its response_url expired (30 minutes)."""
    live = slack.response_url()
    await replies.respond(live, NOTE)
    assert len(slack.response_posts(live)) == 1
    await replies.respond(f"http://127.0.0.1:{slack.port}/response/Rexpired", NOTE)
    assert reply_logs(caplog) == ["response_url reply refused: HTTP 404"]


async def test_a_dm_returns_where_it_went(slack: SlackEmulator, client: AsyncWebClient) -> None:
    where = await replies.dm(client, "UALICE", NOTE)
    assert where is not None
    channel, ts = where
    assert (channel, ts) in slack.messages
