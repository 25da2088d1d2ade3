"""Replayed interactions: a signed button press, modal submission or shortcut acts once.

Slack signs the body and a timestamp, and a signature is good for 5 minutes; whoever gets hold
of one request (a proxy's or tunnel's log, a shared HAR file) can send it again inside that
window and it verifies. Three replays of *Share to channel* were three channel posts. Events
carry an `event_id` for their retries; interactive payloads have none, so their identity is
built here from what Slack makes unique per interaction and what a replay cannot change (it is
the signed body):

- `block_actions`: the container (message ts or view id), each action's `action_id` and
  `action_ts`, the user, and the `trigger_id` (new for every click);
- `view_submission`: the view's id and hash, the submitted values, the user and `trigger_id`
  (a corrected resubmission of the same view has other values and another trigger);
- `shortcut` / `message_action`: the callback, `action_ts`, the message, user and `trigger_id`.

The identity is hashed into a key recorded in the ledger's seen-events table (remembered for a
day, far beyond the 5-minute window; shared by replicas), with an in-memory fallback while the
database is down.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from .dedupe import TTLSet
from .store import Ledger, LedgerUnavailable

log = logging.getLogger(__name__)

INTERACTIVE = frozenset({"block_actions", "view_submission", "shortcut", "message_action"})
#: Slack's replay window is 5 minutes; the fallback remembers twice that.
FALLBACK_TTL = 600.0
#: The seen-events table's key column holds 64 characters; event ids start with `Ev`.
KEY_PREFIX = "ix:"
_KEY_LENGTH = 64


def _get(data: object, *path: str) -> object:
    for key in path:
        data = data.get(key) if isinstance(data, Mapping) else None
    return data


def _team(body: Mapping[str, Any]) -> str:
    team = _get(body, "team", "id") or _get(body, "user", "team_id")
    return team if isinstance(team, str) else ""


def interaction_key(body: Mapping[str, Any]) -> str | None:
    """The replay key of an interactive payload; None for anything else (events, commands,
    options requests), which this does not dedupe."""
    kind = body.get("type")
    if kind not in INTERACTIVE:
        return None
    parts: list[object] = [kind, _team(body), _get(body, "user", "id"), body.get("trigger_id")]
    if kind == "block_actions":
        container = body.get("container")
        parts += [_get(container, "message_ts"), _get(container, "view_id")]
        actions = body.get("actions")
        for action in actions if isinstance(actions, list) else ():
            parts += [_get(action, "action_id"), _get(action, "block_id"),
                      _get(action, "action_ts")]
    elif kind == "view_submission":
        view = body.get("view")
        parts += [_get(view, "id"), _get(view, "hash"), _get(view, "state", "values")]
    else:
        parts += [body.get("callback_id"), body.get("action_ts"),
                  _get(body, "message", "ts") or body.get("message_ts")]
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return KEY_PREFIX + digest[: _KEY_LENGTH - len(KEY_PREFIX)]


class ReplayGuard:
    """Says whether an interactive payload is seen for the first time."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._fallback = TTLSet(FALLBACK_TTL)

    async def first_delivery(self, body: Mapping[str, Any]) -> bool:
        """True for a first delivery (and for payloads that are not interactions)."""
        key = interaction_key(body)
        if key is None:
            return True
        try:
            return await self._ledger.first_delivery(key, _team(body)[:32])
        except LedgerUnavailable as exc:
            log.warning("replay check on the ledger failed, using memory: %s", exc)
            return self._fallback.add(key)
