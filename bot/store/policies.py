"""Per-channel retention and quota policies (admins' `/pin retention`, `/pin quota`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, reason, utcnow
from .models import ChannelPolicyRow

#: A sentinel for "leave this part of the policy as it is" in `ChannelPolicies.set`.
UNCHANGED = -1


@dataclass(frozen=True, slots=True)
class ChannelPolicy:
    team_id: str
    channel_id: str
    #: None: follows PINBOT_RETENTION; 0: off in this channel; else seconds.
    retention_seconds: int | None
    #: None: no channel quota; else bytes per rolling 30 days.
    quota_bytes: int | None
    updated_by: str | None


class ChannelPolicies:
    """The `channel_policies` table: one row per channel an admin configured."""

    def __init__(self, ledger: Ledger) -> None:
        self._session = ledger.sessions

    async def get(self, team_id: str, channel_id: str) -> ChannelPolicy | None:
        try:
            async with self._session() as session:
                row = await session.get(ChannelPolicyRow, (team_id, channel_id))
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return _policy(row) if row is not None else None

    async def set(self, team_id: str, channel_id: str, by_user: str, *,
                  retention_seconds: int | None = UNCHANGED,
                  quota_bytes: int | None = UNCHANGED) -> ChannelPolicy:
        """Change one part of a channel's policy (the other keeps its value).

        Two admins creating a channel's first policy at once: the second insert clashes on
        the key, and is tried again as an update of the row the first one created.
        """
        for attempt in range(2):
            try:
                async with self._session.begin() as session:
                    row = await session.get(ChannelPolicyRow, (team_id, channel_id),
                                            with_for_update=True)
                    if row is None:
                        row = ChannelPolicyRow(team_id=team_id, channel_id=channel_id)
                        session.add(row)
                    if retention_seconds != UNCHANGED:
                        row.retention_seconds = retention_seconds
                    if quota_bytes != UNCHANGED:
                        row.quota_bytes = quota_bytes
                    row.updated_by, row.updated_at = by_user, utcnow()
            except IntegrityError:
                if attempt:
                    raise LedgerUnavailable("the channel's policy changed meanwhile") from None
                continue
            except DB_ERRORS as exc:
                raise LedgerUnavailable(reason(exc)) from None
            return _policy(row)
        raise AssertionError("unreachable")

    async def all(self, team_id: str) -> list[ChannelPolicy]:
        try:
            async with self._session() as session:
                rows = (await session.scalars(
                    select(ChannelPolicyRow).where(ChannelPolicyRow.team_id == team_id)
                    .order_by(ChannelPolicyRow.channel_id)
                )).all()
        except DB_ERRORS as exc:
            raise LedgerUnavailable(reason(exc)) from None
        return [_policy(r) for r in rows]


def _policy(row: ChannelPolicyRow) -> ChannelPolicy:
    return ChannelPolicy(row.team_id, row.channel_id, row.retention_seconds, row.quota_bytes,
                         row.updated_by)
