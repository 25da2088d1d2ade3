"""The pin ledger: every pin the bot makes or sees, who made it, where — and exactly-once.

Exactly-once rests on the database, not on process memory: a pin is *claimed* by inserting its
row (unique on team + key) before any upload starts, so two deliveries of one file — retried by
Slack, re-delivered, shared into a second channel, or racing on two replicas — cannot both
upload. The same runs on SQLite (default, embedded) and PostgreSQL (several replicas).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import String, case, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from ..w3ipfs import Pin, PinMetadata, PinState
from .models import ChannelPolicyRow, ChannelSettingRow, EventRow, PinRow, WorkspaceKeyRow

log = logging.getLogger(__name__)

#: What a database outage looks like from here: driver errors wrapped by SQLAlchemy, and
#: socket errors some drivers (asyncpg, while connecting) raise unwrapped.
DB_ERRORS = (SQLAlchemyError, OSError, TimeoutError)

EVENT_TTL = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)
#: A pending claim older than this belongs to a worker that died: another may take it over.
STALE_CLAIM = timedelta(hours=2)
#: How long a reconciled row is trusted before the API is asked again (the ledger views ask
#: the API for at most one page of rows, so this bounds both staleness and API calls).
RECHECK_AFTER = timedelta(minutes=1)


class LedgerUnavailable(Exception):
    """The database cannot be reached or refused the operation."""

    user_message = (
        "pinbot cannot reach its database right now. Nothing is lost: it will finish as soon "
        "as the database is back."
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes even for timezone=True columns; everything here is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class PinRecord:
    id: int
    team_id: str
    key: str
    state: str
    pin_id: str | None
    cid: str | None
    name: str
    size: int | None
    channel_id: str | None
    user_id: str | None
    slack_file_id: str | None
    message_ts: str | None
    status: str | None
    verified: bool | None
    created_at: datetime
    unpinned_at: datetime | None
    unpinned_by: str | None
    checked_at: datetime | None
    updated_at: datetime
    claim_owner: str | None = None
    reply_ts: str | None = None
    #: How it was pinned (share, reaction, shortcut, folder, cid, catchup); None before 0008.
    source: str | None = None
    #: The thread its card is in (a file shared as a thread reply: the thread's parent).
    thread_ts: str | None = None
    expires_at: datetime | None = None
    retention_seconds: int | None = None
    kept: bool = False
    kept_by: str | None = None
    noticed_at: datetime | None = None
    unpin_reason: str | None = None
    #: The fingerprint of the API key it was made with (`W3IPFSClient.account`); None for
    #: pins made before 0009, which are asked of the workspace's current account.
    account: str | None = None

    @classmethod
    def of(cls, row: PinRow) -> PinRecord:
        return cls(
            id=row.id, team_id=row.team_id, key=row.key, state=row.state, pin_id=row.pin_id,
            cid=row.cid, name=row.name, size=row.size, channel_id=row.channel_id,
            user_id=row.user_id, slack_file_id=row.slack_file_id, message_ts=row.message_ts,
            status=row.status, verified=row.verified,
            created_at=aware(row.created_at) or utcnow(),
            unpinned_at=aware(row.unpinned_at), unpinned_by=row.unpinned_by,
            checked_at=aware(row.checked_at), updated_at=aware(row.updated_at) or utcnow(),
            claim_owner=row.claim_owner, reply_ts=row.reply_ts, source=row.source,
            thread_ts=row.thread_ts,
            expires_at=aware(row.expires_at), retention_seconds=row.retention_seconds,
            kept=bool(row.kept), kept_by=row.kept_by, noticed_at=aware(row.noticed_at),
            unpin_reason=row.unpin_reason, account=row.account,
        )

    @property
    def is_stale_claim(self) -> bool:
        return self.state == "pending" and utcnow() - self.updated_at > STALE_CLAIM

    def as_pin(self) -> Pin:
        """The record in the API's shape, for rendering rows the API was not asked about."""
        return Pin(
            id=self.pin_id or f"pending-{self.id}",
            cid=self.cid or "",
            size=self.size,
            date_pinned=self.created_at,
            date_unpinned=self.unpinned_at,
            pinned=self.state == "pinned",
            status=self.status or self.state,
            metadata=PinMetadata(name=self.name),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of claiming a key: `won` means this caller must do the pinning."""

    won: bool
    record: PinRecord


LedgerStatus = Literal["all", "pinned", "unpinned"]
LedgerSort = Literal["created_at", "size", "name"]


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Writers wait for each other instead of failing with "database is locked". No
        # pre-ping: a connection to a local file does not go stale, and the ping was a round
        # trip to SQLite's thread on every checkout (a dozen per shared file).
        return create_async_engine(url, connect_args={"timeout": 30})
    # A server's connections can be dropped (restarts, idle timeouts): test each checkout.
    return create_async_engine(url, pool_pre_ping=True)


class Ledger:
    def __init__(self, engine: AsyncEngine, *, default_retention: float | None = None) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self._pruned_at: datetime | None = None
        #: PINBOT_RETENTION: stamped on pins claimed in channels without a policy of their own.
        self.default_retention = default_retention

    @classmethod
    async def open(cls, url: str) -> Ledger:
        """Connect (and check the connection); `LedgerUnavailable` with one clear line if not."""
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except DB_ERRORS as exc:
            await engine.dispose()
            raise LedgerUnavailable(
                f"cannot open the database at PINBOT_DATABASE_URL ({reason(exc)})"
            ) from None
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    @property
    def sessions(self) -> async_sessionmaker[Any]:
        """Sessions on the ledger's database, for the other stores that live there."""
        return self._session

    # -- events ------------------------------------------------------------------------------

    async def first_delivery(self, event_id: str, team_id: str) -> bool:
        """Record an event id; False when it was already seen (a retry or re-delivery)."""
        now = utcnow()
        try:
            async with self._session.begin() as session:
                session.add(EventRow(event_id=event_id, team_id=team_id, seen_at=now))
        except IntegrityError:
            return False
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        if self._pruned_at is None or now - self._pruned_at > PRUNE_EVERY:
            self._pruned_at = now
            await self._prune_events(now - EVENT_TTL)
        return True

    async def _prune_events(self, before: datetime) -> None:
        try:
            async with self._session.begin() as session:
                await session.execute(delete(EventRow).where(EventRow.seen_at < before))
        except DB_ERRORS as exc:
            log.warning("pruning seen events failed: %s", reason(exc))

    # -- claims and outcomes -----------------------------------------------------------------

    async def claim(
        self,
        team_id: str,
        key: str,
        *,
        name: str,
        size: int | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
        slack_file_id: str | None = None,
        message_ts: str | None = None,
        owner: str | None = None,
        source: str | None = None,
        thread_ts: str | None = None,
    ) -> Claim:
        """Claim `key` for this team. Exactly one concurrent caller wins.

        A failed pin, or a pending one whose worker is gone (stale), can be claimed again; so
        can a pending claim held by the same `owner` (a job resumed after its process died).
        An unpinned pin is pinned again as a new row: the old one keeps its history under an
        archived key (`<key>#<row id>`), so the ledger still shows who unpinned it and when.

        Retention is stamped here, from the channel's policy at the moment of the claim (or
        PINBOT_RETENTION), so every entry point gets it and a policy set later applies only
        to pins made after it, unless an admin applies it to existing pins.
        """
        now = utcnow()
        retention = await self.retention_for(team_id, channel_id)
        fields = {
            "name": name, "size": size, "channel_id": channel_id, "user_id": user_id,
            "slack_file_id": slack_file_id, "message_ts": message_ts, "claim_owner": owner,
            "source": source, "thread_ts": thread_ts, "retention_seconds": retention,
            "noticed_at": None,
            "expires_at": now + timedelta(seconds=retention) if retention else None,
            "kept": False, "kept_by": None, "unpin_reason": None,
        }
        for _ in range(2):  # a second pass only after archiving an unpinned row
            try:
                async with self._session.begin() as session:
                    row = PinRow(team_id=team_id, key=key, state="pending", created_at=now,
                                 updated_at=now, **fields)
                    session.add(row)
                return Claim(True, PinRecord.of(row))
            except IntegrityError:
                pass
            except DB_ERRORS as exc:
                raise LedgerUnavailable(reason(exc)) from None
            if not await self._archive_unpinned(team_id, key):
                break
        try:
            async with self._session.begin() as session:
                # Take over a failed or abandoned claim atomically: the WHERE is the lock.
                result = await session.execute(
                    update(PinRow)
                    .where(PinRow.team_id == team_id, PinRow.key == key)
                    .where(or_(
                        PinRow.state == "failed",
                        (PinRow.state == "pending") & (PinRow.updated_at < now - STALE_CLAIM),
                        (PinRow.state == "pending") & (PinRow.claim_owner == owner)
                        if owner else PinRow.state == "failed",
                    ))
                    .values(
                        # Pinned now: its 30 days (quotas) and its expiry start now too.
                        state="pending", created_at=now, updated_at=now, error=None,
                        # Only the same job resumes its own reply message.
                        reply_ts=case((PinRow.claim_owner == owner, PinRow.reply_ts),
                                      else_=None) if owner else None,
                        **fields,
                    )
                )
                won = _rowcount(result) == 1
                existing = await session.scalar(
                    select(PinRow).where(PinRow.team_id == team_id, PinRow.key == key)
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        assert existing is not None
        return Claim(won, PinRecord.of(existing))

    async def retention_for(self, team_id: str, channel_id: str | None) -> int | None:
        """Seconds a pin made now in this channel is kept (None: forever)."""
        row = None
        if channel_id:
            try:
                async with self._session() as session:
                    row = await session.get(ChannelPolicyRow, (team_id, channel_id))
            except DB_ERRORS as exc:
                raise LedgerUnavailable(reason(exc)) from None
        seconds = (row.retention_seconds if row is not None and row.retention_seconds is not None
                   else self.default_retention)
        return int(seconds) if seconds else None

    async def _archive_unpinned(self, team_id: str, key: str) -> bool:
        """Move an unpinned row out of `key`'s way; True if there was one."""
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(PinRow)
                    .where(PinRow.team_id == team_id, PinRow.key == key,
                           PinRow.state == "unpinned")
                    .values(key=func.substr(key + "#" + func.cast(PinRow.id, String), 1, 255))
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result) == 1

    async def complete(self, record_id: int, pin: Pin, *, verified: bool | None,
                       account: str | None = None) -> PinRecord:
        """The pin exists at the service: record it (idempotent, safe to retry).

        `account`: the fingerprint of the account it was made with (`W3IPFSClient.account`),
        so it is unpinned and audited there even after the workspace's keys change. None
        leaves what the row holds (a caller that does not know does not erase it).
        """
        values: dict[str, Any] = {
            "state": "unpinned" if pin.state is PinState.UNPINNED else "pinned",
            # Cut to the columns: an odd answer must not read as a database outage (retried
            # forever) on PostgreSQL, which refuses what SQLite would store.
            "pin_id": pin.id[:128], "cid": (pin.cid or "")[:255],
            "status": pin.status[:64] if pin.status else pin.status, "verified": verified,
            "updated_at": utcnow(), "checked_at": utcnow(), "error": None,
        }
        if pin.size:
            values["size"] = pin.size
        if account:
            values["account"] = account[:16]
        return await self._update_one(record_id, values)

    async def set_reply(self, record_id: int, reply_ts: str) -> None:
        """Remember the message that shows this pin's progress (a retried job edits it)."""
        await self._update_one(record_id, {"reply_ts": reply_ts, "updated_at": utcnow()})

    async def fail(self, record_id: int, error: str) -> None:
        """The pin did not happen; a later share may claim the key again."""
        await self._update_one(record_id, {"state": "failed", "error": error[:2000],
                                           "updated_at": utcnow()})

    async def release(self, record_id: int) -> None:
        """Forget a claim that never started (e.g. the placeholder could not be posted)."""
        try:
            async with self._session.begin() as session:
                await session.execute(
                    delete(PinRow).where(PinRow.id == record_id, PinRow.state == "pending")
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

    async def update_if(self, record_id: int, where: Sequence[Any],
                        values: dict[str, Any]) -> PinRecord | None:
        """Compare-and-set one row: write `values` only while `where` holds; the row as
        written, or None when it did not (another writer got there first).

        The sweep's steps and the audit make every write this way, so two processes (or a
        pass re-run after a crash) never both act on one pin.
        """
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(PinRow).where(PinRow.id == record_id, *where).values(**values))
                if _rowcount(result) != 1:
                    return None
                row = await session.get(PinRow, record_id, populate_existing=True)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return PinRecord.of(row) if row is not None else None

    async def _update_one(self, record_id: int, values: dict[str, Any]) -> PinRecord:
        try:
            async with self._session.begin() as session:
                await session.execute(update(PinRow).where(PinRow.id == record_id).values(**values))
                row = await session.get(PinRow, record_id, populate_existing=True)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        if row is None:
            raise LedgerUnavailable(f"ledger row {record_id} disappeared")
        return PinRecord.of(row)

    # -- queries -----------------------------------------------------------------------------

    async def get(self, team_id: str, key: str) -> PinRecord | None:
        return await self._one(select(PinRow).where(PinRow.team_id == team_id, PinRow.key == key))

    async def by_row_id(self, row_id: int) -> PinRecord | None:
        return await self._one(select(PinRow).where(PinRow.id == row_id))

    async def find_pinned_cid(self, team_id: str, cid: str) -> PinRecord | None:
        return await self._one(
            select(PinRow)
            .where(PinRow.team_id == team_id, PinRow.cid == cid, PinRow.state == "pinned")
            .order_by(PinRow.created_at)
            .limit(1)
        )

    async def by_pin_id(self, team_id: str, pin_id: str) -> PinRecord | None:
        return (await self.by_pin_ids(team_id, [pin_id])).get(pin_id)

    async def by_pin_ids(self, team_id: str, pin_ids: Sequence[str]) -> dict[str, PinRecord]:
        if not pin_ids:
            return {}
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(PinRow).where(PinRow.team_id == team_id, PinRow.pin_id.in_(pin_ids))
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return {row.pin_id: PinRecord.of(row) for row in rows if row.pin_id}

    async def _one(self, query: Any) -> PinRecord | None:
        try:
            async with self._session() as session:
                row = await session.scalar(query)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return PinRecord.of(row) if row is not None else None

    async def page(
        self,
        team_id: str,
        *,
        user_id: str | None = None,
        channel_id: str | None = None,
        name_contains: str | None = None,
        status: LedgerStatus = "all",
        sort: LedgerSort = "created_at",
        descending: bool = True,
        offset: int = 0,
        limit: int = 10,
    ) -> tuple[list[PinRecord], int, int]:
        """A page of the team's ledger, filtered; with the filtered count and total size."""
        where = [PinRow.team_id == team_id, PinRow.pin_id.is_not(None)]
        if user_id:
            where.append(PinRow.user_id == user_id)
        if channel_id:
            where.append(PinRow.channel_id == channel_id)
        if name_contains:
            pattern = name_contains.lower().replace("\\", "\\\\").replace("%", "\\%")
            pattern = pattern.replace("_", "\\_")
            where.append(or_(func.lower(PinRow.name).like(f"%{pattern}%", escape="\\"),
                             PinRow.cid == name_contains))
        if status == "pinned":
            where.append(PinRow.state == "pinned")
        elif status == "unpinned":
            where.append(PinRow.state == "unpinned")
        else:
            where.append(PinRow.state.in_(("pinned", "unpinned")))
        column = {"created_at": PinRow.created_at, "size": PinRow.size,
                  "name": func.lower(PinRow.name)}[sort]
        order = [column.desc() if descending else column.asc(),
                 PinRow.id.desc() if descending else PinRow.id.asc()]
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(PinRow).where(*where).order_by(*order).offset(offset).limit(limit)
                )).all()
                count, size = (await session.execute(
                    select(func.count(PinRow.id), func.coalesce(func.sum(PinRow.size), 0))
                    .where(*where)
                )).one()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [PinRecord.of(r) for r in rows], int(count or 0), int(size or 0)

    # -- reconciliation with the service -----------------------------------------------------

    async def reconcile(self, team_id: str, pins: Sequence[Pin]) -> None:
        """Bring known rows in line with what the API reports (e.g. unpinned outside Slack)."""
        now = utcnow()
        try:
            async with self._session.begin() as session:
                for pin in pins:
                    values: dict[str, Any] = {"status": pin.status, "checked_at": now}
                    if pin.state is PinState.UNPINNED:
                        values.update(state="unpinned", unpinned_at=pin.date_unpinned or now,
                                      unpin_reason=case((PinRow.state == "unpinned",
                                                         PinRow.unpin_reason), else_="service"))
                    await session.execute(
                        update(PinRow)
                        .where(PinRow.team_id == team_id, PinRow.pin_id == pin.id,
                               PinRow.state.in_(("pinned", "unpinned")))
                        .values(**values)
                    )
        except DB_ERRORS as exc:
            log.warning("reconciling the ledger failed: %s", reason(exc))

    async def rekey(self, team_id: str, old: str, new: str) -> int:
        """The workspace's pins stamped with the account fingerprint `old` are in the account
        `new` opens: another API key of the same account (rotated). How many rows moved."""
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    update(PinRow).where(PinRow.team_id == team_id, PinRow.account == old)
                    .values(account=new[:16])
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result)

    async def mark_gone(self, team_id: str, pin_id: str) -> None:
        """The API no longer knows this pin (404): it is not pinned any more."""
        await self.mark_unpinned(team_id, pin_id, None)

    async def mark_unpinned(self, team_id: str, pin_id: str, by_user: str | None,
                            why: str | None = None) -> None:
        """Record an unpin; `why` is user, cleanup, retention or service (the audit)."""
        now = utcnow()
        try:
            async with self._session.begin() as session:
                await session.execute(
                    update(PinRow)
                    .where(PinRow.team_id == team_id, PinRow.pin_id == pin_id,
                           PinRow.state != "unpinned")
                    .values(state="unpinned", unpinned_at=now, unpinned_by=by_user,
                            updated_at=now, checked_at=now,
                            unpin_reason=why or ("user" if by_user else "service"))
                )
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None


class ChannelSettings:
    """Per-channel auto-pin overrides (admins' `/pin auto on|off`)."""

    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger._session

    async def get(self, team_id: str, channel_id: str) -> bool | None:
        try:
            async with self._session() as session:
                row = await session.get(ChannelSettingRow, (team_id, channel_id))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return row.auto_pin if row is not None else None

    async def set(self, team_id: str, channel_id: str, enabled: bool, by_user: str) -> None:
        try:
            async with self._session.begin() as session:
                row = await session.get(ChannelSettingRow, (team_id, channel_id))
                if row is None:
                    session.add(ChannelSettingRow(team_id=team_id, channel_id=channel_id,
                                                  auto_pin=enabled, updated_by=by_user,
                                                  updated_at=utcnow()))
                else:
                    row.auto_pin, row.updated_by, row.updated_at = enabled, by_user, utcnow()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

    async def all(self, team_id: str) -> list[tuple[str, bool, str | None]]:
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(ChannelSettingRow).where(ChannelSettingRow.team_id == team_id)
                    .order_by(ChannelSettingRow.channel_id)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [(r.channel_id, r.auto_pin, r.updated_by) for r in rows]


@dataclass(frozen=True, slots=True)
class StoredKeys:
    team_id: str
    api_key_enc: str
    secret_key_enc: str
    last4: str
    updated_by: str | None


class WorkspaceKeys:
    """Encrypted per-workspace key pairs (the vault encrypts; this only stores)."""

    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger._session

    async def get(self, team_id: str) -> StoredKeys | None:
        try:
            async with self._session() as session:
                row = await session.get(WorkspaceKeyRow, team_id)
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _stored(row) if row is not None else None

    async def put(self, team_id: str, api_key_enc: str, secret_key_enc: str, last4: str,
                  by_user: str | None) -> None:
        try:
            async with self._session.begin() as session:
                row = await session.get(WorkspaceKeyRow, team_id)
                if row is None:
                    row = WorkspaceKeyRow(team_id=team_id)
                    session.add(row)
                row.api_key_enc, row.secret_key_enc = api_key_enc, secret_key_enc
                row.api_key_last4, row.updated_by, row.updated_at = last4, by_user, utcnow()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None

    async def delete(self, team_id: str) -> bool:
        try:
            async with self._session.begin() as session:
                result = await session.execute(
                    delete(WorkspaceKeyRow).where(WorkspaceKeyRow.team_id == team_id))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _rowcount(result) > 0

    async def all(self) -> list[StoredKeys]:
        try:
            async with self._session() as session:
                rows = (await session.scalars(select(WorkspaceKeyRow))).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [_stored(r) for r in rows]


def _stored(row: WorkspaceKeyRow) -> StoredKeys:
    return StoredKeys(row.team_id, row.api_key_enc, row.secret_key_enc, row.api_key_last4,
                      row.updated_by)


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def reason(exc: BaseException) -> str:
    """A short, secret-free reason: the driver's first line, without the URL or parameters."""
    original = getattr(exc, "orig", None)
    if isinstance(original, BaseException):
        exc = original
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
