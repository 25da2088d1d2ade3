"""The audit's one comparison, its terminal line and `/pins audit`'s rendering; the export's
formats (CSV escaping and the formula guard, JSON, `--since`); `/pins audit` parsing."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import audit_report
from bot.commands import Audit, CommandError, parse_pins
from bot.export_format import COLUMNS, ExportWriter, csv_cell, parse_since, row
from bot.pins.audit import Drift, Seen, compare
from bot.store import PinRecord
from bot.store.audit import DriftCounts
from bot.store.sweeps import SweepState
from bot.w3ipfs import PinState

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
HOSTILE = '=HYPERLINK("http://evil.example","x"), "quoted",\nline two\u202e.csv'


def record(**fields: Any) -> PinRecord:
    values: dict[str, Any] = {
        "id": 7, "team_id": "T0ACME", "key": "file:F1", "state": "pinned",
        "pin_id": "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2", "cid": "bafkreiexample",
        "name": "report.pdf", "size": 1234, "channel_id": "C0GENERAL", "user_id": "UALICE",
        "slack_file_id": "F1", "message_ts": "1.1", "status": "DONE", "verified": True,
        "created_at": NOW - timedelta(days=3), "unpinned_at": None, "unpinned_by": None,
        "checked_at": None, "updated_at": NOW - timedelta(days=3), "source": "share",
    }
    values.update(fields)
    return PinRecord(**values)


def seen(state: PinState, status: str | None = None) -> Seen:
    return Seen(state, status or state.value.upper(), NOW if state is PinState.UNPINNED else None)


@pytest.mark.parametrize(("service", "expected"), [
    (seen(PinState.PINNED, "DONE"), None),
    (seen(PinState.UNKNOWN, "Weird"), None),
    (seen(PinState.UNPINNED), "unpinned"),
    (seen(PinState.FAILED, "Failed"), "failed"),
    (None, "gone"),
    (seen(PinState.PINNING, "PINNING"), "stuck"),
])
def test_compare_a_pinned_row(service: Seen | None, expected: str | None) -> None:
    drift = compare(record(), service, now=NOW)
    assert (drift.kind if drift else None) == expected


def test_pinning_is_stuck_only_after_the_threshold() -> None:
    young = record(created_at=NOW - timedelta(hours=2))
    assert compare(young, seen(PinState.PINNING), now=NOW) is None
    assert compare(young, seen(PinState.PINNING), now=NOW, stuck_after=3600) is not None


def test_a_pending_claim_is_stuck_once_old() -> None:
    assert compare(record(state="pending", pin_id=None, updated_at=NOW - timedelta(hours=1)),
                   None, now=NOW) is None
    drift = compare(record(state="pending", pin_id=None), None, now=NOW)
    assert drift is not None and drift.kind == "stuck" and drift.service_state == "none"


def test_drift_line_and_json() -> None:
    drift = Drift("gone", record(name=HOSTILE), None)
    line = drift.line()
    assert "\n" not in line and "\u202e" not in line and "\\u202e" in line
    assert line.startswith("gone     T0ACME 3c3fec2a") and "service not found" in line
    data = drift.as_json()
    assert data["name"] == HOSTILE and data["kind"] == "gone"
    assert {"team", "pin_id", "cid", "name", "ledger_state", "service_state"} <= set(data)
    assert json.loads(json.dumps(data)) == data


def test_parse_pins_audit() -> None:
    assert parse_pins("audit") == Audit()
    assert parse_pins("AUDIT") == Audit()
    with pytest.raises(CommandError):
        parse_pins("audit now")


def test_audit_summary_escapes_and_hides_other_workspaces_numbers() -> None:
    counts = DriftCounts(
        pinned=12, checked=10, never_checked=2,
        counts={"unpinned": 1, "gone": 0, "failed": 1, "stuck": 0},
        examples=[("unpinned", record(name="<!channel> *bold*")), ("failed", record())])
    sweep = SweepState("sweep", None, None, NOW, NOW, "retention: 3 unpinned; audit: failed "
                                                       "(see logs)")
    one = audit_report.summary(counts, sweep, show_result=True)
    text = json.dumps(one.blocks)
    assert "*1* unpinned at the service" in text and "*1* failed at the service" in text
    assert "gone" not in text.split("Examples")[0]  # a kind not found is not listed
    assert "<!channel>" not in text and "retention: 3 unpinned" in text
    many = json.dumps(audit_report.summary(counts, sweep, show_result=False).blocks)
    assert "retention: 3 unpinned" not in many and "a step failed" in many
    empty = audit_report.summary(DriftCounts(0, 0, 0, {}), None, show_result=True)
    assert "No drift" in json.dumps(empty.blocks) and "No sweep has finished" in json.dumps(
        empty.blocks)


# -- export ---------------------------------------------------------------------------------


def test_csv_cells() -> None:
    assert csv_cell(None) == "" and csv_cell(True) == "true" and csv_cell(False) == "false"
    assert csv_cell(1234) == "1234" and csv_cell(-5) == "-5"  # numbers are not text
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert csv_cell(f"{start}cmd") == f"'{start}cmd"
    assert csv_cell("plain.txt") == "plain.txt"


def test_since() -> None:
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2024-05-01T12:30") == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert parse_since("2024-05-01T12:30:00+02:00") == datetime(2024, 5, 1, 10, 30,
                                                                tzinfo=UTC)
    assert parse_since("2024-05-01T12:30:00Z").tzinfo is not None
    for bad in ("yesterday", "", "2024-13-01", "1714560000"):
        with pytest.raises(ValueError, match="not an ISO date"):
            parse_since(bad)


def test_rows_as_csv_and_json() -> None:
    records = [
        record(name=HOSTILE),
        record(id=8, state="unpinned", unpinned_at=NOW, source="catchup", verified=None,
               kept=True, name="plain.txt"),
        record(id=9, source=None, size=None, cid=None, pin_id=None, state="failed"),
    ]
    out = io.StringIO()
    writer = ExportWriter(out, "csv")
    writer.write(records[:2])
    writer.write(records[2:])
    writer.close()
    parsed = list(csv.reader(io.StringIO(out.getvalue())))
    assert parsed[0] == list(COLUMNS) and len(parsed) == 4
    first = dict(zip(COLUMNS, parsed[1], strict=True))
    assert first["name"] == "'" + HOSTILE  # quotes, commas and the line break survive
    assert first["created"] == "2026-04-28T12:00:00Z" and first["verified"] == "true"
    assert first["source"] == "share" and first["workspace"] == "T0ACME"
    second = dict(zip(COLUMNS, parsed[2], strict=True))
    assert second["source"] == "catch-up" and second["kept"] == "true"
    assert second["unpinned"] == "2026-05-01T12:00:00Z" and second["verified"] == ""
    assert parsed[3][COLUMNS.index("size")] == "" and parsed[3][COLUMNS.index("pin_id")] == ""

    out = io.StringIO()
    writer = ExportWriter(out, "json")
    writer.write(records)
    writer.close()
    rows = json.loads(out.getvalue())
    assert [r["name"] for r in rows] == [HOSTILE, "plain.txt", "report.pdf"]
    assert rows[0] == row(records[0]) and list(rows[0]) == list(COLUMNS)
    assert rows[2]["size"] is None and rows[2]["source"] is None

    out = io.StringIO()
    ExportWriter(out, "json").close()
    assert json.loads(out.getvalue()) == []
