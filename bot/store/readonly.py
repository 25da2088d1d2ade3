"""Opening the ledger for commands that only read it (`pinbot audit`, `pinbot export`).

Such a command must change nothing: it neither creates a SQLite file that is not there (opening
one would), nor migrates a schema that is behind (`serve` and `pinbot db upgrade` do that).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .ledger import DB_ERRORS, Ledger, LedgerUnavailable, reason
from .migrate import SchemaError, current_revision, head_revision


def missing_sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL when it does not exist (opening it would create it)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if Path(database).exists() else database


async def open_existing(url: str) -> Ledger:
    """The ledger at `url`, at the latest schema revision; raises `LedgerUnavailable` (no
    such database, unreachable) or `SchemaError` (behind, or newer than this pinbot)."""
    missing = missing_sqlite_file(url)
    if missing is not None:
        raise LedgerUnavailable(f"no database at PINBOT_DATABASE_URL (SQLite file {missing} "
                                "does not exist)")
    ledger = await Ledger.open(url)
    try:
        current = await current_revision(ledger.engine)
    except DB_ERRORS as exc:
        await ledger.close()
        raise LedgerUnavailable(reason(exc)) from None
    except BaseException:
        await ledger.close()
        raise
    if current != head_revision():
        await ledger.close()
        at = f"at schema revision {current}" if current else "empty (no schema yet)"
        raise SchemaError(f"the database is {at}, latest is {head_revision()}: run "
                          "`pinbot db upgrade` first")
    return ledger
