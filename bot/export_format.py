"""`pinbot export`: ledger rows as CSV or JSON, written as they are read (pure formatting).

One row per ledger row, these columns in this order:

    pin_id, cid, name, size, workspace, channel, user, created, unpinned, state, verified,
    kept, source

Dates are ISO 8601 in UTC (`2024-05-01T12:00:00Z`); `source` is how the pin was made: share,
reaction, shortcut, folder, cid or catch-up (empty for rows older than the column).

- **CSV** (RFC 4180, the csv module): a header line, then one line per row; a field holding a
  comma, a quote or a line break is quoted, quotes doubled. Empty cell for "none"; `true` /
  `false` for verified and kept. A text cell that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return gets a leading `'`, so a spreadsheet shows a hostile file name such as
  `=HYPERLINK(…)` as text instead of running it as a formula (OWASP's advice). Only CSV is
  changed this way; JSON carries names exactly.
- **JSON**: one JSON array of objects with the same keys (numbers and booleans typed, `null`
  for none), streamed one object per line, so any JSON parser reads it and memory stays flat.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from .store import PinRecord

Format = Literal["csv", "json"]

COLUMNS = ("pin_id", "cid", "name", "size", "workspace", "channel", "user", "created",
           "unpinned", "state", "verified", "kept", "source")
#: The stored job kind -> the word the export uses.
SOURCES = {"catchup": "catch-up"}
#: What makes a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def parse_since(text: str) -> datetime:
    """An ISO date (`2024-05-01`, midnight UTC) or date-time (`2024-05-01T12:00`,
    `…Z`, `…+02:00`); without a zone it is UTC. Raises ValueError with a one-line reason."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text[:60]!r} is not an ISO date or date-time (e.g. 2024-05-01 "
                         "or 2024-05-01T12:00:00Z)") from None
    try:
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except OverflowError:  # year 1 at +01:00, year 9999 at -01:00: no such UTC time
        raise ValueError(f"{text[:60]!r} is outside the calendar in UTC") from None


def _iso(when: datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def row(record: PinRecord) -> dict[str, Any]:
    """One ledger row, typed, in the export's columns."""
    return {
        "pin_id": record.pin_id, "cid": record.cid or None, "name": record.name,
        "size": record.size, "workspace": record.team_id, "channel": record.channel_id,
        "user": record.user_id, "created": _iso(record.created_at),
        "unpinned": _iso(record.unpinned_at), "state": record.state,
        "verified": record.verified, "kept": record.kept,
        "source": SOURCES.get(record.source, record.source) if record.source else None,
    }


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_START):
        return "'" + text
    return text


class ExportWriter:
    """Writes rows to `out` in one format; `close()` ends the document (JSON's `]`)."""

    def __init__(self, out: TextIO, fmt: Format) -> None:
        self.out = out
        self.fmt = fmt
        self.rows = 0
        if fmt == "csv":
            self._csv = csv.writer(out)
            self._csv.writerow(COLUMNS)
        else:
            out.write("[")

    def write(self, records: Iterable[PinRecord]) -> None:
        for record in records:
            data = row(record)
            if self.fmt == "csv":
                self._csv.writerow([csv_cell(data[c]) for c in COLUMNS])
            else:
                self.out.write(("\n" if self.rows == 0 else ",\n")
                               + json.dumps(data, ensure_ascii=False))
            self.rows += 1
        self.out.flush()

    def close(self) -> None:
        if self.fmt == "json":
            self.out.write("\n]\n" if self.rows else "]\n")
        self.out.flush()
