"""Slash command parsing: what users type, and the help they get when it is wrong."""

from __future__ import annotations

import pytest

from bot.commands import (
    EXAMPLE_CID,
    CommandError,
    HelpRequested,
    PinCID,
    PinDetails,
    PinsQuery,
    Unpin,
    parse_pin,
    parse_pins,
    parse_unpin,
)

V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
PIN_ID = "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2"


@pytest.mark.parametrize("text", ["", "  ", "help", "HELP", "--help"])
def test_pin_help(text: str) -> None:
    with pytest.raises(HelpRequested, match="/pin"):
        parse_pin(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EXAMPLE_CID, PinCID(EXAMPLE_CID, None)),
        (f"{V0} my file.txt", PinCID(V0, "my file.txt")),
        (f"ipfs://{V0}", PinCID(V0, None)),
        (f"`{V0}`", PinCID(V0, None)),
    ],
)
def test_pin_cid(text: str, expected: PinCID) -> None:
    assert parse_pin(text) == expected


@pytest.mark.parametrize("text", ["hello", "Qm123", EXAMPLE_CID[:-3], "bafy!!!"])
def test_pin_invalid_cid_explains(text: str) -> None:
    with pytest.raises(CommandError) as info:
        parse_pin(text)
    assert "not a valid CID" in str(info.value) and EXAMPLE_CID in str(info.value)


def test_pins_defaults_and_filters() -> None:
    assert parse_pins("") == PinsQuery()
    assert parse_pins("unpinned sort:name asc") == PinsQuery("unpinned", "name", "asc")
    assert parse_pins("SORT:SIZE pinned") == PinsQuery("pinned", "size", "desc")
    assert parse_pins("sort:date") == PinsQuery(sort="created_at")
    assert parse_pins(PIN_ID) == PinDetails(PIN_ID)
    with pytest.raises(HelpRequested):
        parse_pins("help")


@pytest.mark.parametrize("text", ["sort:colour", "everything", f"{PIN_ID} pinned"])
def test_pins_bad_input(text: str) -> None:
    with pytest.raises(CommandError):
        parse_pins(text)


def test_pins_query_round_trips_through_a_button_value() -> None:
    query = PinsQuery("pinned", "size", "asc", 20)
    assert PinsQuery.from_value(query.to_value()) == query
    assert len(query.to_value()) < 2000  # Slack's button value limit
    assert PinsQuery.from_value("garbage") == PinsQuery()
    assert PinsQuery.from_value('{"status":"x","offset":-5}') == PinsQuery()
    assert query.page(-10).offset == 0


def test_unpin() -> None:
    with pytest.raises(HelpRequested):
        parse_unpin("")
    assert parse_unpin(f"{PIN_ID}, {PIN_ID} abcdef12") == Unpin((PIN_ID, "abcdef12"))
    with pytest.raises(CommandError, match="does not look like a pin id"):
        parse_unpin("<@U123>")
    with pytest.raises(CommandError, match="at most"):
        parse_unpin(" ".join(f"pin-{i:04d}" for i in range(25)))


def test_pins_find_and_pin_auto() -> None:
    from bot.commands import AutoPin

    query = parse_pins("find Quarterly report")
    assert isinstance(query, PinsQuery)
    assert (query.scope, query.search) == ("find", "Quarterly report")
    assert PinsQuery.from_value(query.to_value()) == query
    with pytest.raises(CommandError):
        parse_pins("find")
    assert parse_pin("auto") == AutoPin(None)
    assert parse_pin("auto ON") == AutoPin(True)
    assert parse_pin("auto off") == AutoPin(False)
    with pytest.raises(CommandError):
        parse_pin("auto maybe")
