"""The confirm step shared by `/unpin` and the list row's "Unpin…" menu item."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.services import Services
from bot.store import LedgerUnavailable
from bot.w3ipfs import W3IPFSError

log = logging.getLogger(__name__)


async def confirm_step(
    services: Services, client: AsyncWebClient, team_id: str, user_id: str, pin_ids: list[str]
) -> blocks.Message:
    """Known pins this user may unpin get the Unpin button; the others are explained."""
    try:
        pins, unknown = await services.unpinning.lookup(team_id, pin_ids)
        verdicts = await services.unpinning.can_unpin(client, team_id, user_id, pins)
    except (W3IPFSError, LedgerUnavailable) as exc:
        log.warning("unpin lookup failed: %s", exc)
        return blocks.failure("Could not look up those pins", exc.user_message)
    allowed = [p for p in pins if verdicts[p.id] is None]
    refused = [v for v in verdicts.values() if v is not None]
    return blocks.unpin_confirm(allowed, unknown, refused)
