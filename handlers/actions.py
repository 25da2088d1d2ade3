"""Buttons and menus on pinbot's messages: paging, details, share, unpin (with confirm)."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.commands import PinsQuery
from bot.ids import PIN_IDS, InvalidId, parse_json, parse_pin_id, parse_row_value
from bot.services import Services
from bot.store import LedgerUnavailable
from bot.w3ipfs import NotFoundError, W3IPFSError

from ._parse import actor
from ._unpin import confirm_step

log = logging.getLogger(__name__)

ActionWork = Callable[
    [dict[str, Any], dict[str, Any], AsyncRespond, AsyncWebClient], Awaitable[None]
]


def _value(action: dict[str, Any]) -> str:
    """A button's value or an overflow option's value: input, parsed by `bot.ids` before use."""
    option = action.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else action.get("value")
    return value if isinstance(value, str) else ""


def _refused(what: str, action: dict[str, Any], body: dict[str, Any]) -> None:
    """The one log line for a payload whose id did not parse (the value cut and repr'd)."""
    log.warning("%s from %s with a malformed value %r", what, actor(body)[1][:32],
                _value(action)[:80])




def register(app: AsyncApp, services: Services) -> None:
    gateway = services.accounts.gateway_url
    ephemeral: dict[str, Any] = {"replace_original": False, "response_type": "ephemeral"}

    async def show_page(
        query: PinsQuery, body: dict[str, Any], respond: AsyncRespond, **kwargs: Any
    ) -> None:
        try:
            listing = await services.listing.list_pins(query, actor(body)[0])
        except (W3IPFSError, LedgerUnavailable) as exc:
            await respond(**ephemeral,
                          **blocks.failure("Could not list pins", exc.user_message).as_kwargs())
            return
        shared = kwargs.get("response_type") == "in_channel"
        message = blocks.pins_list(listing.page, query,
                                   gateway_url=await gateway(actor(body)[0]), shared=shared,
                                   owners=listing.owners)
        await respond(**kwargs, **message.as_kwargs())

    async def on_page(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await show_page(PinsQuery.from_value(_value(action)), body, respond,
                        replace_original=True)

    async def on_share_list(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await show_page(PinsQuery.from_value(_value(action)), body, respond,
                        response_type="in_channel", replace_original=False)

    async def show_details(
        pin_id: str, body: dict[str, Any], respond: AsyncRespond, **kwargs: Any
    ) -> None:
        try:
            pin, owner = await services.listing.details(pin_id, actor(body)[0])
        except NotFoundError:
            # Said only to the person who asked, even when they pressed Share.
            await respond(**ephemeral, **blocks.unknown_pin(pin_id).as_kwargs())
            return
        except W3IPFSError as exc:
            message = blocks.failure("Could not load the pin", exc.user_message)
        else:
            message = blocks.pin_details(pin, gateway_url=await gateway(actor(body)[0]),
                                         owner=owner)
        await respond(**kwargs, **message.as_kwargs())

    async def on_share_pin(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        try:
            pin_id = parse_pin_id(_value(action))
        except InvalidId:
            _refused("share button", action, body)
            await respond(**ephemeral, **blocks.unknown_pin(_value(action)).as_kwargs())
            return
        await show_details(pin_id, body, respond, response_type="in_channel",
                           replace_original=False)

    async def on_row_menu(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        try:
            verb, pin_id = parse_row_value(_value(action), ("details", "unpin", "open"))
        except InvalidId:
            _refused("row menu", action, body)
            await respond(**ephemeral, **blocks.unknown_pin(
                _value(action).partition(":")[2]).as_kwargs())
            return
        if verb == "details":
            await show_details(pin_id, body, respond, **ephemeral)
        elif verb == "unpin":
            message = await confirm_step(services, client, actor(body)[0], actor(body)[1], [pin_id])
            await respond(**ephemeral, **message.as_kwargs())
        # "open" carries a URL: Slack opens it in the browser; the ack is all it needs.

    async def on_unpin_confirm(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        try:
            parsed: list[str] = parse_json(_value(action), PIN_IDS)
        except InvalidId:
            _refused("unpin confirm", action, body)
            await respond(**ephemeral, **blocks.notice(
                "Those pins are not on this account, so nothing was unpinned. `/pins` lists "
                "them all.", emoji=":grey_question:").as_kwargs())
            return
        ids = list(dict.fromkeys(parsed))
        outcomes = await services.unpinning.unpin(client, actor(body)[0], actor(body)[1], ids)
        await respond(replace_original=True,
                      **blocks.unpin_result(outcomes, actor(body)[1]).as_kwargs())

    async def on_unpin_cancel(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await respond(replace_original=True,
                      **blocks.notice("Cancelled: nothing was unpinned.").as_kwargs())

    async def on_unpin_button(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        # The button's own confirm dialog was the confirm step.
        user = actor(body)[1]
        try:
            pin_id = parse_pin_id(_value(action))
        except InvalidId:
            _refused("unpin button", action, body)
            await respond(**ephemeral, **blocks.unknown_pin(_value(action)).as_kwargs())
            return
        (outcome,) = await services.unpinning.unpin(client, actor(body)[0], user, [pin_id])
        if outcome.pin is not None:
            message = blocks.unpinned_card(
                outcome.pin, gateway_url=await gateway(actor(body)[0]), by_user=user)
            await respond(replace_original=True, **message.as_kwargs())
        else:
            # A refusal concerns only the person who clicked: ephemeral, card untouched.
            await respond(**ephemeral, **blocks.notice(
                outcome.error or "That pin could not be unpinned.", emoji=":no_entry:"
            ).as_kwargs())

    async def on_open_gateway(
        action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        """A link button: the browser does the work; the ack was all Slack needed."""

    for action_id, work in (
        (re.compile(f"^{blocks.PAGE_BUTTON}"), on_page),
        (blocks.SHARE_LIST, on_share_list),
        (blocks.SHARE_PIN, on_share_pin),
        (blocks.ROW_MENU, on_row_menu),
        (blocks.UNPIN_CONFIRM, on_unpin_confirm),
        (blocks.UNPIN_CANCEL, on_unpin_cancel),
        (blocks.UNPIN_BUTTON, on_unpin_button),
        (blocks.OPEN_GATEWAY, on_open_gateway),
    ):
        app.action(action_id)(acked(services, work))


def acked(services: Services, work: ActionWork) -> Callable[..., Awaitable[None]]:
    """The listener Bolt runs: ack at once (the HTTP response leaves when it returns), then
    do the work as a tracked task."""

    async def listener(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        services.tasks.submit(work.__name__, work, action, body, respond, client)

    listener.__name__ = f"ack_{work.__name__}"
    return listener
