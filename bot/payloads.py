"""The shape a Slack payload must have before Bolt and the handlers navigate it.

Bolt and the handlers read payloads as plain dicts (`body["actions"][0]`, `view["state"]`,
`body.get("user") or {}` then `.get("id")`): a signed but malformed payload — `actions: []`, a
`view_submission` without `view`, `private_metadata: []`, nesting thousands deep — would raise
deep inside them and come back to Slack as a 500 with a traceback in the log. This checks, once,
the containers they rely on; fields are otherwise free (`extra="allow"`), so whatever Slack adds
tomorrow still passes. Strict types: a list where an object belongs is refused, never coerced.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Slack's deepest payloads (a message shortcut carrying nested rich-text lists) stay far
#: below this; deeper input is refused before anything recurses into it (`copy.deepcopy` of
#: a lazy listener's request would hit the recursion limit).
MAX_DEPTH = 64


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Ref(_Shape):
    """An object Slack refers to (team, user, channel, enterprise): an id and more."""

    id: str | None = None
    team_id: str | None = None
    enterprise_id: str | None = None


class _Authorization(_Shape):
    team_id: str | None = None
    user_id: str | None = None
    enterprise_id: str | None = None
    is_enterprise_install: bool | None = None


class _Event(_Shape):
    type: str
    user: str | _Ref | None = None
    channel: str | _Ref | None = None
    team: str | _Ref | None = None
    user_team: str | None = None
    item: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None


class _Action(_Shape):
    action_id: str | None = None
    block_id: str | None = None
    value: str | None = None
    selected_option: dict[str, Any] | None = None


class _ViewState(_Shape):
    values: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)


class _View(_Shape):
    id: str | None = None
    type: str | None = None
    callback_id: str | None = None
    private_metadata: str = ""
    state: _ViewState | None = None
    team_id: str | None = None
    app_installed_team_id: str | None = None


class _ResponseUrl(_Shape):
    response_url: str | None = None


class Payload(_Shape):
    """An Events API envelope, an interactive payload or a slash command's form."""

    type: str | None = None
    token: str | None = None
    team: str | _Ref | None = None
    user: str | _Ref | None = None
    enterprise: str | _Ref | None = None
    channel: str | _Ref | None = None
    team_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    enterprise_id: str | None = None
    authorizations: list[_Authorization] | None = None
    is_enterprise_install: bool | str | None = None
    event: _Event | None = None
    actions: list[_Action] | None = None
    view: _View | None = None
    container: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    previous_message: dict[str, Any] | None = None
    item: dict[str, Any] | None = None
    response_url: str | None = None
    response_urls: list[_ResponseUrl] | None = None
    trigger_id: str | None = None
    callback_id: str | None = None
    action_id: str | None = None
    workflow_step: dict[str, Any] | None = None
    command: str | None = None
    text: str | None = None
    thread_ts: str | None = None

    @model_validator(mode="after")
    def _required_by_type(self) -> Payload:
        """What Bolt indexes without looking (`body["actions"][0]["action_id"]`, ...)."""
        if self.type == "event_callback" and self.event is None:
            raise ValueError("event_callback without an event")
        if self.type in ("block_actions", "interactive_message") and not self.actions:
            raise ValueError(f"{self.type} without actions")
        if self.type == "block_actions" and any(a.action_id is None for a in self.actions or ()):
            raise ValueError("block_actions with an action without action_id")
        if self.type in ("view_submission", "view_closed") and (
                self.view is None or self.view.type is None or self.view.callback_id is None):
            raise ValueError(f"{self.type} without a view, or its type or callback_id")
        workflow_step = self.type == "workflow_step_edit" or (
            self.type == "view_submission" and self.view is not None
            and self.view.type == "workflow_step")
        if workflow_step and self.workflow_step is None:
            raise ValueError("workflow step payload without workflow_step")
        return self


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def problem(body: Any) -> str | None:
    """Why `body` is not a payload pinbot can handle (short, for a log line), or None."""
    if not isinstance(body, dict):
        return f"payload is {type(body).__name__}, not an object"
    if _depth(body) > MAX_DEPTH:
        return f"payload nested deeper than {MAX_DEPTH}"
    try:
        Payload.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        # Keys are the sender's text: keep the log line one short, printable line.
        return "".join(c if c.isprintable() else "?" for c in f"{where}: {first['msg']}")[:200]
    return None
