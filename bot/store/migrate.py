"""Schema migrations (Alembic), applied by `pinbot serve` at start and by `pinbot db upgrade`.

A database whose revision this code does not know was migrated by a newer pinbot: running
against it could corrupt it, so start-up refuses with a message saying so.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaError(Exception):
    """The database schema cannot be used by this version of pinbot."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _check_known(connection: Connection) -> str | None:
    current = _current(connection)
    if current is not None:
        script = ScriptDirectory.from_config(alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        if current not in known:
            raise SchemaError(
                f"the database is at schema revision {current}, newer than this pinbot "
                f"knows (up to {head_revision()}): upgrade pinbot, or point "
                "PINBOT_DATABASE_URL at another database"
            )
    return current


#: Arbitrary, fixed: the PostgreSQL advisory lock that serialises migrations across processes.
_MIGRATION_LOCK = 0x70696E626F74  # "pinbot"


def _upgrade(connection: Connection, target: str) -> None:
    if connection.dialect.name == "postgresql":
        # serve and several workers may start together on a fresh database: one migrates,
        # the others wait here and then find nothing left to do.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
    _check_known(connection)
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_check_known)


async def upgrade(engine: AsyncEngine, target: str = "head") -> str | None:
    """Bring the schema to `target`; return the revision it is at afterwards."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, target)
    return await current_revision(engine)
