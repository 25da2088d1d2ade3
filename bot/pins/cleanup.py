"""Team cleanup: filters -> preview -> confirm -> throttled background unpin with progress.

Nothing is unpinned without the confirm step (the first submit is always a dry run that shows
what would go), the candidates are re-read at confirm time with the same filters, and the
unpin calls are paced to the pinning API's published limit (`PINBOT_API_RATE`, 180/min).

Scope: the candidates are the asking workspace's ledger rows, and the ledger is the index of
what is a workspace's own (every row was pinned by that team). On a pinning account shared by
several OAuth workspaces nothing of another workspace's — nor a pin made outside Slack — can
be previewed or unpinned, whatever filters a forged submission carries: the team comes from
the signed request, and the filters only narrow that team's rows.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, TypeAdapter
from pydantic.dataclasses import dataclass as schema
from slack_sdk.web.async_client import AsyncWebClient

from .. import blocks
from ..ids import SlackId, is_slack_id, parse_json
from ..pacing import RateLimiter as RateLimiter
from ..permissions import Admins
from ..slack import replies
from ..store import Ledger, LedgerUnavailable, PinRecord
from ..store.ledger import utcnow
from ..w3ipfs import NotFoundError, W3IPFSClient, W3IPFSError, normalise_status
from .accounts import Accounts

log = logging.getLogger(__name__)

PREVIEW_ROWS = 10
#: Sane ranges for the dialog's numbers: a century, and 10 TB. Beyond them a number is a typo
#: (or `inf`, `nan`, `1e9`), answered in the dialog rather than overflowing a date.
MAX_DAYS = 36_500
MAX_MB = 10_000_000
Status = Literal["any", "done", "failed", "pinning"]
STATUSES: tuple[Status, ...] = ("any", "done", "failed", "pinning")


@schema(frozen=True, slots=True, config=ConfigDict(extra="forbid", allow_inf_nan=False))
class CleanupFilter:
    """The filters of one cleanup, validated whenever one is built: from the dialog's values
    (`parse_filters`, with friendly messages first) and from the preview's `private_metadata`
    (`from_json`), so a forged submission cannot carry what the dialog would refuse."""

    older_than_days: Annotated[float, Field(ge=0, le=MAX_DAYS)] | None = None
    larger_than_mb: Annotated[float, Field(ge=0, le=MAX_MB)] | None = None
    channel_id: SlackId | None = None
    user_id: SlackId | None = None
    name_contains: Annotated[
        str, Field(min_length=1, max_length=blocks.CLEANUP_NAME_CHARS)] | None = None
    status: Status = "any"

    def to_json(self) -> str:
        """For `private_metadata`: every field is bounded, so this stays far below Slack's
        3,000 characters (about 1,500 at worst, a 100-character name of emoji)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: object) -> CleanupFilter:
        """Raises `bot.ids.InvalidId` for anything `to_json` could not have written."""
        return parse_json(text, _FILTER_JSON)

    def describe(self) -> str:
        parts = []
        if self.older_than_days is not None:
            parts.append(f"older than {self.older_than_days:g} days")
        if self.larger_than_mb is not None:
            parts.append(f"larger than {self.larger_than_mb:g} MB")
        if self.channel_id:
            parts.append(f"from <#{self.channel_id}>")
        if self.user_id:
            parts.append(f"pinned by <@{self.user_id}>")
        if self.name_contains:
            parts.append(f"name contains “{blocks.inline_name(self.name_contains)}”")
        if self.status != "any":
            parts.append(f"status {self.status}")
        return ", ".join(parts) or "every pinned file"

    def matches(self, record: PinRecord) -> bool:
        if record.state != "pinned" or not record.pin_id:
            return False
        if self.older_than_days is not None and (
            utcnow() - record.created_at < timedelta(days=self.older_than_days)
        ):
            return False
        if self.larger_than_mb is not None and (record.size or 0) <= self.larger_than_mb * 1e6:
            return False
        if self.channel_id and record.channel_id != self.channel_id:
            return False
        if self.user_id and record.user_id != self.user_id:
            return False
        if self.name_contains and self.name_contains.lower() not in record.name.lower():
            return False
        if self.status != "any":
            wanted = {"done": "pinned", "failed": "failed", "pinning": "pinning"}[self.status]
            if normalise_status(record.status).value != wanted:
                return False
        return True


_FILTER_JSON: TypeAdapter[CleanupFilter] = TypeAdapter(CleanupFilter)


def _value(values: object, block: str) -> object:
    """One input's value from a view's state, or None (any shape a forged payload has)."""
    state = values.get(block) if isinstance(values, dict) else None
    entry = state.get("v") if isinstance(state, dict) else None
    if not isinstance(entry, dict):
        return None
    for key in ("value", "selected_conversation", "selected_user"):
        if entry.get(key):
            return entry[key]
    option = entry.get("selected_option")
    return option.get("value") if isinstance(option, dict) else None


def parse_filters(values: object) -> CleanupFilter | dict[str, str]:
    """The modal's state -> a filter, or {block_id: message} for Slack to show inline.

    Every input is bounded here as well as in the dialog (`max_length`), since a submission can
    be forged: finite numbers in sane ranges, a short name, ids that are ids.
    """
    errors: dict[str, str] = {}

    def number(block: str, label: str, maximum: int) -> float | None:
        raw = _value(values, block)
        text = raw.strip() if isinstance(raw, str) else raw
        if text in (None, ""):
            return None
        problem = f"{label} must be a number from 0 to {maximum:,}"
        if not isinstance(text, str) or len(text) > blocks.CLEANUP_NUMBER_CHARS:
            errors[block] = problem
            return None
        try:
            value = float(text)
        except ValueError:
            errors[block] = problem
            return None
        if not math.isfinite(value) or not 0 <= value <= maximum:
            errors[block] = problem
            return None
        return abs(value)  # "-0" reads as 0

    older = number("older", "Days", MAX_DAYS)
    larger = number("larger", "Size in MB", MAX_MB)
    raw_name = _value(values, "name")
    name = raw_name.strip() if isinstance(raw_name, str) else None
    if raw_name is not None and name is None:
        errors["name"] = "Type part of a name"
    elif name and len(name) > blocks.CLEANUP_NAME_CHARS:
        errors["name"] = f"Keep it under {blocks.CLEANUP_NAME_CHARS} characters"
    channel, user = _value(values, "channel"), _value(values, "user")
    if channel is not None and not is_slack_id(channel):
        errors["channel"] = "Pick a channel from the list"
    if user is not None and not is_slack_id(user):
        errors["user"] = "Pick a person from the list"
    status = _value(values, "status") or "any"
    if status not in STATUSES:
        errors["status"] = "Pick a status from the list"
    if errors:
        return errors
    return CleanupFilter(
        older_than_days=older, larger_than_mb=larger,
        channel_id=channel,  # type: ignore[arg-type]  # checked just above
        user_id=user,  # type: ignore[arg-type]
        name_contains=name or None, status=status,  # type: ignore[arg-type]
    )


async def candidates(ledger: Ledger, team_id: str, flt: CleanupFilter) -> list[PinRecord]:
    """Every ledger pin of the team the filter selects (oldest first)."""
    out: list[PinRecord] = []
    offset = 0
    while True:
        rows, total, _ = await ledger.page(
            team_id, status="pinned", sort="created_at", descending=False,
            channel_id=flt.channel_id, user_id=flt.user_id, offset=offset, limit=500,
        )
        out += [r for r in rows if flt.matches(r)]
        offset += len(rows)
        if not rows or offset >= total:
            return out


@dataclass
class CleanupReport:
    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] | None = None
    #: Left pinned: made with pinning keys the workspace no longer uses (no account here
    #: knows them, so unpinning "there" would only record as gone a pin still paid for).
    elsewhere: int = 0

    @property
    def processed(self) -> int:
        return self.done + self.skipped + self.elsewhere + len(self.failed or [])


class TeamCleanup:
    """The use case: who may, what a filter selects, and the paced run."""

    def __init__(
        self, accounts: Accounts, ledger: Ledger, admins: Admins, *, rate_per_minute: float,
        progress_interval: float,
    ) -> None:
        self.accounts = accounts
        self.ledger = ledger
        self.admins = admins
        self.rate_per_minute = rate_per_minute
        self.progress_interval = progress_interval

    async def is_admin(self, client: AsyncWebClient, team_id: str, user_id: str) -> bool:
        return await self.admins.is_admin(client, team_id, user_id)

    async def preview(self, team_id: str, flt: CleanupFilter) -> list[PinRecord]:
        """What the filter selects among the workspace's own pins. Raises `LedgerUnavailable`."""
        return await candidates(self.ledger, team_id, flt)

    async def run(self, client: AsyncWebClient, team_id: str, admin_id: str,
                  flt: CleanupFilter) -> CleanupReport:
        """Unpin what the filter selects now, from the workspace's own pinning account."""
        try:
            w3ipfs = await self.accounts.client_for(team_id)
        except W3IPFSError as exc:
            await replies.dm(client, admin_id, blocks.failure("Cleanup did not start",
                                                       exc.user_message))
            return CleanupReport(0, failed=[])
        return await run_cleanup(
            ledger=self.ledger, account_of=partial(self.accounts.locate, w3ipfs),
            client=client, team_id=team_id, admin_id=admin_id, flt=flt,
            rate_per_minute=self.rate_per_minute, progress_interval=self.progress_interval,
        )


async def run_cleanup(
    *, ledger: Ledger, account_of: Callable[[PinRecord], Awaitable[W3IPFSClient | None]],
    client: AsyncWebClient, team_id: str, admin_id: str, flt: CleanupFilter,
    rate_per_minute: float, progress_interval: float,
) -> CleanupReport:
    """Unpin what the filter selects now, paced, reporting progress in a DM to the admin.

    `account_of` gives each pin's account (the one it was made with); a pin made with keys
    the workspace no longer uses is left as it is and counted apart."""
    try:
        records = await candidates(ledger, team_id, flt)
    except LedgerUnavailable as exc:
        await replies.dm(client, admin_id,
                         blocks.failure("Cleanup did not start", exc.user_message))
        return CleanupReport(0, failed=[])
    report = CleanupReport(total=len(records), failed=[])
    assert report.failed is not None
    where = await replies.dm(client, admin_id, blocks.cleanup_progress(
        flt.describe(), report.total,
                                                                0, 0, 0))
    limiter = RateLimiter(rate_per_minute)
    last = time.monotonic()
    log.info("cleanup by %s: %d pins (%s)", admin_id, report.total, flt.describe())
    for record in records:
        assert record.pin_id is not None
        w3ipfs = await account_of(record)
        if w3ipfs is None:
            report.elsewhere += 1
            continue
        await limiter.wait()
        try:
            await w3ipfs.unpin(record.pin_id)
        except NotFoundError:
            report.skipped += 1  # already gone
        except W3IPFSError as exc:
            report.failed.append((record.name, exc.user_message))
            continue
        else:
            report.done += 1
        try:
            await ledger.mark_unpinned(team_id, record.pin_id, admin_id, "cleanup")
        except LedgerUnavailable as exc:
            log.warning("cleanup: ledger not updated for %s: %s", record.pin_id, exc)
        if where and time.monotonic() - last >= progress_interval:
            last = time.monotonic()
            await replies.update(client, *where, blocks.cleanup_progress(
                flt.describe(), report.total, report.done, report.skipped + report.elsewhere,
                len(report.failed)))
    summary = blocks.cleanup_summary(flt.describe(), report.total, report.done,
                                     report.skipped, report.failed, elsewhere=report.elsewhere)
    if where:
        await replies.update(client, *where, summary)
    log.info("cleanup by %s finished: %d done, %d skipped, %d failed, %d left (keys no longer "
             "used)", admin_id, report.done, report.skipped, len(report.failed),
             report.elsewhere)
    return report


