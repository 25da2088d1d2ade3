"""The one id parser (`bot.ids`), the bounded cleanup filters and the replay key of an
interaction (`bot.replays.interaction_key`)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bot.commands import PinsQuery, looks_like_pin_id
from bot.ids import (
    MESSAGE_REF,
    PIN_IDS,
    InvalidId,
    MessageRef,
    is_slack_id,
    parse_json,
    parse_pin_id,
    parse_row_value,
    parse_slack_id,
    parse_ts,
)
from bot.pins.cleanup import MAX_DAYS, MAX_MB, CleanupFilter, parse_filters
from bot.replays import interaction_key

UUID = "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2"
HOSTILE_IDS = [
    ".", "..", "%2e%2e", "%2E%2E", "../apiKeys", "../apiKeys/testAuthentication", "", " ",
    "x" * 10240, "ünïcødé-123", "\uff13c3fec2a", "pinByHash", "pins", "unpin", "/pinning/pins",
    f"{UUID}\n", f"{UUID}/..", f"../{UUID}", "-1234567", "1234567?x=1", "12345#6", "a b c 1",
    "\u202e1234567", "12345\x00678", "1" * 129,
]


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_pin_ids_are_refused(value: str) -> None:
    with pytest.raises(InvalidId):
        parse_pin_id(value)
    assert not looks_like_pin_id(value)  # the commands' rule is the same rule


@pytest.mark.parametrize("value", [UUID, "00000000-0000-0000-0000-000000000000", "ab_12-cd"])
def test_pin_ids(value: str) -> None:
    assert parse_pin_id(value) == value


@pytest.mark.parametrize("value", [None, 12345678, ["12345678"], {"id": UUID}])
def test_non_strings_are_not_ids(value: object) -> None:
    with pytest.raises(InvalidId):
        parse_pin_id(value)
    with pytest.raises(InvalidId):
        parse_slack_id(value)


def test_slack_ids_and_timestamps() -> None:
    assert parse_slack_id("C0GENERAL") == "C0GENERAL" and is_slack_id("U0123ABC")
    for bad in ("c0general", "C", "C0 GENERAL", "C0GENERAL\n", "<!channel>", "C" * 33, "\uff230"):
        assert not is_slack_id(bad)
    assert parse_ts("1700000000.000100") == "1700000000.000100"
    for bad in ("1700000000", "1e9.1", "1.2.3", "..", "1700000000.000100\n"):
        with pytest.raises(InvalidId):
            parse_ts(bad)


def test_row_values() -> None:
    assert parse_row_value(f"details:{UUID}", ("details", "unpin")) == ("details", UUID)
    for bad in (f"open:{UUID}", "details:..", "details:", "details", f"unpin:{UUID}:x", None):
        with pytest.raises(InvalidId):
            parse_row_value(bad, ("details",))


def test_json_payloads_against_their_schemas() -> None:
    assert parse_json(json.dumps([UUID, UUID]), PIN_IDS) == [UUID, UUID]
    ref = parse_json('{"c":"C0GENERAL","ts":"1700000000.000100","t":null}', MESSAGE_REF)
    assert ref == MessageRef("C0GENERAL", "1700000000.000100", None)
    hostile = [
        "", "[]", "{}", "null", "[1]", '["1234567"]' + " " * 3000, json.dumps([".."]),
        json.dumps([UUID] * 21), "[" * 2000 + "]" * 2000, '"' + UUID + '"', "not json",
        json.dumps({"ids": [UUID]}), json.dumps([UUID, None]),
    ]
    for text in hostile:
        with pytest.raises(InvalidId):
            parse_json(text, PIN_IDS)
    for text in ('{"c":"..","ts":"1.2"}', '{"c":"C1","ts":"1.2","x":1}', '{"c":"C1"}',
                 '{"c":"C1","ts":1.2}', "[]"):
        with pytest.raises(InvalidId):
            parse_json(text, MESSAGE_REF)


def test_pins_query_button_values_fall_back_to_defaults() -> None:
    for value in ("[" * 1500, "x" * 5000, '{"offset": true}', '{"offset": 1e30}',
                  '{"user": "../x", "scope": "mine"}', '{"offset": 99999999999}'):
        assert PinsQuery.from_value(value) == PinsQuery()


def state(**fields: object) -> dict[str, object]:
    return {block: {"v": {"value": value}} for block, value in fields.items()}


@pytest.mark.parametrize("number", ["inf", "-inf", "nan", "NaN", "1e9", "-1", "1" * 13,
                                    "0x10", "ninety", "1e400"])
def test_cleanup_numbers_are_finite_and_in_range(number: str) -> None:
    errors = parse_filters(state(older=number, larger=number))
    assert isinstance(errors, dict) and set(errors) == {"older", "larger"}
    assert "from 0 to 36,500" in errors["older"] and "from 0 to 10,000,000" in errors["larger"]
    assert set(parse_filters(state(older=str(MAX_DAYS + 1), larger=str(MAX_MB + 1)))) == {
        "older", "larger"}


def test_cleanup_values_within_range_and_forged_shapes() -> None:
    flt = parse_filters(state(older=str(MAX_DAYS), larger=f"{MAX_MB}", name=" x "))
    assert flt == CleanupFilter(MAX_DAYS, MAX_MB, name_contains="x")
    assert parse_filters(state(older="-0")) == CleanupFilter(older_than_days=0)
    forged = parse_filters({"older": {"v": {"value": ["90"]}}, "name": {"v": {"value": 7}},
                            "channel": {"v": {"selected_conversation": "../x"}},
                            "user": {"v": {"selected_user": {"id": "U1"}}},
                            "status": {"v": {"selected_option": {"value": "all"}}}})
    assert isinstance(forged, dict)
    assert set(forged) == {"older", "name", "channel", "user", "status"}
    for shape in (None, [], "x", {"older": []}, {"older": {"v": []}}):
        assert parse_filters(shape) == CleanupFilter()


def test_long_name_filter_is_refused_and_metadata_stays_under_3000() -> None:
    errors = parse_filters(state(name="n" * 2990))
    assert isinstance(errors, dict) and "100 characters" in errors["name"]
    worst = CleanupFilter(older_than_days=MAX_DAYS - 0.123456789, larger_than_mb=MAX_MB,
                          channel_id="C" * 32, user_id="U" * 32,
                          name_contains="\U0001F600\u202e\"\\" * 25, status="pinning")
    assert len(worst.to_json()) < 3000
    assert CleanupFilter.from_json(worst.to_json()) == worst


@pytest.mark.parametrize("metadata", [
    "", "[]", "{}x", json.dumps({"older_than_days": 1e308}), '{"older_than_days": Infinity}',
    json.dumps({"older_than_days": "90"}), json.dumps({"channel_id": "../apiKeys"}),
    json.dumps({"name_contains": "n" * 2990}), json.dumps({"status": "everything"}),
    json.dumps({"unknown": 1}), "x" * 10240, "[" * 2500,
])
def test_cleanup_private_metadata_is_parsed_strictly(metadata: str) -> None:
    with pytest.raises(InvalidId):
        CleanupFilter.from_json(metadata)


def block_actions(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "block_actions", "team": {"id": "T0TEST"},
        "user": {"id": "UALICE", "team_id": "T0TEST"}, "trigger_id": "1.123.abc",
        "container": {"type": "message", "message_ts": "1700000000.000100"},
        "actions": [{"action_id": "pin_share", "block_id": "b", "value": UUID,
                     "action_ts": "1700000001.000200"}],
    }
    body.update(overrides)
    return body


def test_replay_key_is_the_interactions_own_identity() -> None:
    body = block_actions()
    key = interaction_key(body)
    assert key is not None and len(key) <= 64 and key.startswith("ix:")
    assert interaction_key(copy.deepcopy(body)) == key  # a replay
    again = copy.deepcopy(body)
    again["actions"][0]["action_ts"] = "1700000009.000900"  # a second, real click
    assert interaction_key(again) != key
    assert interaction_key(block_actions(trigger_id="2.123.abc")) != key
    assert interaction_key(block_actions(user={"id": "UBOB"})) != key
    assert interaction_key(block_actions(team={"id": "T0OTHER"})) != key
    assert interaction_key({"type": "event_callback", "event_id": "Ev1"}) is None
    assert interaction_key({"type": "block_suggestion"}) is None


def test_replay_key_of_submissions_and_shortcuts() -> None:
    view = {"type": "view_submission", "team": {"id": "T"}, "user": {"id": "U"},
            "trigger_id": "1.2.a", "view": {"id": "V1", "hash": "h1", "state": {"values": {
                "older": {"v": {"value": "inf"}}}}}}
    fixed = copy.deepcopy(view)  # the same dialog, corrected after an inline error
    fixed["view"]["state"]["values"]["older"]["v"]["value"] = "90"
    fixed["trigger_id"] = "1.3.b"
    assert interaction_key(view) == interaction_key(copy.deepcopy(view))
    assert interaction_key(fixed) != interaction_key(view)
    shortcut = {"type": "message_action", "callback_id": "pin_to_ipfs", "trigger_id": "t",
                "action_ts": "1.5", "message": {"ts": "1.0"}, "user": {"id": "U"}}
    assert interaction_key(shortcut) == interaction_key(copy.deepcopy(shortcut))
    assert interaction_key({**shortcut, "action_ts": "1.6", "trigger_id": "u"}) != (
        interaction_key(shortcut))
    assert interaction_key({"type": "view_submission", "view": []}) is not None  # any shape
