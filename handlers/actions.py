"""Buttons and menus on pinbot's messages: paging, details, share, unpin (with confirm)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot import blocks
from bot.commands import PinsQuery, looks_like_pin_id
from bot.services import Services
from bot.w3ipfs import NotFoundError, W3IPFSError

log = logging.getLogger(__name__)


def _value(action: dict[str, Any]) -> str:
    if "selected_option" in action:
        return str((action.get("selected_option") or {}).get("value", ""))
    return str(action.get("value", ""))


def register(app: AsyncApp, services: Services) -> None:
    gateway = services.pins.gateway_url

    async def show_page(query: PinsQuery, respond: AsyncRespond, **kwargs: Any) -> None:
        try:
            page = await services.pins.list_pins(query)
        except W3IPFSError as exc:
            await respond(replace_original=False, response_type="ephemeral",
                          **blocks.failure("Could not list pins", exc.user_message).as_kwargs())
            return
        shared = kwargs.get("response_type") == "in_channel"
        await respond(**kwargs, **blocks.pins_list(page, query, gateway_url=gateway,
                                                   shared=shared).as_kwargs())

    @app.action(re.compile(f"^{blocks.PAGE_BUTTON}"))
    async def on_page(ack: AsyncAck, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await show_page(PinsQuery.from_value(_value(action)), respond, replace_original=True)

    @app.action(blocks.SHARE_LIST)
    async def on_share_list(ack: AsyncAck, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await show_page(PinsQuery.from_value(_value(action)), respond,
                        response_type="in_channel", replace_original=False)

    async def show_details(pin_id: str, respond: AsyncRespond, **kwargs: Any) -> None:
        try:
            pin = await services.pins.get_pin(pin_id)
        except NotFoundError:
            message = blocks.notice(f"Pin `{blocks.escape(pin_id)}` no longer exists.",
                                    emoji=":grey_question:")
        except W3IPFSError as exc:
            message = blocks.failure("Could not load the pin", exc.user_message)
        else:
            message = blocks.pin_details(pin, gateway_url=gateway)
        await respond(**kwargs, **message.as_kwargs())

    @app.action(blocks.SHARE_PIN)
    async def on_share_pin(ack: AsyncAck, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await show_details(_value(action), respond, response_type="in_channel",
                           replace_original=False)

    async def confirm_unpin(pin_ids: list[str], respond: AsyncRespond) -> None:
        try:
            pins, unknown = await services.pins.lookup(pin_ids)
        except W3IPFSError as exc:
            await respond(replace_original=False, response_type="ephemeral",
                          **blocks.failure("Could not look up the pin", exc.user_message)
                          .as_kwargs())
            return
        await respond(replace_original=False, response_type="ephemeral",
                      **blocks.unpin_confirm(pins, unknown).as_kwargs())

    @app.action(blocks.ROW_MENU)
    async def on_row_menu(ack: AsyncAck, action: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        verb, _, pin_id = _value(action).partition(":")
        if not looks_like_pin_id(pin_id):
            log.warning("row menu with a malformed value %r", _value(action)[:80])
            return
        if verb == "details":
            await show_details(pin_id, respond, replace_original=False,
                               response_type="ephemeral")
        elif verb == "unpin":
            await confirm_unpin([pin_id], respond)
        # "open" carries a URL: Slack opens it in the browser; the ack is all it needs.

    @app.action(blocks.UNPIN_CONFIRM)
    async def on_unpin_confirm(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        try:
            ids = [str(i) for i in json.loads(_value(action)) if looks_like_pin_id(str(i))]
        except (ValueError, TypeError):
            ids = []
        if not ids:
            log.warning("unpin confirm with a malformed value")
            return
        outcomes = await services.pins.unpin(ids)
        user = (body.get("user") or {}).get("id")
        await respond(replace_original=True, **blocks.unpin_result(outcomes, user).as_kwargs())

    @app.action(blocks.UNPIN_CANCEL)
    async def on_unpin_cancel(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(replace_original=True,
                      **blocks.notice("Cancelled: nothing was unpinned.").as_kwargs())

    @app.action(blocks.UNPIN_BUTTON)
    async def on_unpin_button(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        # The button's own confirm dialog was the confirm step.
        await ack()
        pin_id = _value(action)
        user = str((body.get("user") or {}).get("id") or "")
        (outcome,) = await services.pins.unpin([pin_id])
        if outcome.pin is not None:
            message = blocks.unpinned_card(outcome.pin, gateway_url=gateway, by_user=user)
            await respond(replace_original=True, **message.as_kwargs())
        else:
            await respond(replace_original=False, response_type="ephemeral",
                          **blocks.failure("Could not unpin", outcome.error or "").as_kwargs())

    @app.action(blocks.OPEN_GATEWAY)
    async def on_open_gateway(ack: AsyncAck) -> None:
        await ack()  # a link button: the browser does the work
