"""Typed views of the pinning API's JSON.

The service's schema is loosely documented, so these models are deliberately tolerant: unknown
fields are kept (`extra="allow"`), `null` where a value was expected becomes a default, the
zero time `0001-01-01T00:00:00Z` means "never", and an unknown `status` string is kept verbatim
for display while `state` gives a normalised value for decisions.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PinnedFilter = Literal["all", "true", "false"]
SortBy = Literal["created_at", "size", "name"]
SortOrder = Literal["ASC", "DESC"]


class PinState(enum.StrEnum):
    """Normalised pin status, for comparisons. The raw string stays on `Pin.status`."""

    PINNED = "pinned"
    PINNING = "pinning"
    FAILED = "failed"
    UNPINNED = "unpinned"
    UNKNOWN = "unknown"


_STATE_WORDS: dict[str, PinState] = {
    "done": PinState.PINNED,
    "pinned": PinState.PINNED,
    "success": PinState.PINNED,
    "succeeded": PinState.PINNED,
    "completed": PinState.PINNED,
    "complete": PinState.PINNED,
    "pinning": PinState.PINNING,
    "pending": PinState.PINNING,
    "queued": PinState.PINNING,
    "processing": PinState.PINNING,
    "in_progress": PinState.PINNING,
    "failed": PinState.FAILED,
    "fail": PinState.FAILED,
    "error": PinState.FAILED,
    "unpinned": PinState.UNPINNED,
}


def normalise_status(status: str | None) -> PinState:
    """Map a service status string to a `PinState`, case- and separator-insensitively."""
    if not status:
        return PinState.UNKNOWN
    key = status.strip().lower().replace("-", "_").replace(" ", "_")
    return _STATE_WORDS.get(key, PinState.UNKNOWN)


def _zero_time_is_none(value: Any) -> Any:
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.startswith("0001-01-01"):
        return None
    if isinstance(value, datetime) and value.year <= 1:
        return None
    return value


class PinMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    type: str | None = None
    keyvalues: dict[str, Any] | None = None

    @field_validator("name", "type", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("keyvalues", mode="before")
    @classmethod
    def _dict_or_none(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None


class Pin(BaseModel):
    """One pin as the service reports it."""

    model_config = ConfigDict(extra="allow")

    id: str
    cid: str = ""
    file_record_id: str | None = None
    root_hash: str | None = None
    size: int | None = None
    user_id: str | None = None
    date_pinned: datetime | None = None
    date_unpinned: datetime | None = None
    pinned: bool = False
    is_pin_by_hash: bool = False
    sub_hash_status: str | None = None
    is_dir: bool = False
    metadata: PinMetadata = Field(default_factory=PinMetadata)
    status: str | None = None

    @field_validator("date_pinned", "date_unpinned", mode="before")
    @classmethod
    def _dates(cls, value: Any) -> Any:
        return _zero_time_is_none(value)

    @field_validator("pinned", "is_pin_by_hash", "is_dir", mode="before")
    @classmethod
    def _bools(cls, value: Any) -> Any:
        return False if value is None else value

    @field_validator("cid", mode="before")
    @classmethod
    def _cid(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata(cls, value: Any) -> Any:
        return value if isinstance(value, dict | PinMetadata) else {}

    @field_validator("size", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        return int(value)

    @property
    def name(self) -> str | None:
        return self.metadata.name

    @property
    def state(self) -> PinState:
        """Normalised status. An unpinned pin is `UNPINNED` whatever its last status said."""
        if not self.pinned and self.date_unpinned is not None:
            return PinState.UNPINNED
        return normalise_status(self.status)

    @property
    def display_status(self) -> str:
        """What to show a person: the service's own word when it has one."""
        if self.state is PinState.UNPINNED:
            return "unpinned"
        return self.status or "unknown"


class Totals(BaseModel):
    model_config = ConfigDict(extra="allow")

    files: int = 0
    size: int = 0

    @field_validator("files", "size", mode="before")
    @classmethod
    def _ints(cls, value: Any) -> Any:
        return 0 if value is None else value


class PinPage(BaseModel):
    """One page of `GET /pinning/pins/`, with the query that produced it (for Prev/Next)."""

    model_config = ConfigDict(extra="allow")

    totals: Totals = Field(default_factory=Totals)
    pins: list[Pin] = Field(default_factory=list)
    offset: int = 0
    limit: int = 10

    @field_validator("pins", mode="before")
    @classmethod
    def _pins(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("totals", mode="before")
    @classmethod
    def _totals(cls, value: Any) -> Any:
        return {} if value is None else value

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.pins) < self.totals.files and len(self.pins) > 0

    @property
    def has_prev(self) -> bool:
        return self.offset > 0


__all__ = [
    "Pin",
    "PinMetadata",
    "PinPage",
    "PinState",
    "PinnedFilter",
    "SortBy",
    "SortOrder",
    "Totals",
    "normalise_status",
]
