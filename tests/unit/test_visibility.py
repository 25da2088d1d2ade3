"""Which pins are a workspace's own: the predicate every listing, lookup and unpin applies."""

from __future__ import annotations

from typing import Any

import pytest

from bot.commands import PinsQuery
from bot.permissions import Scope, team_mark
from bot.pins.listing import keyvalues_match, metadata_search
from bot.w3ipfs import Pin


def pin(keyvalues: Any = None) -> Pin:
    return Pin.model_validate({"id": "p1", "metadata": {"name": "x", "keyvalues": keyvalues}})


@pytest.mark.parametrize(("keyvalues", "mark"), [
    ({"slack_team": "TALPHA"}, "TALPHA"),
    ({"slack_team": ""}, None),
    ({"slack_team": 7}, None),  # not a string: no mark, never a match by coercion
    ({"slack_team": ["TALPHA"]}, None),
    ({"other": "TALPHA"}, None),
    (None, None),
    ("slack_team=TALPHA", None),  # keyvalues that are not an object
])
def test_team_mark(keyvalues: Any, mark: str | None) -> None:
    assert team_mark(pin(keyvalues)) == mark


@pytest.mark.parametrize(("keyvalues", "in_ledger", "whole_account", "owned"), [
    # A shared account: the ledger or the team's own mark, nothing else.
    ({"slack_team": "TBETA"}, False, False, True),
    ({"slack_team": "TALPHA"}, False, False, False),  # another workspace's
    (None, False, False, False),  # pinned outside Slack: nobody's on a shared account
    ({"slack_team": "tbeta"}, False, False, False),  # ids are compared exactly
    ({"slack_team": "TALPHA"}, True, False, True),  # the team's ledger says it is its own
    (None, True, False, True),
    # The account is the workspace's alone (own keys, single-workspace mode): everything.
    (None, False, True, True),
    ({"slack_team": "TALPHA"}, False, True, True),
])
def test_scope_owns(keyvalues: Any, in_ledger: bool, whole_account: bool, owned: bool) -> None:
    scope = Scope("TBETA", whole_account=whole_account)
    assert scope.owns(pin(keyvalues), in_ledger=in_ledger) is owned


def test_a_workspace_without_an_id_owns_nothing_unmarked_on_a_shared_account() -> None:
    scope = Scope("", whole_account=False)
    assert not scope.owns(pin({"slack_team": ""}), in_ledger=False)
    assert not scope.owns(pin(None), in_ledger=False)


def test_metadata_filter_names_the_team_only_on_a_shared_account() -> None:
    assert Scope("TBETA", whole_account=False).metadata_filter == {"slack_team": "TBETA"}
    assert Scope("TBETA", whole_account=True).metadata_filter == {}


def test_keyvalues_match_needs_every_key() -> None:
    marked = pin({"slack_team": "TBETA", "project": "apollo", "n": 3})
    assert keyvalues_match(marked, {"slack_team": "TBETA", "project": "apollo"})
    assert keyvalues_match(marked, {"n": "3"})  # the search text is a string
    assert keyvalues_match(marked, {})
    assert not keyvalues_match(marked, {"slack_team": "TALPHA"})
    assert not keyvalues_match(marked, {"missing": "None"})  # absent is not "None"
    assert not keyvalues_match(pin(None), {"slack_team": "TBETA"})


@pytest.mark.parametrize(("query", "wanted"), [
    (PinsQuery(scope="find", search="slack_team = TALPHA"), {"slack_team": "TALPHA"}),
    (PinsQuery(scope="find", search="a=b=c"), {"a": "b=c"}),
    (PinsQuery(scope="find", search="report"), None),
    (PinsQuery(), None),
])
def test_metadata_search(query: PinsQuery, wanted: dict[str, str] | None) -> None:
    assert metadata_search(query) == wanted
