"""The ledger's tables (SQLAlchemy 2). Migrations in `migrations/` create and evolve them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PinRow(Base):
    """One pin the bot made or saw, scoped to a Slack team.

    `key` is what makes a pin exactly-once: `file:<slack file id>` for a shared file,
    `cid:<CID>` for `/pin`. `state` is the ledger's own view: pending (an upload is running),
    pinned, failed (a later share may retry), unpinned.
    """

    __tablename__ = "pins"
    __table_args__ = (
        UniqueConstraint("team_id", "key"),
        Index("ix_pins_team_id_pin_id", "team_id", "pin_id"),
        Index("ix_pins_team_id_cid", "team_id", "cid"),
        Index("ix_pins_team_id_user_id", "team_id", "user_id"),
        Index("ix_pins_team_id_channel_id", "team_id", "channel_id"),
        Index("ix_pins_state_expires_at", "state", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    pin_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    cid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    name: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    slack_file_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verified: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unpinned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    unpinned_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claim_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reply_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: The thread the pin's card and notices go in (the file share's thread parent).
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: How it was pinned: share, reaction, shortcut, folder, cid, catchup (the job's kind).
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Retention: when the sweep unpins it (stamped at claim from the channel's policy, or
    #: PINBOT_RETENTION), and the policy's length, for "the channel's 90-day policy".
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retention_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Exempt from retention (`/pin keep`, the card's Keep button).
    kept: Mapped[bool] = mapped_column(Boolean, default=False)
    kept_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: When the 24-hour notice was posted in the file's thread (at most once per expiry).
    noticed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: Why it stopped being pinned: user, cleanup, retention, service (found by the audit).
    unpin_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The pinning account it was made with: the first 16 hex digits of the sha256 of that
    #: account's API key (`W3IPFSClient.account`). NULL for pins made before 0009.
    account: Mapped[str | None] = mapped_column(String(16), nullable=True)


class EventRow(Base):
    """A Slack event id already handled (kept a day), so retries and re-deliveries are dropped."""

    __tablename__ = "seen_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ChannelSettingRow(Base):
    """An admin's per-channel choice; channels without a row follow PINBOT_AUTO_PIN."""

    __tablename__ = "channel_settings"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    auto_pin: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChannelPolicyRow(Base):
    """An admin's retention and quota for one channel (`/pin retention`, `/pin quota`).

    `retention_seconds`: NULL follows PINBOT_RETENTION, 0 is "off" (kept forever) even when
    the workspace default is set. `quota_bytes`: NULL is no channel quota.
    """

    __tablename__ = "channel_policies"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    retention_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quota_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SweepRow(Base):
    """The deployment-wide sweep (retention, notices, audit): who runs it, and its last pass.

    One row per sweep name; whoever holds the lease runs it, and a lapsed lease (the process
    died) is taken over, as with jobs, so exactly one process sweeps across replicas and workers.
    """

    __tablename__ = "sweeps"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                              nullable=True)
    last_result: Mapped[str | None] = mapped_column(Text, nullable=True)


class WorkspaceKeyRow(Base):
    """A workspace's own W3IPFS key pair, Fernet-encrypted; the env keys are the fallback."""

    __tablename__ = "workspace_keys"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    api_key_enc: Mapped[str] = mapped_column(Text)
    secret_key_enc: Mapped[str] = mapped_column(Text)
    api_key_last4: Mapped[str] = mapped_column(String(8))
    updated_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobRow(Base):
    """One pin request, durable: what was asked, where its card is, how far it got, who runs it.

    Any process may run a job whose lease (`lease_owner`, `lease_until`) has lapsed, so a crash
    or a lost queue never strands a request; `run_after` schedules waiting (status follow-up,
    another request uploading the same file) without holding an upload slot. `request_key`
    makes creating a job idempotent (the same Slack event enqueued twice is one job).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("team_id", "request_key"),
        Index("ix_jobs_state_run_after", "state", "run_after"),
        Index("ix_jobs_team_id_pin_key", "team_id", "pin_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    request_key: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    request: Mapped[str] = mapped_column(Text)
    pin_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    pin_row_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    card_channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    upload_key: Mapped[str] = mapped_column(String(64))
    ambiguous: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    run_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WorkspaceStateRow(Base):
    """Per workspace: when pinbot first ran there and the newest file event it has seen.

    Catch-up after downtime lists files shared since the watermark, never before `first_seen`
    (installing pinbot must not pin a channel's history).
    """

    __tablename__ = "workspace_state"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    caught_up_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
