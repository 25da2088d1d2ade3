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

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from . import blocks
from .permissions import Admins
from .pins.accounts import Accounts
from .store import Ledger, LedgerUnavailable, PinRecord
from .store.ledger import utcnow
from .w3ipfs import NotFoundError, W3IPFSClient, W3IPFSError, normalise_status

log = logging.getLogger(__name__)

PREVIEW_ROWS = 10


@dataclass(frozen=True, slots=True)
class CleanupFilter:
    older_than_days: float | None = None
    larger_than_mb: float | None = None
    channel_id: str | None = None
    user_id: str | None = None
    name_contains: str | None = None
    status: str = "any"  # any | done | failed | pinning

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> CleanupFilter:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

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
            parts.append(f"name contains “{blocks.escape(self.name_contains)}”")
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


def _value(values: dict[str, Any], block: str) -> Any:
    entry = (values.get(block) or {}).get("v") or {}
    for key in ("value", "selected_conversation", "selected_user"):
        if entry.get(key):
            return entry[key]
    option = entry.get("selected_option")
    return option.get("value") if option else None


def parse_filters(values: dict[str, Any]) -> CleanupFilter | dict[str, str]:
    """The modal's state -> a filter, or {block_id: message} for Slack to show inline."""
    errors: dict[str, str] = {}

    def number(block: str, label: str) -> float | None:
        raw = _value(values, block)
        if raw in (None, ""):
            return None
        try:
            value = float(str(raw).strip())
        except ValueError:
            errors[block] = f"{label} must be a number"
            return None
        if value < 0:
            errors[block] = f"{label} cannot be negative"
        return value

    older = number("older", "Days")
    larger = number("larger", "Size")
    name = _value(values, "name")
    status = _value(values, "status") or "any"
    if status not in ("any", "done", "failed", "pinning"):
        errors["status"] = "Pick a status from the list"
    if errors:
        return errors
    return CleanupFilter(
        older_than_days=older, larger_than_mb=larger,
        channel_id=_value(values, "channel"), user_id=_value(values, "user"),
        name_contains=str(name).strip() or None if name else None, status=status,
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


class RateLimiter:
    """At most `per_minute` calls per minute, evenly spaced (the API counts per key)."""

    def __init__(self, per_minute: float) -> None:
        self.interval = 60.0 / per_minute
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


@dataclass
class CleanupReport:
    total: int
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] | None = None

    @property
    def processed(self) -> int:
        return self.done + self.skipped + len(self.failed or [])


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
            await _dm(client, admin_id, blocks.failure("Cleanup did not start",
                                                       exc.user_message))
            return CleanupReport(0, failed=[])
        return await run_cleanup(
            ledger=self.ledger, w3ipfs=w3ipfs, client=client, team_id=team_id,
            admin_id=admin_id, flt=flt, rate_per_minute=self.rate_per_minute,
            progress_interval=self.progress_interval,
        )


async def run_cleanup(
    *, ledger: Ledger, w3ipfs: W3IPFSClient, client: AsyncWebClient, team_id: str,
    admin_id: str, flt: CleanupFilter, rate_per_minute: float, progress_interval: float,
) -> CleanupReport:
    """Unpin what the filter selects now, paced, reporting progress in a DM to the admin."""
    try:
        records = await candidates(ledger, team_id, flt)
    except LedgerUnavailable as exc:
        await _dm(client, admin_id, blocks.failure("Cleanup did not start", exc.user_message))
        return CleanupReport(0, failed=[])
    report = CleanupReport(total=len(records), failed=[])
    assert report.failed is not None
    where = await _dm(client, admin_id, blocks.cleanup_progress(flt.describe(), report.total,
                                                                0, 0, 0))
    limiter = RateLimiter(rate_per_minute)
    last = time.monotonic()
    log.info("cleanup by %s: %d pins (%s)", admin_id, report.total, flt.describe())
    for record in records:
        assert record.pin_id is not None
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
            await ledger.mark_unpinned(team_id, record.pin_id, admin_id)
        except LedgerUnavailable as exc:
            log.warning("cleanup: ledger not updated for %s: %s", record.pin_id, exc)
        if where and time.monotonic() - last >= progress_interval:
            last = time.monotonic()
            await _update(client, where, blocks.cleanup_progress(
                flt.describe(), report.total, report.done, report.skipped, len(report.failed)))
    summary = blocks.cleanup_summary(flt.describe(), report.total, report.done,
                                     report.skipped, report.failed)
    if where:
        await _update(client, where, summary)
    log.info("cleanup by %s finished: %d done, %d skipped, %d failed", admin_id, report.done,
             report.skipped, len(report.failed))
    return report


async def _dm(
    client: AsyncWebClient, user: str, message: blocks.Message
) -> tuple[str, str] | None:
    """Post in the app's DM with the user; (channel, ts) to update it later."""
    try:
        response = await client.chat_postMessage(channel=user, **message.as_kwargs())
    except SlackApiError as exc:
        log.warning("cleanup message to %s failed: %s", user, exc.response.get("error"))
        return None
    return str(response.get("channel") or user), str(response.get("ts"))


async def _update(client: AsyncWebClient, where: tuple[str, str], message: blocks.Message
                  ) -> None:
    channel, ts = where
    try:
        await client.chat_update(channel=channel, ts=ts, **message.as_kwargs())
    except SlackApiError as exc:
        log.info("cleanup progress update failed: %s", exc.response.get("error"))
