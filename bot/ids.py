"""The one parser for ids that arrive from outside: pin ids, Slack ids, message timestamps, and
the JSON that pinbot round-trips through button values and modals' `private_metadata`.

A button value or `private_metadata` comes back in a signed request, but it is still input: any
workspace member can send a crafted payload with their own signed session, and a pin id taken
as-is into `/pinning/<id>` turns `..` into `GET /api` with the account's keys. So every id from
a payload passes through here before it is used, and anything outside the expected alphabet —
`.`, `..`, `%2e%2e`, `../apiKeys`, empty, over-long, non-ASCII — is refused as `InvalidId`,
which callers answer exactly like an unknown id. Schemas for JSON payloads are pydantic types
built from the same parsers, so there is one rule per kind of id.
"""

from __future__ import annotations

import re
from typing import Annotated, TypeVar

from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as schema

#: Pin ids are UUIDs in practice (`3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2`). One path segment from
#: a small alphabet, never starting with `-`, and with a digit: that also keeps out words that
#: name the API's own routes (`pins`, `unpin`, `pinByHash`).
_PIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{5,127}", re.ASCII)
#: Team, enterprise, user, channel ids: `T0ALPHA`, `U0123ABC`, `C0GENERAL`, `W…`, `G…`, `D…`.
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}", re.ASCII)
#: A message timestamp, `1700000000.000100`.
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}", re.ASCII)
#: Slack's limit on a view's `private_metadata` (and far above any button value pinbot writes).
MAX_METADATA = 3000
MAX_PIN_IDS = 20

T = TypeVar("T")


class InvalidId(ValueError):
    """The value is not an id of the expected kind. Answer it like an unknown id."""


def parse_pin_id(value: object) -> str:
    if isinstance(value, str) and _PIN_ID.fullmatch(value) and any(c.isdigit() for c in value):
        return value
    raise InvalidId("not a pin id")


def is_pin_id(value: object) -> bool:
    try:
        parse_pin_id(value)
    except InvalidId:
        return False
    return True


def parse_slack_id(value: object) -> str:
    if isinstance(value, str) and _SLACK_ID.fullmatch(value):
        return value
    raise InvalidId("not a Slack id")


def is_slack_id(value: object) -> bool:
    try:
        parse_slack_id(value)
    except InvalidId:
        return False
    return True


def parse_ts(value: object) -> str:
    if isinstance(value, str) and _TS.fullmatch(value):
        return value
    raise InvalidId("not a message timestamp")


PinId = Annotated[str, AfterValidator(parse_pin_id)]
SlackId = Annotated[str, AfterValidator(parse_slack_id)]
Ts = Annotated[str, AfterValidator(parse_ts)]
#: The Unpin confirm button's value: the pins the user saw and agreed to remove.
PinIds = Annotated[list[PinId], Field(min_length=1, max_length=MAX_PIN_IDS)]


@schema(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class MessageRef:
    """The "Pin each / Pin as folder" buttons' value: the message whose files to pin."""

    c: SlackId
    ts: Ts
    t: Ts | None = None


#: Longest retention a button may carry (100 years, as `bot.units.MAX_DURATION`).
MAX_RETENTION = 100 * 365 * 86400


@schema(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class RetentionRef:
    """The "apply to existing pins" Confirm button's value: which channel, which duration."""

    c: SlackId
    s: Annotated[int, Field(ge=1, le=MAX_RETENTION)]


#: Adapters for the JSON payloads above (built once: building one costs milliseconds).
PIN_IDS: TypeAdapter[list[str]] = TypeAdapter(PinIds)
MESSAGE_REF: TypeAdapter[MessageRef] = TypeAdapter(MessageRef)
RETENTION_REF: TypeAdapter[RetentionRef] = TypeAdapter(RetentionRef)


def parse_json(text: object, schema: TypeAdapter[T], *, max_chars: int = MAX_METADATA) -> T:
    """Decode JSON from a button value or `private_metadata` and validate it against `schema`
    (strict: no type coercion, unknown shapes refused). Raises `InvalidId`."""
    if not isinstance(text, str) or not text or len(text) > max_chars:
        raise InvalidId("missing or over-long payload")
    try:
        return schema.validate_json(text, strict=True)
    except ValidationError as exc:
        raise InvalidId(f"payload does not match its schema ({exc.error_count()} errors)") from None


def parse_row_value(value: object, verbs: tuple[str, ...]) -> tuple[str, str]:
    """An overflow option's value, `<verb>:<pin id>` -> (verb, pin id). Raises `InvalidId`."""
    if not isinstance(value, str):
        raise InvalidId("not a menu value")
    verb, _, pin_id = value.partition(":")
    if verb not in verbs:
        raise InvalidId("unknown menu verb")
    return verb, parse_pin_id(pin_id)
