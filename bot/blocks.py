"""Block Kit rendering: pure functions from data to messages.

Built from `slack_sdk.models.blocks` classes so that Slack's limits (text lengths, element
counts) are validated by `to_dict()` here, in tests, rather than discovered as `invalid_blocks`
in production. Every string pinbot did not write (file names, `/pin` names, metadata, ids,
statuses from the service) goes through `bot.text` — `escape` for free mrkdwn, `inline_name` for
a name inside a line or a title, `plain` for plain_text fields — and is cut to fit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from .commands import USAGE, PinsQuery
from .format import decimal_size, gateway_link, human_size, plural, short_cid, short_date
from .ids import is_slack_id
from .quotas import WINDOW as QUOTA_WINDOW
from .quotas import QuotaRefusal, QuotaUse
from .store.policies import ChannelPolicy
from .store.stats import Expiring, MonthUse, UseRow
from .text import cut as cut
from .text import escape as escape
from .text import inline_name as inline_name
from .text import neutralise
from .text import plain as plain
from .units import policy_duration, spoken_duration
from .w3ipfs import Pin, PinPage, PinState, Totals

# Action ids: the contract between these messages and handlers/actions.py.
UNPIN_BUTTON = "pin_unpin"
ROW_MENU = "pin_row_menu"
PAGE_BUTTON = "pins_page"
SHARE_LIST = "pins_share"
SHARE_PIN = "pin_share"
UNPIN_CONFIRM = "unpin_confirm"
UNPIN_CANCEL = "unpin_cancel"
OPEN_GATEWAY = "open_gateway"
#: "Keep" on a card or an expiry notice: exempt the pin (its value) from retention.
KEEP_BUTTON = "pin_keep"
#: `/pin retention <d> --apply-to-existing`: the preview's buttons.
RETENTION_APPLY = "retention_apply"
RETENTION_CANCEL = "retention_cancel"

STATE_EMOJI = {
    PinState.PINNED: ":white_check_mark:",
    PinState.PINNING: ":hourglass_flowing_sand:",
    PinState.FAILED: ":x:",
    PinState.UNPINNED: ":wastebasket:",
    PinState.UNKNOWN: ":grey_question:",
}


class RetentionFacts(Protocol):
    """A pin's retention facts from the ledger (a `PinRecord` is one; so is an `Owner`)."""

    @property
    def kept(self) -> bool: ...
    @property
    def kept_by(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def retention_seconds(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Owner:
    """Who pinned a pin and where, and its retention, as far as the ledger knows."""

    user_id: str | None
    channel_id: str | None
    kept: bool = False
    kept_by: str | None = None
    expires_at: datetime | None = None
    retention_seconds: int | None = None

    def describe(self) -> str | None:
        """Mentions are made only of well-formed ids (they come from a ledger row)."""
        user = self.user_id if is_slack_id(self.user_id) else None
        channel = self.channel_id if is_slack_id(self.channel_id) else None
        if user and channel:
            return f"pinned by <@{user}> in <#{channel}>"
        if user:
            return f"pinned by <@{user}>"
        return None


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message: `text` is the notification/fallback, `blocks` the Block Kit."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def _render(text: str, blocks: Sequence[Block]) -> Message:
    return Message(cut(text, 3000), [b.to_dict() for b in blocks])


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=cut(text, 3000))


def _name(pin: Pin, fallback: str | None = None) -> str:
    """What to call a pin: its name, else the fallback, else its CID or id (a name of only
    line breaks or control characters counts as none)."""
    for candidate in (pin.name, fallback):
        if candidate and neutralise(candidate):
            return candidate
    return short_cid(pin.cid) if pin.cid else pin.id


def _gateway_button(gateway_url: str, cid: str) -> ButtonElement:
    return ButtonElement(
        text="Open in gateway", url=gateway_link(gateway_url, cid), action_id=OPEN_GATEWAY
    )


def _unpin_confirm(name: str) -> ConfirmObject:
    return ConfirmObject(
        title="Unpin this file?",
        text=f"*{inline_name(name, 200)}* will no longer be pinned by this account.",
        confirm="Unpin",
        deny="Keep it",
        style="danger",
    )


def _unpin_button(pin: Pin, name: str) -> ButtonElement:
    return ButtonElement(
        text="Unpin", action_id=UNPIN_BUTTON, value=pin.id, style="danger",
        confirm=_unpin_confirm(name),
    )


def keep_button(pin_id: str) -> ButtonElement:
    """Exempts a pin from its channel's retention (the pin's owner or an admin)."""
    return ButtonElement(text="Keep", action_id=KEEP_BUTTON, value=pin_id)


def kept_line(expiry: RetentionFacts) -> str | None:
    """"Kept by @user" for a kept pin (the mention only of a well-formed id)."""
    if not expiry.kept:
        return None
    who = f" by <@{expiry.kept_by}>" if is_slack_id(expiry.kept_by) else ""
    return f":pushpin: Kept{who}: retention will not unpin it."


def expiry_line(expiry: RetentionFacts) -> str | None:
    """When retention will unpin a pin that is not kept, in each reader's time zone."""
    if expiry.kept or expiry.expires_at is None:
        return None
    return (f":hourglass: Will be unpinned on {slack_date(expiry.expires_at)} by this "
            f"channel's {_policy(expiry.retention_seconds)}policy.")


def _expiring(pin: Pin, expiry: RetentionFacts | None) -> bool:
    """Whether a card offers Keep: a live pin with an expiry, not kept yet."""
    return (expiry is not None and not expiry.kept and expiry.expires_at is not None
            and pin.state in (PinState.PINNED, PinState.PINNING, PinState.UNKNOWN))


def pin_fields(pin: Pin, size: int | None = None) -> list[MarkdownTextObject]:
    state = pin.state
    return [
        _md(f"*CID*\n`{inline_name(pin.cid, 500) if pin.cid else '—'}`"),
        _md(f"*Status*\n{STATE_EMOJI[state]} {inline_name(pin.display_status, 100)}"),
        _md(f"*Size*\n{human_size(pin.size if pin.size else size)}"),
        _md(f"*Pin id*\n`{inline_name(pin.id, 200)}`"),
    ]


def pinning(name: str, size: int | None) -> Message:
    """The placeholder posted in the thread while the file streams."""
    text = f"Pinning {inline_name(name, 200)} ({human_size(size)})…"
    return _render(text, [
        SectionBlock(text=_md(f":pushpin: Pinning *{inline_name(name, 500)}* "
                              f"({human_size(size)}) to IPFS…")),
    ])


def progress_bar(fraction: float, width: int = 20) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "▓" * filled + "░" * (width - filled)


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def uploading(name: str, size: int | None, done: int, elapsed: float) -> Message:
    """The placeholder while bytes stream: bar, bytes done, speed and time left."""
    total = size or 0
    fraction = done / total if total else 0.0
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / rate if rate > 0 and total else None
    line = (
        f"`{progress_bar(fraction)}` {fraction:.0%}\n"
        f"{human_size(done)} of {human_size(total)} · {human_size(int(rate))}/s"
        + (f" · about {duration(eta)} left" if eta is not None else "")
    )
    text = f"Pinning {inline_name(name, 200)}: {fraction:.0%}"
    return _render(text, [
        SectionBlock(text=_md(f":pushpin: Pinning *{inline_name(name, 500)}* to IPFS…\n{line}")),
    ])


def verification_line(verified: bool | None, local_cid: str | None) -> str:
    if verified is True:
        return ":lock: *Verified*: the CID matches the bytes pinbot sent."
    if verified is False:
        # A card rebuilt from the ledger (after Keep) no longer knows the bytes' CID.
        sent = f" (`{inline_name(local_cid, 200)}`)" if local_cid else ""
        return (
            ":warning: *Not verified*: the service's CID differs from the CID of the bytes "
            f"pinbot sent{sent}. The pinned content may not be this file."
        )
    return "Not verified (no CID to compare)."


def pin_card(
    pin: Pin,
    *,
    gateway_url: str,
    file_name: str | None = None,
    size: int | None = None,
    shared_by: str | None = None,
    verified: bool | None = None,
    local_cid: str | None = None,
    note: str | None = None,
    retention: RetentionFacts | None = None,
) -> Message:
    """The result card: what was pinned, where to get it, and a way to undo it.

    `retention` (the ledger's record) adds "Kept by …" or "Will be unpinned on …" and, for a
    pin that will expire, a Keep button.
    """
    name = _name(pin, file_name)
    shown = inline_name(name, 200)
    title = f"Pinned {shown}" if pin.state is not PinState.UNPINNED else f"Unpinned {shown}"
    blocks: list[Block] = [
        SectionBlock(
            text=_md(f"{STATE_EMOJI[pin.state]} *{inline_name(name, 1000)}*"),
            fields=pin_fields(pin, size),
        ),
    ]
    context = []
    if shared_by:
        context.append(_md(f"Shared by <@{shared_by}>"))
    if local_cid is not None or verified is not None:
        context.append(_md(verification_line(verified, local_cid)))
    if note:
        context.append(_md(note))
    if retention is not None and pin.state is not PinState.UNPINNED:
        line = kept_line(retention) or (expiry_line(retention)
                                        if _expiring(pin, retention) else None)
        if line:
            context.append(_md(line))
    if context:
        blocks.append(ContextBlock(elements=context))
    actions: list[ButtonElement] = []
    if pin.cid:
        actions.append(_gateway_button(gateway_url, pin.cid))
    if pin.state is not PinState.UNPINNED:
        actions.append(_unpin_button(pin, name))
    if _expiring(pin, retention):
        actions.append(keep_button(pin.id))
    if actions:
        blocks.append(ActionsBlock(elements=actions))
    return _render(f"{title}: {inline_name(pin.cid or '', 200)}", blocks)


def _kind(pin: Pin) -> str:
    if pin.is_dir:
        return "directory"
    return "pin by CID" if pin.is_pin_by_hash else "file"


def pin_details(pin: Pin, *, gateway_url: str, owner: Owner | None = None) -> Message:
    """`/pins <id>` and the Details menu item: everything known about one pin."""
    name = _name(pin)
    extra = [
        _md(f"*Pinned*\n{short_date(pin.date_pinned)}"),
        _md(f"*Kind*\n{_kind(pin)}"),
    ]
    if pin.date_unpinned:
        extra.append(_md(f"*Unpinned*\n{short_date(pin.date_unpinned)}"))
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=plain(name, 150))),
        SectionBlock(fields=[*pin_fields(pin), *extra][:10]),
    ]
    if pin.metadata.keyvalues:
        pairs = ", ".join(f"{inline_name(str(k), 100)}={inline_name(str(v), 200)}"
                          for k, v in pin.metadata.keyvalues.items())
        blocks.append(ContextBlock(elements=[_md(cut(f"Metadata: {pairs}", 2000))]))
    who = owner.describe() if owner else None
    blocks.append(ContextBlock(elements=[_md(
        (who[0].upper() + who[1:]) if who else "Pinned outside Slack (not in pinbot's ledger)."
    )]))
    actions: list[ButtonElement] = []
    if pin.cid:
        actions.append(_gateway_button(gateway_url, pin.cid))
    if pin.state is not PinState.UNPINNED:
        actions.append(_unpin_button(pin, name))
    actions.append(ButtonElement(text="Share to channel", action_id=SHARE_PIN, value=pin.id))
    blocks.append(ActionsBlock(elements=actions))
    return _render(f"{inline_name(name, 200)}: {inline_name(pin.cid or '', 200)}", blocks)


def _row(pin: Pin, gateway_url: str, owner: Owner | None) -> SectionBlock:
    name = inline_name(_name(pin), 200)
    line = (
        f"*{name}*\n`{short_cid(pin.cid) if pin.cid else '—'}` · {human_size(pin.size)} · "
        f"{short_date(pin.date_pinned)} · {STATE_EMOJI[pin.state]} "
        f"{inline_name(pin.display_status, 100)}"
    )
    who = owner.describe() if owner else None
    if who:
        line += f"\n{who}"
    if owner is not None and pin.state is not PinState.UNPINNED:
        kept = kept_line(owner)
        if kept:
            line += f"\n{kept}"
        elif owner.expires_at is not None:
            line += f"\n:hourglass: Unpinned on {slack_date(owner.expires_at)} by retention"
    options = [Option(text="Details", value=f"details:{pin.id}")]
    if pin.cid:
        options.append(Option(text="Open in gateway", value=f"open:{pin.id}",
                              url=gateway_link(gateway_url, pin.cid)))
    if pin.state is not PinState.UNPINNED:
        options.append(Option(text="Unpin…", value=f"unpin:{pin.id}"))
    return SectionBlock(
        text=_md(line), accessory=OverflowMenuElement(action_id=ROW_MENU, options=options)
    )


def pins_list(
    page: PinPage,
    query: PinsQuery,
    *,
    gateway_url: str,
    shared: bool = False,
    owners: Mapping[str, Owner] | None = None,
) -> Message:
    """One page of `/pins`: totals, a row per pin, Prev/Next that keep the filters."""
    files, size = page.totals.files, page.totals.size
    header = f"{files} pin{'s' if files != 1 else ''} · {human_size(size)}"
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=cut(f":pushpin: {header}", 150))),
        ContextBlock(elements=[_md(query.describe())]),
    ]
    if not page.pins:
        blocks.append(SectionBlock(text=_md(
            "Nothing here yet." if page.offset == 0 else "No more pins on this page."
        )))
    for pin in page.pins[:40]:
        blocks.append(_row(pin, gateway_url, (owners or {}).get(pin.id)))
    first, last = page.offset + 1, page.offset + len(page.pins)
    if page.pins:
        blocks.append(ContextBlock(elements=[_md(f"Showing {first} to {last} of {files}")]))
    buttons: list[ButtonElement] = []
    if page.has_prev:
        buttons.append(ButtonElement(
            text="◀ Prev", action_id=f"{PAGE_BUTTON}_prev",
            value=query.page(page.offset - page.limit).to_value(),
        ))
    if page.has_next:
        buttons.append(ButtonElement(
            text="Next ▶", action_id=f"{PAGE_BUTTON}_next",
            value=query.page(page.offset + page.limit).to_value(),
        ))
    if not shared:
        buttons.append(ButtonElement(
            text="Share to channel", action_id=SHARE_LIST, value=query.page(page.offset).to_value()
        ))
    if buttons:
        blocks.append(DividerBlock())
        blocks.append(ActionsBlock(elements=buttons))
    return _render(f"Pins: {header}", blocks)


def unpin_confirm(
    pins: Sequence[Pin], unknown: Sequence[str], refused: Sequence[str] = ()
) -> Message:
    """The confirm step of `/unpin` and of Unpin from a list row.

    `pins` are those this user may unpin; `refused` are sentences about the others.
    """
    blocks: list[Block] = []
    if refused:
        blocks.append(SectionBlock(text=_md(
            "\n".join(f":no_entry: {line}" for line in refused[:20])
        )))
    lines = [f"• *{inline_name(_name(p), 200)}* `{inline_name(p.id, 200)}`" for p in pins]
    if pins:
        blocks.append(SectionBlock(text=_md(
            f"Unpin {'this pin' if len(pins) == 1 else f'these {len(pins)} pins'}?\n"
            + "\n".join(lines)
        )))
    if unknown:
        blocks.append(SectionBlock(text=_md(
            ":grey_question: No pin with "
            + ", ".join(f"`{inline_name(u, 80)}`" for u in unknown)
            + " exists on this account."
        )))
    if pins:
        blocks.append(ActionsBlock(elements=[
            ButtonElement(
                text=f"Unpin {len(pins)}" if len(pins) > 1 else "Unpin", style="danger",
                action_id=UNPIN_CONFIRM, value=json.dumps([p.id for p in pins]),
            ),
            ButtonElement(text="Cancel", action_id=UNPIN_CANCEL, value="cancel"),
        ]))
    if not pins and not unknown and not refused:
        blocks.append(SectionBlock(text=_md("Nothing to unpin.")))
    text = f"Unpin {len(pins)} pin(s)?" if pins else "Nothing you can unpin here."
    return _render(text, blocks)


@dataclass(frozen=True, slots=True)
class UnpinOutcome:
    pin_id: str
    pin: Pin | None = None
    error: str | None = None  # mrkdwn, already escaped


def unpin_result(outcomes: Sequence[UnpinOutcome], by_user: str | None = None) -> Message:
    lines = []
    for o in outcomes:
        if o.pin is not None:
            lines.append(f":wastebasket: Unpinned *{inline_name(_name(o.pin), 200)}* "
                         f"`{inline_name(o.pin_id, 200)}`")
        else:
            lines.append(f":x: `{inline_name(o.pin_id, 80)}`: {o.error or 'failed'}")
    done = sum(1 for o in outcomes if o.pin is not None)
    blocks: list[Block] = [SectionBlock(text=_md("\n".join(lines) or "Nothing was unpinned."))]
    if by_user:
        blocks.append(ContextBlock(elements=[_md(f"By <@{by_user}>")]))
    return _render(f"Unpinned {done} of {len(outcomes)}", blocks)


def unpinned_card(pin: Pin, *, gateway_url: str, by_user: str) -> Message:
    """A result card after its Unpin button: same card, new state, who did it."""
    return pin_card(pin, gateway_url=gateway_url, note=f"Unpinned by <@{by_user}>")


def _policy(retention_seconds: int | None) -> str:
    return f"{policy_duration(retention_seconds)} " if retention_seconds else ""


def slack_date(when: datetime) -> str:
    """A date Slack shows in each reader's own time zone (UTC where it cannot)."""
    return (f"<!date^{int(when.timestamp())}^{{date_long_pretty}} at {{time}}"
            f"|{short_date(when)}>")


def retention_unpinned_card(
    pin: Pin, *, gateway_url: str, file_name: str | None, size: int | None,
    shared_by: str | None, verified: bool | None, retention_seconds: int | None,
) -> Message:
    """A card whose pin the retention sweep unpinned: same card, new state, which policy."""
    return pin_card(pin, gateway_url=gateway_url, file_name=file_name, size=size,
                    shared_by=shared_by, verified=verified,
                    note=f"Unpinned by the channel's {_policy(retention_seconds)}retention policy")


def expiry_notice(pin_id: str, name: str, expires_at: datetime,
                  retention_seconds: int | None) -> Message:
    """The 24-hour notice in a file's thread, with a Keep button (the pin's owner or an
    admin may press it)."""
    policy = f"this channel's {_policy(retention_seconds)}policy"
    shown = inline_name(name if neutralise(name) else pin_id, 200)
    text = (f":hourglass: *{shown}* will be unpinned on {slack_date(expires_at)} by {policy}. "
            "Press *Keep* to keep it pinned.")
    return _render(f"{shown} will be unpinned on {short_date(expires_at)} by {policy}", [
        SectionBlock(text=_md(text)),
        ActionsBlock(elements=[keep_button(pin_id)]),
    ])


def retention_preview(channel: str, seconds: int, *, pins: int, size: int, due: int,
                      kept: int, value: str) -> Message:
    """`/pin retention <d> --apply-to-existing`: what confirming would touch, before it does.

    `value` (the channel and duration) rides on Confirm and is validated again on the click.
    """
    policy = policy_duration(seconds)
    lines = [
        f":hourglass: This applies the {policy} policy to *{pins} pin{'s' if pins != 1 else ''}* "
        f"({human_size(size)}) already in <#{channel}>; *{due}* of them would be unpinned at "
        "the next sweep.",
    ]
    if kept:
        lines.append(f"{kept} kept pin{'s are' if kept != 1 else ' is'} not touched.")
    lines.append(f"Confirming also sets <#{channel}>'s retention to {policy} for pins made "
                 "from now on.")
    return _render(f"Apply the {policy} policy to {plural(pins, 'pin')} in this channel?", [
        SectionBlock(text=_md("\n".join(lines))),
        ActionsBlock(elements=[
            ButtonElement(text="Confirm", action_id=RETENTION_APPLY, value=value,
                          style="danger" if due else "primary"),
            ButtonElement(text="Cancel", action_id=RETENTION_CANCEL, value="cancel"),
        ]),
    ])


def notice(text: str, *, emoji: str = ":information_source:") -> Message:
    """A short message: refusals, errors, confirmations. `text` is mrkdwn, already escaped."""
    return _render(text, [SectionBlock(text=_md(f"{emoji} {text}"))])


def unknown_pin(pin_id: str) -> Message:
    """The answer to an id that names no pin of this workspace's — unknown, another
    workspace's, or not an id at all: all three read the same."""
    return notice(f"No pin with id `{inline_name(pin_id, 80)}` exists on this account. "
                  "`/pins` lists them all.", emoji=":grey_question:")


def failure(title: str, reason: str) -> Message:
    """`title` is plain text (it may hold a file name: made one escaped line here); `reason`
    is mrkdwn, already escaped."""
    shown = inline_name(title, 500)
    return _render(f"{shown}: {reason}", [
        SectionBlock(text=_md(f":x: *{shown}*\n{reason}")),
    ])


def usage(command: str) -> Message:
    return _render(USAGE[command], [SectionBlock(text=_md(USAGE[command]))])


# -- App Home and modals (views: 100 blocks) -----------------------------------------------

HOME_ROW_MENU = "home_row_menu"
HOME_REFRESH = "home_refresh"
HOME_CLEANUP = "home_cleanup"
UNPIN_MODAL = "home_unpin_modal"
CLEANUP_MODAL = "cleanup_filters"
CLEANUP_CONFIRM = "cleanup_confirm"


@dataclass(frozen=True, slots=True)
class HomeData:
    totals: Totals | None
    keys_state: str
    mine: Sequence[Pin]
    latest: Sequence[Pin]
    owners: Mapping[str, Owner]
    is_admin: bool
    channel_settings: Sequence[tuple[str, bool, str | None]] = ()
    default_auto_pin: str = "all"


def _home_row(pin: Pin, gateway_url: str, owner: Owner | None) -> SectionBlock:
    row = _row(pin, gateway_url, owner)
    assert isinstance(row.accessory, OverflowMenuElement)
    row.accessory.action_id = HOME_ROW_MENU
    return row


def home_view(data: HomeData, *, gateway_url: str,
              your_use: QuotaUse | None = None,
              overview: AdminOverview | None = None) -> dict[str, Any]:
    """The App Home tab: totals, key health, your pins and use, the team's latest, admin
    tools."""
    keys = {
        "ok": ":large_green_circle: Pinning keys work",
        "keys rejected": ":red_circle: The pinning service rejects the keys: pins will fail",
    }.get(data.keys_state,
          f":large_yellow_circle: Pinning service: {inline_name(data.keys_state, 200)}")
    totals = (f"*{data.totals.files}* pins · *{human_size(data.totals.size)}* on the account"
              if data.totals else "Totals unavailable right now")
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=":pushpin: pinbot")),
        SectionBlock(text=_md(f"{totals}\n{keys}"), accessory=ButtonElement(
            text="Refresh", action_id=HOME_REFRESH, value="refresh")),
        ContextBlock(elements=[_md(
            "Share a file in a channel with pinbot to pin it, react with :pushpin:, or use "
            "*Pin to IPFS* from a message's ⋯ menu. `/pins` lists everything.")]),
        DividerBlock(),
        HeaderBlock(text=PlainTextObject(text="Your recent pins")),
    ]
    if data.mine:
        blocks += [_home_row(p, gateway_url, data.owners.get(p.id)) for p in data.mine[:10]]
    else:
        blocks.append(SectionBlock(text=_md("You have not pinned anything yet.")))
    if your_use is not None:
        blocks.append(ContextBlock(elements=[_md(quota_use_line(your_use))]))
    blocks += [DividerBlock(), HeaderBlock(text=PlainTextObject(text="The team's latest"))]
    if data.latest:
        blocks += [_home_row(p, gateway_url, data.owners.get(p.id)) for p in data.latest[:10]]
    else:
        blocks.append(SectionBlock(text=_md("Nothing pinned yet.")))
    if data.is_admin:
        default = {"all": "on everywhere", "off": "off everywhere"}.get(
            data.default_auto_pin, f"on in {data.default_auto_pin}")
        lines = [f"Default (PINBOT_AUTO_PIN): *{default}*"] + [
            f"<#{channel}>: *{'on' if on else 'off'}*" + (f" (set by <@{by}>)" if by else "")
            for channel, on, by in data.channel_settings[:30]
        ]
        blocks += [
            DividerBlock(),
            HeaderBlock(text=PlainTextObject(text="Admin")),
            SectionBlock(text=_md("*Auto-pin per channel* (`/pin auto on|off` in a channel)\n"
                                  + "\n".join(lines))),
            SectionBlock(text=_md("*Team cleanup*: find old or large pins and unpin them, "
                                  "after a preview."),
                         accessory=ButtonElement(text="Clean up…", action_id=HOME_CLEANUP,
                                                 value="cleanup")),
            SectionBlock(text=_md("*Pinning keys*: pin this workspace's files into its own "
                                  "W3IPFS account."),
                         accessory=ButtonElement(text="Pinning keys…", action_id="home_keys",
                                                 value="keys")),
        ]
        if overview is not None:
            blocks += admin_overview(overview)
    return {"type": "home", "blocks": [b.to_dict() for b in blocks[:100]]}


# -- App Home: the account's upkeep, for admins -----------------------------------------------

#: Channels listed with their policy, and pins listed as due, before "…and N more".
HOME_POLICY_ROWS = 20
HOME_EXPIRING_ROWS = 10


@dataclass(frozen=True, slots=True)
class AdminOverview:
    """What admins see of the account's upkeep (a part is None when it could not be read)."""

    use: MonthUse | None
    policies: Sequence[ChannelPolicy] | None
    #: PINBOT_RETENTION in seconds (None: off) and PINBOT_QUOTA_USER_MB in bytes (None: none).
    default_retention: float | None
    quota_user_bytes: int | None
    expiring: Expiring | None


def _channel(channel_id: str | None) -> str:
    return f"<#{channel_id}>" if is_slack_id(channel_id) else "_no channel_"


def _person(user_id: str | None) -> str:
    return f"<@{user_id}>" if is_slack_id(user_id) else "_someone outside Slack_"



def _use_lines(rows: Sequence[UseRow], name: Any) -> str:
    return "\n".join(f"{name(r.key)} · {human_size(r.bytes)} · {plural(r.files, 'file')}"
                     for r in rows) or "—"


def _retention(seconds: float | None) -> str:
    return f"*{policy_duration(seconds)}*" if seconds else "*off* (kept)"


def _quota(size: int | None) -> str:
    return f"*{decimal_size(size)}* per 30 days" if size else "*none*"


def month_use_blocks(use: MonthUse | None) -> list[Block]:
    """Files and bytes pinned this calendar month, and who and where most of it came from."""
    if use is None:
        return [SectionBlock(text=_md("This month's use is unavailable right now."))]
    month = use.since.strftime("%B %Y")
    blocks: list[Block] = [SectionBlock(text=_md(
        f"*{plural(use.files, 'file')}* · *{human_size(use.bytes)}* pinned in {month} (UTC)"))]
    if use.files:
        blocks.append(SectionBlock(fields=[
            _md(cut("*Top channels*\n" + _use_lines(use.top_channels, _channel), 2000)),
            _md(cut("*Top people*\n" + _use_lines(use.top_users, _person), 2000)),
        ]))
    return blocks


def policy_blocks(overview: AdminOverview) -> list[Block]:
    """The workspace defaults, then each channel with a policy of its own."""
    lines = [f"Workspace default: retention {_retention(overview.default_retention)} "
             "(`PINBOT_RETENTION`) · per-person quota "
             f"{_quota(overview.quota_user_bytes)} (`PINBOT_QUOTA_USER_MB`)"]
    policies = overview.policies
    if policies is None:
        lines.append("Channel policies are unavailable right now.")
    elif not policies:
        lines.append("No channel has its own policy yet: `/pin retention` and `/pin quota` "
                     "in a channel set one.")
    for policy in (policies or [])[:HOME_POLICY_ROWS]:
        retention = ("follows the default" if policy.retention_seconds is None
                     else _retention(policy.retention_seconds))
        by = f" (set by <@{policy.updated_by}>)" if is_slack_id(policy.updated_by) else ""
        lines.append(f"{_channel(policy.channel_id)}: retention {retention} · channel quota "
                     f"{_quota(policy.quota_bytes)}{by}")
    if policies and len(policies) > HOME_POLICY_ROWS:
        lines.append(f"…and {plural(len(policies) - HOME_POLICY_ROWS, 'more channel')}")
    return [SectionBlock(text=_md(cut("\n".join(lines), 3000)))]


def expiring_blocks(expiring: Expiring | None) -> list[Block]:
    """The pins retention unpins within the next 7 days, soonest first."""
    if expiring is None:
        text = "Expiring pins are unavailable right now."
    elif not expiring.total:
        text = "Nothing is due to be unpinned by retention in the next 7 days."
    else:
        lines = [f"*{plural(expiring.total, 'pin')}* · *{human_size(expiring.bytes)}* due by "
                 f"{short_date(expiring.until)} (`/pin keep <pin id>` keeps one):"]
        lines += [f"• *{inline_name(p.name or '(unnamed)', 80)}* in {_channel(p.channel_id)} "
                  f"· {short_date(p.expires_at)}"
                  for p in expiring.pins[:HOME_EXPIRING_ROWS]]
        shown = min(len(expiring.pins), HOME_EXPIRING_ROWS)
        if expiring.total > shown:
            lines.append(f"…and {expiring.total - shown} more")
        text = "\n".join(lines)
    return [SectionBlock(text=_md(cut(text, 3000)))]


def admin_overview(overview: AdminOverview) -> list[Block]:
    """App Home's admin sections on the account's upkeep (8 blocks at most)."""
    def header(text: str) -> HeaderBlock:
        return HeaderBlock(text=PlainTextObject(text=text))

    return [
        DividerBlock(), header("Workspace use this month"), *month_use_blocks(overview.use),
        header("Retention and quotas"), *policy_blocks(overview),
        header("Due to expire in the next 7 days"), *expiring_blocks(overview.expiring),
    ]


def details_modal(pin: Pin, *, gateway_url: str, owner: Owner | None) -> dict[str, Any]:
    message = pin_details(pin, gateway_url=gateway_url, owner=owner)
    # Buttons inside a modal would need their own handling; the card's facts are what counts.
    body = [b for b in message.blocks if b.get("type") != "actions"]
    return {"type": "modal", "title": {"type": "plain_text", "text": "Pin details"},
            "close": {"type": "plain_text", "text": "Close"}, "blocks": body}


def unpin_modal(pin: Pin) -> dict[str, Any]:
    return {
        "type": "modal", "callback_id": UNPIN_MODAL, "private_metadata": pin.id,
        "title": {"type": "plain_text", "text": "Unpin"},
        "submit": {"type": "plain_text", "text": "Unpin"},
        "close": {"type": "plain_text", "text": "Keep it"},
        "blocks": [SectionBlock(text=_md(
            f"Unpin *{inline_name(_name(pin), 500)}* (`{inline_name(pin.id, 200)}`)? It will no "
            "longer be pinned by this account.")).to_dict()],
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (refusals and errors reached from App Home)."""
    return {"type": "modal", "title": {"type": "plain_text", "text": plain(title, 24)},
            "close": {"type": "plain_text", "text": "OK"},
            "blocks": [SectionBlock(text=_md(text)).to_dict()]}


#: Longest text the cleanup dialog's inputs take (Slack enforces `max_length` in the dialog;
#: `bot.pins.cleanup.parse_filters` enforces it again for forged submissions). They bound the
#: filters, and so the preview's `private_metadata`, far below Slack's 3,000 characters.
CLEANUP_NUMBER_CHARS = 12
CLEANUP_NAME_CHARS = 100


def cleanup_modal() -> dict[str, Any]:
    """Filters for a team cleanup. Submitting shows a preview; nothing is unpinned yet."""

    def text_input(block: str, label: str, hint: str, max_length: int) -> dict[str, Any]:
        return {"type": "input", "block_id": block, "optional": True,
                "label": {"type": "plain_text", "text": label},
                "hint": {"type": "plain_text", "text": hint},
                "element": {"type": "plain_text_input", "action_id": "v",
                            "max_length": max_length}}

    def option(value: str, text: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": text}, "value": value}

    statuses = [option("any", "Any status"), option("done", "Pinned (done)"),
                option("failed", "Failed"), option("pinning", "Still pinning")]
    return {
        "type": "modal", "callback_id": CLEANUP_MODAL,
        "title": {"type": "plain_text", "text": "Team cleanup"},
        "submit": {"type": "plain_text", "text": "Preview"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            SectionBlock(text=_md("Choose which of the team's pins to remove. *Preview* shows "
                                  "what matches; nothing is unpinned until you confirm."))
            .to_dict(),
            text_input("older", "Older than (days)", "e.g. 90", CLEANUP_NUMBER_CHARS),
            text_input("larger", "Larger than (MB)", "e.g. 500", CLEANUP_NUMBER_CHARS),
            {"type": "input", "block_id": "channel", "optional": True,
             "label": {"type": "plain_text", "text": "Shared in channel"},
             "element": {"type": "conversations_select", "action_id": "v"}},
            {"type": "input", "block_id": "user", "optional": True,
             "label": {"type": "plain_text", "text": "Pinned by"},
             "element": {"type": "users_select", "action_id": "v"}},
            text_input("name", "Name contains", "e.g. draft", CLEANUP_NAME_CHARS),
            {"type": "input", "block_id": "status", "optional": True,
             "label": {"type": "plain_text", "text": "Status"},
             "element": {"type": "static_select", "action_id": "v", "options": statuses,
                         "initial_option": statuses[0]}},
        ],
    }


def cleanup_preview(
    description: str, rows: Sequence[Pin], count: int, size: int, filters_json: str
) -> dict[str, Any]:
    """The dry run: how many, how much, the first rows; Confirm unpins exactly this set."""
    lines = [
        f"• *{inline_name(_name(p), 80)}* · {human_size(p.size)} · {short_date(p.date_pinned)}"
        for p in rows[:10]
    ]
    more = f"\n…and {count - len(lines)} more" if count > len(lines) else ""
    view: dict[str, Any] = {
        "type": "modal", "callback_id": CLEANUP_CONFIRM, "private_metadata": filters_json,
        "title": {"type": "plain_text", "text": "Team cleanup"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [SectionBlock(text=_md(
            f"*{count} pin{'s' if count != 1 else ''}* ({human_size(size)}) match: "
            f"{description}.\n" + ("\n".join(lines) + more if lines else "Nothing to remove.")
        )).to_dict()],
    }
    if count:
        view["submit"] = {"type": "plain_text", "text": cut(f"Unpin {count}", 24)}
        view["blocks"].append(ContextBlock(elements=[_md(
            "Unpinning runs in the background at the pinning API's pace; a message with its "
            "progress will arrive from pinbot.")]).to_dict())
    return view


def cleanup_progress(description: str, total: int, done: int, skipped: int, failed: int
                     ) -> Message:
    processed = done + skipped + failed
    fraction = processed / total if total else 1.0
    return _render(f"Cleanup: {processed} of {total}", [
        SectionBlock(text=_md(
            f":broom: *Cleanup* ({description})\n`{progress_bar(fraction)}` "
            f"{processed} of {total} · {done} unpinned · {skipped} skipped · {failed} failed")),
    ])


def cleanup_summary(description: str, total: int, done: int, skipped: int,
                    failed: Sequence[tuple[str, str]], *, elsewhere: int = 0) -> Message:
    lines = [f":broom: *Cleanup finished* ({description})",
             f"{done} unpinned · {skipped} skipped (already gone) · {len(failed)} failed "
             f"of {total}"]
    if elsewhere:
        lines.append(f"{elsewhere} skipped: made with pinning keys this workspace no longer "
                     "uses, so left pinned in that account (restore those keys with "
                     "`/pin setup` to unpin them from here)")
    for name, reason in failed[:10]:
        lines.append(f"• {inline_name(name, 80)}: {reason}")
    if len(failed) > 10:
        lines.append(f"…and {len(failed) - 10} more failures")
    return _render(f"Cleanup finished: {done} of {total} unpinned",
                   [SectionBlock(text=_md("\n".join(lines)))])


KEYS_MODAL = "keys_setup"
HOME_KEYS = "home_keys"


def keys_modal(current_last4: str | None) -> dict[str, Any]:
    """Set the workspace's W3IPFS key pair. Nothing is ever shown back but the last 4."""
    now = (f"This workspace uses its own pinning account (API key ending in "
           f"`{inline_name(current_last4, 8)}`)." if current_last4 else
           "This workspace uses pinbot's default pinning account.")

    def secret_input(block: str, label: str) -> dict[str, Any]:
        return {"type": "input", "block_id": block,
                "label": {"type": "plain_text", "text": label},
                "element": {"type": "plain_text_input", "action_id": "v",
                            "max_length": 200}}

    return {
        "type": "modal", "callback_id": KEYS_MODAL,
        "title": {"type": "plain_text", "text": "Pinning keys"},
        "submit": {"type": "plain_text", "text": "Check and save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            SectionBlock(text=_md(
                f"{now}\nEnter a W3IPFS API key pair to pin this workspace's files into its "
                "own account. The keys are checked with the service before they are saved, "
                "stored encrypted, and never shown again.")).to_dict(),
            secret_input("api_key", "API key (pinning_api_key)"),
            secret_input("secret_key", "Secret key (pinning_secret_key)"),
        ],
    }


PIN_EACH = "pin_each_file"
PIN_FOLDER = "pin_as_folder"


def shortcut_choice(count: int, value: str) -> Message:
    """Several files in one message: pin each one, or the set as one folder (one CID)."""
    return _render(f"Pin {count} files", [
        SectionBlock(text=_md(f"This message has *{count} files*. Pin each one separately, or "
                              "all of them as one folder (one CID for the set)?")),
        ActionsBlock(elements=[
            ButtonElement(text="Pin each file", action_id=PIN_EACH, value=value,
                          style="primary"),
            ButtonElement(text="Pin as folder", action_id=PIN_FOLDER, value=value),
        ]),
    ])


# -- quotas ------------------------------------------------------------------------------------

def _window() -> str:
    return spoken_duration(QUOTA_WINDOW.total_seconds())


def quota_refusal(refusal: QuotaRefusal) -> Message:
    """Why a file was not pinned: which quota, what is used, the file's size, and when space
    frees up (in each reader's time zone) or what to do instead."""
    name = inline_name(refusal.name, 200)
    limit, used = decimal_size(refusal.limit), decimal_size(refusal.used)
    head = f"*{name}* ({decimal_size(refusal.size)}) was not pinned: "
    if refusal.which == "user":
        whose, remedy = f"your {limit}", "unpin something with `/pins mine`"
        head += f"you have used {used} of your {limit} for {_window()}."
    else:
        whose, remedy = f"<#{refusal.channel_id}>'s quota of {limit}", (
            "an admin can change the quota with `/pin quota`")
        head += (f"<#{refusal.channel_id}> has used {used} of its {limit} for {_window()} "
                 "(the channel's quota).")
    if refusal.frees_at is None:
        tail = f" The file alone is larger than {whose}."
    else:
        tail = f" Space frees up on {slack_date(refusal.frees_at)}, or {remedy}."
    return notice(head + tail, emoji=":no_entry_sign:")


def quota_use_line(use: QuotaUse) -> str:
    """A person's use over the window: "450 MB of your 500 MB", or without a quota."""
    if use.limit is None:
        return (f"You pinned *{decimal_size(use.used)}* in the last {_window()} "
                "(no personal quota).")
    bar = progress_bar(min(1.0, use.used / use.limit), 10)
    return (f"You have used *{decimal_size(use.used)}* of your {decimal_size(use.limit)} "
            f"for {_window()} `{bar}`")


def quota_status(channel: str, channel_use: QuotaUse, user_use: QuotaUse) -> Message:
    """`/pin quota`: the channel's quota and the asking person's own use."""
    if channel_use.limit is None:
        here = (f"<#{channel}> has no quota ({decimal_size(channel_use.used)} pinned here in "
                f"the last {_window()}). Admins can set one with `/pin quota 2GB`.")
    else:
        here = (f"<#{channel}>'s quota is *{decimal_size(channel_use.limit)}* per "
                f"{_window()}; *{decimal_size(channel_use.used)}* used.")
    return notice(f"{here}\n{quota_use_line(user_use)}", emoji=":bar_chart:")


def quota_changed(channel: str, limit: int | None) -> Message:
    """An admin's `/pin quota <size>|off`, done."""
    if limit is None:
        return notice(f"<#{channel}> no longer has a quota.", emoji=":white_check_mark:")
    return notice(f"<#{channel}>'s quota is now *{decimal_size(limit)}* per {_window()}: files "
                  "that would go over it are refused before they are downloaded.",
                  emoji=":white_check_mark:")
