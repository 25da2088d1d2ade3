"""Gateway links: the account's gateways read defensively, chosen, cached, and the fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.w3ipfs import MalformedResponseError, W3IPFSClient, W3IPFSError
from bot.w3ipfs.gateways import (
    PUBLIC_GATEWAY_URL,
    Gateway,
    GatewayResolver,
    gateway_host,
    parse_gateways,
    pick_gateway,
)
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, SECRET_KEY

DEDICATED = {"name": "team", "host": "team.w3ipfs.aioz.network", "type": "Dedicated",
             "bandwidth": 10, "operation": "Running", "active": True}
PUBLIC = {"name": "public", "host": "gateway.w3ipfs.aioz.network", "type": "Public",
          "active": True}


def test_documented_shape() -> None:
    found = parse_gateways({"totals": 2, "gateways": [PUBLIC, DEDICATED]})
    assert [g.host for g in found] == ["gateway.w3ipfs.aioz.network", "team.w3ipfs.aioz.network"]
    assert found[1] == Gateway("team.w3ipfs.aioz.network", "team", "dedicated", True, "running")
    assert pick_gateway(found) == found[1]
    assert found[1].url == "https://team.w3ipfs.aioz.network"


@pytest.mark.parametrize("data", [
    None, "", "gateways", 42, 3.5, True, [], {}, {"gateways": None}, {"gateways": "x"},
    {"gateways": {"host": "a.example.net"}}, {"totals": 1}, {"data": {"gateways": [DEDICATED]}},
    {"gateways": [None, 1, "a.example.net", [], {"name": "no host"}]},
])
def test_junk_shapes_give_no_gateway(data: Any) -> None:
    assert parse_gateways(data) == []
    assert pick_gateway(parse_gateways(data)) is None


@pytest.mark.parametrize("host", [
    None, 7, "", " ", "localhost", "a.example.net/path", "a.example.net?x=1", "user@a.example.net",
    "a.example.net|click me", "a.example.net>", "<a.example.net", "a .example.net",
    "javascript:alert(1)", "ftp://a.example.net", "-a.example.net", "a..example.net",
    "a.example.net:123456", "x" * 300 + ".net", "a.example.net#frag", "héllo.example.net",
])
def test_hosts_that_cannot_make_a_link(host: Any) -> None:
    assert gateway_host(host) is None
    assert parse_gateways({"gateways": [{**DEDICATED, "host": host}]}) == []


@pytest.mark.parametrize(("host", "expected"), [
    ("Team.W3IPFS.aioz.network", "team.w3ipfs.aioz.network"),
    (" https://team.example.net/ ", "team.example.net"),
    ("http://team.example.net", "team.example.net"),
    ("team.example.net:8443", "team.example.net:8443"),
])
def test_hosts_normalised(host: str, expected: str) -> None:
    assert gateway_host(host) == expected


def test_choice_prefers_active_dedicated_and_skips_stopped() -> None:
    gateways = parse_gateways({"gateways": [
        PUBLIC,
        {**DEDICATED, "host": "off.example.net", "active": False},
        {**DEDICATED, "host": "stopped.example.net", "operation": "Stopped"},
        {**DEDICATED, "host": "unsaid.example.net", "active": "maybe"},
        {**DEDICATED, "host": "live.example.net", "active": "true"},
    ]})
    assert pick_gateway(gateways) is not None
    assert pick_gateway(gateways).host == "live.example.net"  # type: ignore[union-attr]
    # Without it, a dedicated one whose state is not said beats the public one.
    assert pick_gateway(gateways[:4]).host == "unsaid.example.net"  # type: ignore[union-attr]
    # Only inactive ones: the listed public gateway.
    assert pick_gateway(gateways[:3]).host == "gateway.w3ipfs.aioz.network"  # type: ignore[union-attr]
    assert pick_gateway(gateways[1:3]) is None


def test_odd_field_types_are_read_as_unknown() -> None:
    (gateway,) = parse_gateways({"gateways": [
        {"host": "a.example.net", "type": 5, "active": 7, "operation": ["x"], "name": {}}]})
    assert gateway == Gateway("a.example.net")
    assert gateway.usable


class FakeSource:
    """A pinning client stand-in: counts lookups, answers or fails as told."""

    def __init__(self, answer: Any, fingerprint: str = "acct-1") -> None:
        self.answer = answer
        self.calls = 0
        self.account_fingerprint = fingerprint

    async def gateways(self) -> list[Gateway]:
        self.calls += 1
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer == "hang":
            await asyncio.sleep(10)
        return parse_gateways(self.answer)


async def test_resolver_caches_per_account() -> None:
    resolver = GatewayResolver(None)
    one = FakeSource({"gateways": [DEDICATED]})
    other = FakeSource({"gateways": [{**DEDICATED, "host": "b.example.net"}]}, "acct-2")
    results = await asyncio.gather(*(resolver.url_for(one) for _ in range(5)))
    assert set(results) == {"https://team.w3ipfs.aioz.network"}
    assert one.calls == 1  # a burst of cards waits for one lookup
    assert await resolver.url_for(other) == "https://b.example.net"
    assert await resolver.url_for(one) == "https://team.w3ipfs.aioz.network"
    assert (one.calls, other.calls) == (1, 1)


async def test_resolver_ttl_expires() -> None:
    resolver = GatewayResolver(None, ttl=0.05)
    source = FakeSource({"gateways": [DEDICATED]})
    await resolver.url_for(source)
    await asyncio.sleep(0.08)
    await resolver.url_for(source)
    assert source.calls == 2


@pytest.mark.parametrize("answer", [
    MalformedResponseError("not json"), RuntimeError("a bug"), {"gateways": []}, "junk", "hang",
])
async def test_resolver_falls_back_with_one_log_line(
    answer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    resolver = GatewayResolver(None, timeout=0.1, failure_ttl=60)
    source = FakeSource(answer)
    with caplog.at_level("WARNING", logger="bot.w3ipfs.gateways"):
        assert await resolver.url_for(source) == PUBLIC_GATEWAY_URL
        assert await resolver.url_for(source) == PUBLIC_GATEWAY_URL
    assert source.calls == 1  # the failure is remembered for a while
    assert len([r for r in caplog.records if r.name == "bot.w3ipfs.gateways"]) == 1


async def test_configured_gateway_wins_without_asking() -> None:
    resolver = GatewayResolver("https://gw.example/")
    source = FakeSource(RuntimeError("must not be asked"))
    assert await resolver.url_for(source) == "https://gw.example"
    assert resolver.default == "https://gw.example"
    assert source.calls == 0
    assert GatewayResolver(None).default == PUBLIC_GATEWAY_URL


async def test_client_against_the_emulator(w3ipfs: W3IPFSEmulator,
                                           client: W3IPFSClient) -> None:
    assert [g.host for g in await client.gateways()] == ["gateway.w3ipfs.aioz.network"]
    w3ipfs.set_gateways([PUBLIC, DEDICATED])
    assert pick_gateway(await client.gateways()) == parse_gateways([DEDICATED])[0]
    w3ipfs.set_gateways(body={"status": "success", "data": ["nonsense"]})
    assert await client.gateways() == []
    w3ipfs.inject("500", path="/gateways")
    with pytest.raises(W3IPFSError):
        await client.gateways()
    asked = w3ipfs.api_requests("GET", "/gateways")
    assert len(asked) == 4  # once each: the 500 is not retried (the caller falls back)
    assert asked[0].headers["pinning_api_key"] == API_KEY and asked[0].query["type"] == "all"
    other = client.with_credentials("other-key", SECRET_KEY)
    assert other.account_fingerprint != client.account_fingerprint
    assert API_KEY not in client.account_fingerprint
