"""The download host policy and the download clock: pure rules, attacked with hostile input."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
from yarl import URL

from bot.download_policy import (
    HopRefusal,
    hop_refusal,
    host_allowed,
    is_loopback_host,
    is_public,
    literal_address,
)
from bot.slack_files import DownloadClock, SlowDownloadError

SLACK = ["files.slack.com", "slack-edge.com"]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.0.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "198.18.0.1", "192.0.0.1",
    "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1",
    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1", "2002:a00:1::1",
    "2001:db8::1", "fe80::1%eth0",
])
def test_non_public_addresses(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "52.94.236.248", "2606:4700:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8", "64:ff9b::808:808",
])
def test_public_addresses(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001",
                                  "017700000001", "1.2.3"])
def test_numeric_hosts_other_than_dotted_decimal_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="numeric host"):
        literal_address(host)


def test_literal_addresses_and_names() -> None:
    assert literal_address("127.0.0.1.") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("::1") == ipaddress.ip_address("::1")
    assert literal_address("files.slack.com") is None
    assert literal_address("1password.com") is None


@pytest.mark.parametrize(("host", "allowed"), [
    ("files.slack.com", True), ("FILES.SLACK.COM.", True), ("a.b.slack-edge.com", True),
    ("files.slack.com.evil.example", False), ("evilfiles.slack.com", False),
    ("slack.com", False), ("", False), (None, False),
])
def test_host_allowed_matches_names_and_subdomains(host: str | None, allowed: bool) -> None:
    assert host_allowed(host, SLACK) is allowed


def test_listed_address_has_no_subdomains() -> None:
    assert host_allowed("127.0.0.1", ["127.0.0.1"])
    assert not host_allowed("evil.127.0.0.1", ["127.0.0.1"])


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("127.0.0.2", True),
    ("::1", True), ("localhost.evil.example", False), ("10.0.0.1", False),
    ("files.slack.com", False),
])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(("url", "verdict"), [
    ("https://files.slack.com/files-pri/T1-F1/download", None),
    ("https://cdn.example/file", None),  # not listed: followed without the token
    ("https://8.8.8.8/file", None),
    ("http://localhost:3000/x", None),  # a name: its addresses are the resolver's to judge
    ("http://127.0.0.1:3000/x", HopRefusal.PRIVATE_ADDRESS),  # loopback, but not listed
    ("http://files.slack.com/files-pri/T1-F1/download", HopRefusal.CLEARTEXT),
    ("http://cdn.example/file", HopRefusal.CLEARTEXT),
    ("ftp://files.slack.com/x", HopRefusal.NOT_HTTP),
    ("file:///etc/passwd", HopRefusal.NOT_HTTP),
    ("https://user:pw@files.slack.com/x", HopRefusal.CREDENTIALS),
    ("https://127.0.0.1/x", HopRefusal.PRIVATE_ADDRESS),
    ("https://[::ffff:127.0.0.1]/x", HopRefusal.PRIVATE_ADDRESS),
    ("http://169.254.169.254/latest/meta-data/", HopRefusal.PRIVATE_ADDRESS),
    ("https://2130706433/x", HopRefusal.NUMERIC_HOST),
])
def test_hop_refusal(url: str, verdict: HopRefusal | None) -> None:
    assert hop_refusal(URL(url), SLACK) is verdict


def test_listed_private_hosts_are_trusted() -> None:
    assert hop_refusal(URL("http://127.0.0.1:8080/x"), ["127.0.0.1"]) is None
    assert hop_refusal(URL("https://10.0.0.5/x"), ["10.0.0.5"]) is None
    assert hop_refusal(URL("http://10.0.0.5/x"), ["10.0.0.5"]) is HopRefusal.CLEARTEXT


async def test_clock_cuts_a_slow_step_at_the_budget() -> None:
    clock = DownloadClock(budget=0.2, stall=60, min_rate=1024)
    await clock.wait(asyncio.sleep(0.1), "f")
    with pytest.raises(SlowDownloadError, match="missed its deadline") as info:
        await clock.wait(asyncio.sleep(5), "f")
    assert 0.18 < clock.waited < 0.5
    assert "too slowly (under 1.0 KiB/s)" in info.value.user_message


async def test_clock_cuts_a_stall_before_the_budget() -> None:
    clock = DownloadClock(budget=60, stall=0.1, min_rate=1024)
    with pytest.raises(SlowDownloadError, match="stalled") as info:
        await clock.wait(asyncio.sleep(5), "f")
    assert "too slowly (nothing for 0 s)" in info.value.user_message


async def test_clock_passes_other_timeouts_through() -> None:
    async def times_out() -> None:
        raise TimeoutError("someone else's timeout")

    with pytest.raises(TimeoutError, match="someone else's"):
        await DownloadClock(budget=60, stall=60, min_rate=1).wait(times_out(), "f")


async def test_clock_does_not_charge_ready_data() -> None:
    clock = DownloadClock(budget=0.0, stall=60, min_rate=1)

    async def ready() -> bytes:
        return b"buffered"

    assert await clock.wait(ready(), "f") == b"buffered"  # no wait, even with no budget left
