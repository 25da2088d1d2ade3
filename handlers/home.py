"""App Home: the dashboard (`app_home_opened` -> views.publish) and its buttons and modals."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.ids import InvalidId, parse_pin_id, parse_row_value
from bot.pins.accounts import KEYS_NO_LONGER_USED
from bot.services import Services
from bot.slack import replies
from bot.store import LedgerUnavailable
from bot.w3ipfs import NotFoundError, W3IPFSError

from ._parse import actor

log = logging.getLogger(__name__)



def register(app: AsyncApp, services: Services) -> None:
    async def publish(client: AsyncWebClient, team: str, user: str) -> None:
        await services.health.run()
        data = await services.listing.home_data(client, team, user,
                                               services.health.keys_state)
        view = blocks.home_view(data, gateway_url=await services.accounts.gateway_url(team),
                                your_use=await services.quotas.home_use(team, user),
                                overview=await services.overview.for_admin(client, team, user))
        await replies.publish_home(client, user, view)

    @app.event("app_home_opened")
    async def on_home_opened(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            services.tasks.submit("home", publish, client, str(context.team_id or ""),
                                  str(event["user"]))

    @app.action(blocks.HOME_REFRESH)
    async def on_refresh(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        services.tasks.submit("home refresh", publish, client, *actor(body))

    @app.action(blocks.HOME_ROW_MENU)
    async def on_row(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        services.tasks.submit("home row", row_work, action, body, client)

    async def row_work(action: dict[str, Any], body: dict[str, Any],
                       client: AsyncWebClient) -> None:
        team, user = actor(body)
        trigger = str(body.get("trigger_id") or "")
        option = action.get("selected_option")
        value = option.get("value") if isinstance(option, dict) else None
        try:
            verb, pin_id = parse_row_value(value, ("details", "unpin"))
        except InvalidId:
            log.warning("home row menu from %s with a malformed value %r", user[:32],
                        str(value)[:80])
            await replies.open_view(client, trigger, blocks.notice_modal(
                "Pin", NotFoundError.user_message))
            return
        if verb == "unpin" and await elsewhere(team, pin_id):
            log.info("home unpin of %s by %s: made with keys no longer used; nothing sent",
                     pin_id, user)
            await replies.open_view(client, trigger,
                                    blocks.notice_modal("Unpin", KEYS_NO_LONGER_USED))
            return
        try:
            pin, owner = await services.listing.details(pin_id, team)
        except W3IPFSError as exc:
            await replies.open_view(client, trigger, blocks.notice_modal("Pin", exc.user_message))
            return
        if verb == "details":
            await replies.open_view(client, trigger, blocks.details_modal(
                pin, gateway_url=await services.accounts.gateway_url(team), owner=owner))
            return
        verdict = (await services.unpinning.can_unpin(client, team, user, [pin]))[pin.id]
        if verdict is not None:
            await replies.open_view(client, trigger, blocks.notice_modal("Unpin", verdict))
            return
        await replies.open_view(client, trigger, blocks.unpin_modal(pin))

    async def elsewhere(team: str, pin_id: str) -> bool:
        """Whether the pin was made with keys the workspace no longer uses (said at once,
        rather than after a modal whose Unpin could do nothing). Unknown: not said."""
        try:
            return bool(await services.unpinning.elsewhere(team, [pin_id]))
        except (W3IPFSError, LedgerUnavailable):
            return False

    @app.view(blocks.UNPIN_MODAL)
    async def on_unpin_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        team, user = actor(body)
        try:
            pin_id = parse_pin_id(view.get("private_metadata"))
        except InvalidId:
            log.warning("unpin modal from %s with malformed private_metadata %r", user[:32],
                        str(view.get("private_metadata"))[:80])
            await ack(response_action="update",
                      view=blocks.notice_modal("Unpin", NotFoundError.user_message))
            return
        await ack()  # closes the modal
        services.tasks.submit("home unpin", unpin_work, client, team, user, pin_id)

    async def unpin_work(client: AsyncWebClient, team: str, user: str, pin_id: str) -> None:
        await services.unpinning.unpin(client, team, user, [pin_id])
        await publish(client, team, user)  # the Home tab shows the new state
