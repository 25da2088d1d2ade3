"""Storage: the pin ledger (SQLAlchemy 2, async) and its Alembic migrations."""

from .ledger import Claim, Ledger, LedgerUnavailable, PinRecord
from .migrate import SchemaError, current_revision, head_revision, upgrade

__all__ = [
    "Claim",
    "Ledger",
    "LedgerUnavailable",
    "PinRecord",
    "SchemaError",
    "current_revision",
    "head_revision",
    "upgrade",
]
