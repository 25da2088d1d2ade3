"""bot.payloads: Slack's real payload shapes pass; what Bolt would index into blindly does not."""

from __future__ import annotations

from typing import Any

import pytest

from bot.payloads import MAX_DEPTH, problem

TEAM = {"id": "T0TEST", "domain": "example"}
USER = {"id": "UALICE", "username": "alice", "name": "alice", "team_id": "T0TEST"}
RICH_TEXT = {"type": "rich_text", "block_id": "r", "elements": [{
    "type": "rich_text_list", "style": "bullet", "indent": 1, "elements": [{
        "type": "rich_text_section", "elements": [
            {"type": "text", "text": "nested", "style": {"bold": True}},
            {"type": "link", "url": "https://example.com"}]}]}]}
MESSAGE = {"type": "message", "user": "UALICE", "ts": "1.000001", "text": "x",
           "blocks": [RICH_TEXT], "files": [{"id": "F1", "name": "a.txt"}],
           "attachments": [{"blocks": [RICH_TEXT], "fallback": "x"}]}
VIEW = {"id": "V1", "team_id": "T0TEST", "type": "modal", "callback_id": "pinbot_keys",
        "private_metadata": "", "hash": "1.a", "title": {"type": "plain_text", "text": "x"},
        "blocks": [], "state": {"values": {"api_key": {"v": {"type": "plain_text_input",
                                                              "value": "k"}}}},
        "app_installed_team_id": "T0TEST", "root_view_id": "V1", "previous_view_id": None}

SLACK_PAYLOADS: dict[str, dict[str, Any]] = {
    "slash command form": {
        "token": "x", "team_id": "T0TEST", "team_domain": "example", "channel_id": "C1",
        "channel_name": "general", "user_id": "UALICE", "user_name": "alice",
        "command": "/pins", "text": "find x", "api_app_id": "A0", "is_enterprise_install":
            "false", "response_url": "https://hooks.slack.com/commands/1", "trigger_id": "1.2"},
    "block_actions in a message": {
        "type": "block_actions", "user": USER, "api_app_id": "A0", "token": "x",
        "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1",
                      "is_ephemeral": False},
        "trigger_id": "1.2", "team": TEAM, "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": "C1", "name": "general"}, "message": MESSAGE,
        "state": {"values": {}}, "response_url": "https://hooks.slack.com/actions/1",
        "actions": [{"type": "overflow", "action_id": "pin_menu", "block_id": "b",
                     "selected_option": {"text": {"type": "plain_text", "text": "x"},
                                         "value": "details:1"}, "action_ts": "1.3"}]},
    "block_actions in a modal": {
        "type": "block_actions", "user": USER, "team": TEAM, "view": VIEW,
        "container": {"type": "view", "view_id": "V1"}, "trigger_id": "1.2",
        "actions": [{"type": "button", "action_id": "a", "block_id": "b", "value": "v"}]},
    "view_submission": {
        "type": "view_submission", "team": TEAM, "user": USER, "view": VIEW,
        "api_app_id": "A0", "token": "x", "trigger_id": "1.2", "is_enterprise_install": False,
        "enterprise": None,
        "response_urls": [{"block_id": "b", "action_id": "a", "channel_id": "C1",
                           "response_url": "https://hooks.slack.com/app/1"}]},
    "view_closed": {"type": "view_closed", "team": TEAM, "user": USER, "view": VIEW,
                    "is_cleared": False},
    "org-wide view_submission (team null)": {
        "type": "view_submission", "team": None, "user": USER, "view": VIEW,
        "enterprise": {"id": "E1", "name": "Org"}, "is_enterprise_install": True},
    "message shortcut": {
        "type": "message_action", "callback_id": "pin_to_ipfs", "trigger_id": "1.2",
        "message_ts": "1.1", "team": TEAM, "user": USER,
        "channel": {"id": "C1", "name": "general"}, "message": MESSAGE,
        "response_url": "https://hooks.slack.com/app/2", "token": "x"},
    "file_shared event": {
        "token": "x", "team_id": "T0TEST", "api_app_id": "A0", "type": "event_callback",
        "event_id": "Ev1", "event_time": 1, "event_context": "4-x",
        "is_ext_shared_channel": False,
        "authorizations": [{"enterprise_id": None, "team_id": "T0TEST", "user_id": "UBOT",
                            "is_bot": True, "is_enterprise_install": False}],
        "event": {"type": "file_shared", "channel_id": "C1", "file_id": "F1",
                  "user_id": "UALICE", "file": {"id": "F1"}, "event_ts": "1.1"}},
    "reaction_added event": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "reaction_added", "user": "UALICE", "reaction": "pushpin",
            "item_user": "UBOB", "item": {"type": "message", "channel": "C1", "ts": "1.1"},
            "event_ts": "1.2"}},
    "message_changed event": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "message", "subtype": "message_changed", "channel": "C1",
            "message": MESSAGE, "previous_message": MESSAGE, "event_ts": "1.2", "ts": "1.2"}},
    "app_home_opened event": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home",
            "view": VIEW, "event_ts": "1.2"}},
    "team_join event (user object)": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "team_join", "user": {**USER, "profile": {"real_name": "A"}}}},
    "channel_created event (channel object)": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "channel_created", "channel": {"id": "C2", "name": "new", "created": 1,
                                                   "creator": "UALICE"}}},
    "tokens_revoked event": {
        "type": "event_callback", "team_id": "T0TEST", "event": {
            "type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOT"]}}},
    "url_verification": {"type": "url_verification", "token": "x", "challenge": "c"},
    "empty form": {},
}


@pytest.mark.parametrize("name", SLACK_PAYLOADS)
def test_slack_payloads_pass(name: str) -> None:
    assert problem(SLACK_PAYLOADS[name]) is None


def nested(depth: int) -> dict[str, Any]:
    value: Any = "leaf"
    for _ in range(depth - 1):
        value = [value]
    return {"type": "event_callback", "event": {"type": "x"}, "x": value}


def test_nesting_is_bounded_without_recursion() -> None:
    assert problem(nested(MAX_DEPTH)) is None
    assert problem(nested(MAX_DEPTH + 1)) == f"payload nested deeper than {MAX_DEPTH}"
    assert problem(nested(50_000)) is not None  # far past the interpreter's recursion limit


@pytest.mark.parametrize(("body", "where"), [
    ([], "not an object"),
    ("payload", "not an object"),
    ({"type": "block_actions", "actions": []}, "without actions"),
    ({"type": "block_actions", "actions": [{"value": "v"}]}, "without action_id"),
    ({"type": "block_actions", "actions": [{"action_id": 1}]}, "actions.0.action_id"),
    ({"type": "interactive_message", "callback_id": "c"}, "without actions"),
    ({"type": "view_submission"}, "without a view"),
    ({"type": "view_submission", "view": {"callback_id": "c"}}, "its type or callback_id"),
    ({"type": "view_submission", "view": {**VIEW, "private_metadata": []}},
     "view.private_metadata"),
    ({"type": "view_submission", "view": {**VIEW, "state": {"values": []}}}, "view.state"),
    ({"type": "view_submission", "view": {**VIEW, "type": "workflow_step"}}, "workflow_step"),
    ({"type": "workflow_step_edit", "callback_id": "c"}, "workflow_step"),
    ({"type": "event_callback"}, "without an event"),
    ({"type": "event_callback", "event": []}, "event"),
    ({"type": "event_callback", "event": {"user": "U1"}}, "event.type"),
    ({"user": [], "actions": None}, "user"),
    ({"team": 5}, "team"),
    ({"authorizations": "T1"}, "authorizations"),
    ({"response_urls": ["https://x"]}, "response_urls.0"),
    ({"is_enterprise_install": 1}, "is_enterprise_install"),
])
def test_what_bolt_would_trip_on_is_refused(body: Any, where: str) -> None:
    reason = problem(body)
    assert reason is not None and where in reason, reason


def test_the_reason_is_one_short_printable_line() -> None:
    hostile_key = "k\n" + "x" * 500
    reason = problem({"type": "view_submission",
                      "view": {**VIEW, "state": {"values": {hostile_key: {"v": []}}}}})
    assert reason is not None and "\n" not in reason and len(reason) <= 200
