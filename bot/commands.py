"""Pure parsing of slash command text into typed requests, with errors a user can act on.

No I/O here: every rule about what `/pin`, `/pins` and `/unpin` accept is in this file and is
unit-tested on its own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Literal

from .cid import InvalidCIDError, parse_cid
from .ids import is_pin_id, is_slack_id
from .text import inline_name
from .units import OutOfRange, parse_duration, parse_size

EXAMPLE_CID = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
PAGE_SIZE = 10
MAX_UNPIN_IDS = 20

Status = Literal["all", "pinned", "unpinned"]
Scope = Literal["all", "mine", "here", "find"]
MAX_SEARCH = 100
MAX_OFFSET = 100_000
MAX_VALUE = 2000  # Slack's limit on a button value
SortField = Literal["created_at", "size", "name"]
Order = Literal["asc", "desc"]


class CommandError(ValueError):
    """The command text cannot be understood; the message says how to fix it (mrkdwn)."""


class HelpRequested(Exception):
    """The user asked for usage (`/pin help`, or a bare command that needs arguments)."""

    def __init__(self, command: str) -> None:
        super().__init__(command)
        self.command = command


@dataclass(frozen=True, slots=True)
class PinCID:
    cid: str
    name: str | None


@dataclass(frozen=True, slots=True)
class PinsQuery:
    """A view of the team's pins. Serialised into button values so Prev/Next keep filters."""

    status: Status = "all"
    sort: SortField = "created_at"
    order: Order = "desc"
    offset: int = 0
    #: "mine": pins by `user`; "here": pins from `channel` (both from the ledger).
    scope: Scope = "all"
    user: str | None = None
    channel: str | None = None
    #: "find": the text to match (name, or `key=value` against metadata keyvalues).
    search: str | None = None

    @property
    def api_pinned(self) -> Literal["all", "true", "false"]:
        mapping: dict[Status, Literal["all", "true", "false"]] = {
            "all": "all", "pinned": "true", "unpinned": "false"
        }
        return mapping[self.status]

    def page(self, offset: int) -> PinsQuery:
        return replace(self, offset=max(0, offset))

    def to_value(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_value(cls, value: str) -> PinsQuery:
        """Decode a button value; anything odd falls back to defaults rather than failing."""
        if len(value) > MAX_VALUE:
            return cls()
        try:
            data = json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: `[[[[…` nested past the limit
            return cls()
        if not isinstance(data, dict):
            return cls()
        def pick(key: str, allowed: tuple[str, ...]) -> str:
            return data[key] if data.get(key) in allowed else allowed[0]

        def slack_id(key: str) -> str | None:
            value = data.get(key)
            return value if is_slack_id(value) else None

        raw_offset = data.get("offset")
        offset = raw_offset if type(raw_offset) is int and raw_offset <= MAX_OFFSET else 0
        query = cls(
            pick("status", ("all", "pinned", "unpinned")),  # type: ignore[arg-type]
            pick("sort", ("created_at", "size", "name")),  # type: ignore[arg-type]
            pick("order", ("desc", "asc")),  # type: ignore[arg-type]
            max(0, offset),
            pick("scope", ("all", "mine", "here", "find")),  # type: ignore[arg-type]
            slack_id("user"),
            slack_id("channel"),
            str(data["search"])[:MAX_SEARCH] if isinstance(data.get("search"), str) else None,
        )
        if (query.scope == "mine" and not query.user) or (
            query.scope == "here" and not query.channel
        ) or (query.scope == "find" and not query.search):
            return replace(query, scope="all")
        return query

    def for_context(self, user_id: str | None, channel_id: str | None) -> PinsQuery:
        """Bind "mine"/"here" to the person and channel the command came from."""
        return replace(self, user=user_id if self.scope == "mine" else None,
                       channel=channel_id if self.scope == "here" else None)

    def describe(self) -> str:
        what = {"all": "All pins", "pinned": "Pinned", "unpinned": "Unpinned"}[self.status]
        if self.scope == "mine" and self.user:
            what += f" by <@{self.user}>"
        elif self.scope == "here" and self.channel:
            what += f" from <#{self.channel}>"
        elif self.scope == "find" and self.search:
            what = f"Pins matching “{inline_name(self.search, MAX_SEARCH)}”"
        field = {"created_at": "date", "size": "size", "name": "name"}[self.sort]
        return f"{what} · sorted by {field} {'↓' if self.order == 'desc' else '↑'}"


@dataclass(frozen=True, slots=True)
class Setup:
    """`/pin setup`: an admin sets this workspace's own W3IPFS keys."""


@dataclass(frozen=True, slots=True)
class AutoPin:
    """`/pin auto on|off` (None: just say what the setting is)."""

    enabled: bool | None


@dataclass(frozen=True, slots=True)
class Cleanup:
    """`/pins cleanup`: open the team cleanup dialog (admins)."""


@dataclass(frozen=True, slots=True)
class Audit:
    """`/pins audit`: the audit's summary for this workspace (admins)."""


@dataclass(frozen=True, slots=True)
class PinDetails:
    pin_id: str


@dataclass(frozen=True, slots=True)
class Unpin:
    pin_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retention:
    """`/pin retention [<duration>|off] [--apply-to-existing]` in a channel.

    `seconds`: None shows the channel's policy; 0 turns retention off; else whole seconds.
    """

    seconds: int | None
    apply_to_existing: bool = False


@dataclass(frozen=True, slots=True)
class Keep:
    """`/pin keep <pin id>` (`keep`) and `/pin unkeep <pin id>` (not `keep`)."""

    pin_id: str
    keep: bool


@dataclass(frozen=True, slots=True)
class Quota:
    """`/pin quota [<size>|off]` in a channel: `change` False only shows the quota and the
    person's own use; else `limit` is the new quota in bytes (None: no quota)."""

    limit: int | None
    change: bool = True


USAGE = {
    "/pin": (
        "*`/pin <CID> [name]`* pins content that is already on IPFS.\n"
        f"Example: `/pin {EXAMPLE_CID} greeting.txt`\n"
        "*`/pin setup`* (admins) sets this workspace's own W3IPFS keys.\n"
        "*`/pin auto on|off`* (admins) turns automatic pinning of shared files on or off "
        "for this channel; `/pin auto` shows the setting.\n"
        "*`/pin retention <duration>|off`* (admins) unpins this channel's pins once older "
        "than the duration (`45s`, `30m`, `12h`, `90d`), for pins made from now on; add "
        "`--apply-to-existing` to apply it to the pins already here (after a preview). "
        "`/pin retention` shows the policy.\n"
        "*`/pin keep <pin id>`* exempts a pin from retention (the pin's owner or an admin); "
        "*`/pin unkeep <pin id>`* undoes it.\n"
        "*`/pin quota <size>|off`* (admins) limits what this channel pins per rolling 30 days "
        "(`500MB`, `2GB`; a plain number is MB); `/pin quota` shows it and your own use.\n"
        "To pin a file, just share it in a channel where pinbot is: it replies in the thread."
    ),
    "/pins": (
        "*`/pins [mine|here] [all|pinned|unpinned] [sort:created_at|size|name] [asc|desc]`* "
        "lists the team's pins, 10 per page: `mine` only yours, `here` only this channel's.\n"
        "*`/pins cleanup`* (admins) removes old or large pins after a preview.\n"
        "*`/pins audit`* (admins) shows where the ledger and the pinning service disagree.\n"
        "*`/pins <pin id>`* shows one pin. *`/pins find <text>`* searches names "
        "(or `key=value` metadata).\n"
        "Example: `/pins mine pinned sort:size desc`"
    ),
    "/unpin": (
        "*`/unpin <pin id> [more pin ids]`* removes pins (you confirm first).\n"
        "Find pin ids with `/pins`. Example: `/unpin 3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2`"
    ),
}


def _is_help(words: list[str]) -> bool:
    return not words or (len(words) == 1 and words[0].lower() in ("help", "-h", "--help", "?"))


def looks_like_pin_id(word: str) -> bool:
    """Whether a typed word is a pin id (`bot.ids` decides; a word without a digit is taken
    as a typo'd keyword)."""
    return is_pin_id(word)


#: Slack's clients may turn a typed `--` into an en or em dash.
_APPLY_FLAGS = frozenset(f"{dash}apply-to-existing" for dash in ("--", "\u2014", "\u2013", "-"))


def parse_retention(words: list[str]) -> Retention:
    """`retention [<duration>|off] [--apply-to-existing]` (the words after `/pin`)."""
    args = [w for w in words[1:] if w.lower() not in _APPLY_FLAGS]
    apply = len(args) < len(words) - 1
    example = "Use `/pin retention 90d` (or `45s`, `30m`, `12h`), or `/pin retention off`."
    if not args:
        if apply:
            raise CommandError("Say which policy to apply to the pins already here: "
                               "`/pin retention 90d --apply-to-existing`.")
        return Retention(None)
    if len(args) > 1:
        raise CommandError(f"`/pin retention` takes one duration. {example}")
    if args[0].lower() in ("off", "none", "never"):
        # Off also clears the expiry of the pins already here: the flag changes nothing.
        return Retention(0, apply)
    try:
        seconds = parse_duration(args[0])
    except ValueError as exc:
        too_long = " (at most 100 years)" if isinstance(exc, OutOfRange) else ""
        raise CommandError(f"`{inline_name(args[0], 40)}` is not a duration I know"
                           f"{too_long}. {example}") from None
    if seconds < 1:
        raise CommandError(f"A retention must be at least 1 second. {example}")
    return Retention(int(seconds), apply)


def parse_keep(words: list[str]) -> Keep:
    """`keep <pin id>` or `unkeep <pin id>` (the words after `/pin`)."""
    verb = words[0].lower()
    if len(words) != 2:
        raise CommandError(f"Use `/pin {verb} <pin id>`; `/pins` shows pin ids.")
    if not looks_like_pin_id(words[1]):
        raise CommandError(f"`{inline_name(words[1], 80)}` does not look like a pin id. "
                           "`/pins` shows pin ids.")
    return Keep(words[1], verb == "keep")


def parse_quota(words: list[str]) -> Quota:
    """`quota [<size>|off]` (the words after `/pin`); a plain number is megabytes."""
    if len(words) == 1:
        return Quota(None, change=False)
    typed = " ".join(words[1:])  # `1.5 GB` arrives as two words
    if typed.lower() in ("off", "none", "unlimited"):
        return Quota(None)
    example = ("Use `/pin quota 500MB` (or `2GB`, `1.5GiB`; a plain number is MB), or "
               "`/pin quota off`.")
    try:
        limit = parse_size(typed, default_unit="mb", allow_zero=True)
    except ValueError as exc:  # the text never repeats the input: echo it escaped here
        raise CommandError(f"`{inline_name(typed, 40)}` {exc}. {example}") from None
    if limit == 0:
        raise CommandError("A quota of 0 would refuse every file; `/pin quota off` removes "
                           "the channel's quota instead. " + example)
    return Quota(limit)


def parse_pin(text: str) -> PinCID | AutoPin | Setup | Retention | Keep | Quota:
    words = text.split()
    if _is_help(words):
        raise HelpRequested("/pin")
    if len(words) == 1 and words[0].lower() == "setup":
        return Setup()
    if words[0].lower() == "retention":
        return parse_retention(words)
    if words[0].lower() in ("keep", "unkeep"):
        return parse_keep(words)
    if words[0].lower() == "quota":
        return parse_quota(words)
    if words[0].lower() == "auto":
        if len(words) == 1:
            return AutoPin(None)
        choice = words[1].lower()
        if len(words) == 2 and choice in ("on", "off"):
            return AutoPin(choice == "on")
        raise CommandError("Use `/pin auto on` or `/pin auto off` in the channel to change.")
    candidate = words[0].strip("<>`")
    if candidate.startswith(("ipfs://", "/ipfs/")):
        candidate = candidate.removeprefix("ipfs://").removeprefix("/ipfs/").split("/")[0]
    try:
        parse_cid(candidate)
    except InvalidCIDError as exc:
        raise CommandError(
            f"`{inline_name(candidate, 80)}` is {exc}.\nA CID looks like `{EXAMPLE_CID}` (v1) or "
            "`QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o` (v0).\n"
            f"Try: `/pin {EXAMPLE_CID} my-file.txt`"
        ) from None
    name = " ".join(words[1:]).strip() or None
    if name and len(name) > 255:
        raise CommandError("That name is too long: keep it under 255 characters.")
    return PinCID(candidate, name)


def parse_pins(text: str) -> PinsQuery | PinDetails | Cleanup | Audit:
    words = text.split()
    if words and _is_help(words):
        raise HelpRequested("/pins")
    if len(words) == 1 and words[0].lower() == "cleanup":
        return Cleanup()
    if words and words[0].lower() == "audit":
        if len(words) > 1:
            raise CommandError("`/pins audit` takes nothing more: it shows this workspace's "
                               "audit summary.")
        return Audit()
    if words and words[0].lower() == "find":
        search = text.strip()[4:].strip()
        if not search:
            raise CommandError(
                "What should I look for? `/pins find report` matches names; "
                "`/pins find project=apollo` matches metadata."
            )
        if len(search) > MAX_SEARCH:
            raise CommandError(f"Keep the search under {MAX_SEARCH} characters.")
        return PinsQuery(scope="find", search=search)
    status: Status = "all"
    sort: SortField = "created_at"
    order: Order = "desc"
    scope: Scope = "all"
    for raw in words:
        word = raw.lower()
        if word in ("mine", "here"):
            scope = word  # type: ignore[assignment]
        elif word in ("all", "pinned", "unpinned"):
            status = word  # type: ignore[assignment]
        elif word in ("asc", "desc"):
            order = word  # type: ignore[assignment]
        elif word.startswith("sort:"):
            field = word.removeprefix("sort:")
            field = {"date": "created_at", "created": "created_at"}.get(field, field)
            if field not in ("created_at", "size", "name"):
                raise CommandError(
                    f"`{inline_name(raw, 80)}` is not a sort I know. Use `sort:created_at`, "
                    "`sort:size` or `sort:name`."
                )
            sort = field  # type: ignore[assignment]
        elif len(words) == 1 and looks_like_pin_id(raw):
            return PinDetails(raw)
        else:
            raise CommandError(
                f"I don't understand `{inline_name(raw, 80)}`.\n{USAGE['/pins']}")
    return PinsQuery(status, sort, order, scope=scope)


def parse_unpin(text: str) -> Unpin:
    words = [w.strip(",") for w in text.replace(",", " ").split()]
    if _is_help(words):
        raise HelpRequested("/unpin")
    bad = [w for w in words if not looks_like_pin_id(w)]
    if bad:
        raise CommandError(
            f"`{inline_name(bad[0], 80)}` does not look like a pin id. {USAGE['/unpin']}"
        )
    ids = tuple(dict.fromkeys(words))
    if len(ids) > MAX_UNPIN_IDS:
        raise CommandError(f"Unpin at most {MAX_UNPIN_IDS} pins at a time.")
    return Unpin(ids)
