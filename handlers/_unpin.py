"""The confirm step shared by `/unpin` and the list row's "Unpin…" menu item."""

from __future__ import annotations

import logging

from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.pins.accounts import KEYS_NO_LONGER_USED
from bot.services import Services
from bot.store import LedgerUnavailable
from bot.w3ipfs import W3IPFSError

log = logging.getLogger(__name__)


async def confirm_step(
    services: Services, client: AsyncWebClient, team_id: str, user_id: str, pin_ids: list[str]
) -> blocks.Message:
    """Known pins this user may unpin get the Unpin button; the others are explained."""
    try:
        elsewhere = await services.unpinning.elsewhere(team_id, pin_ids)
        if elsewhere and len(elsewhere) == len(pin_ids):
            log.info("unpin by %s: %d pin(s) made with keys no longer used; nothing sent",
                     user_id, len(elsewhere))
            return blocks.notice(KEYS_NO_LONGER_USED, emoji=":key:")
        rest = [i for i in pin_ids if i not in elsewhere]
        pins, unknown = await services.unpinning.lookup(team_id, rest)
        verdicts = await services.unpinning.can_unpin(client, team_id, user_id, pins)
    except (W3IPFSError, LedgerUnavailable) as exc:
        log.warning("unpin lookup failed: %s", exc)
        return blocks.failure("Could not look up those pins", exc.user_message)
    allowed = [p for p in pins if verdicts[p.id] is None]
    refused = [v for v in verdicts.values() if v is not None]
    refused += [f"`{blocks.inline_name(i, 80)}`: {KEYS_NO_LONGER_USED}"
                for i in elsewhere]
    return blocks.unpin_confirm(allowed, unknown, refused)
