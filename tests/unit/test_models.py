"""The models tolerate the service's quirks without losing information."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.w3ipfs import Pin, PinPage, PinState, normalise_status

FULL = {
    "id": "3c3fec2a-ca65-4b8e-bcf3-c8e2ceaa23d2",
    "file_record_id": "f1",
    "root_hash": "1220abcd",
    "cid": "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
    "size": 12,
    "user_id": "u1",
    "date_pinned": "2023-01-01T11:11:11.111111Z",
    "date_unpinned": "0001-01-01T00:00:00Z",
    "pinned": True,
    "is_pin_by_hash": False,
    "sub_hash_status": "DONE",
    "is_dir": False,
    "metadata": {"name": "hello.txt", "type": "text/plain"},
    "status": "DONE",
}


def test_documented_shape_parses() -> None:
    pin = Pin.model_validate(FULL)
    assert pin.name == "hello.txt"
    assert pin.date_pinned == datetime(2023, 1, 1, 11, 11, 11, 111111, tzinfo=UTC)
    assert pin.date_unpinned is None  # the zero time means "never"
    assert pin.state is PinState.PINNED
    assert pin.display_status == "DONE"


def test_nulls_and_missing_fields_get_defaults() -> None:
    pin = Pin.model_validate(
        {"id": "x", "cid": None, "size": None, "pinned": None, "metadata": None,
         "status": None, "date_pinned": None, "is_dir": None}
    )
    assert pin.cid == "" and pin.size is None and pin.pinned is False
    assert pin.name is None and pin.state is PinState.UNKNOWN
    assert pin.display_status == "unknown"


def test_extra_fields_are_kept() -> None:
    pin = Pin.model_validate({**FULL, "region": "eu", "metadata": {"name": "a", "color": "red"}})
    assert pin.model_extra == {"region": "eu"}
    assert pin.metadata.model_extra == {"color": "red"}


def test_unknown_status_is_kept_for_display() -> None:
    pin = Pin.model_validate({**FULL, "status": "Replicating-Glacier"})
    assert pin.state is PinState.UNKNOWN
    assert pin.display_status == "Replicating-Glacier"


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        ("DONE", PinState.PINNED), ("done", PinState.PINNED), ("Pinned", PinState.PINNED),
        ("Pinning", PinState.PINNING), ("PINNING", PinState.PINNING),
        ("in-progress", PinState.PINNING), ("Failed", PinState.FAILED),
        (" FAILED ", PinState.FAILED), ("", PinState.UNKNOWN), (None, PinState.UNKNOWN),
    ],
)
def test_status_normalisation(raw: str | None, state: PinState) -> None:
    assert normalise_status(raw) is state


def test_unpinned_pin_reads_as_unpinned() -> None:
    pin = Pin.model_validate(
        {**FULL, "pinned": False, "date_unpinned": "2023-11-11T11:11:11.111111Z"}
    )
    assert pin.state is PinState.UNPINNED
    assert pin.display_status == "unpinned"


def test_page_navigation() -> None:
    page = PinPage.model_validate(
        {"totals": {"files": 25, "size": 100}, "pins": [FULL] * 10, "offset": 10, "limit": 10}
    )
    assert page.has_prev and page.has_next
    last = PinPage.model_validate(
        {"totals": {"files": 25, "size": 100}, "pins": [FULL] * 5, "offset": 20, "limit": 10}
    )
    assert last.has_prev and not last.has_next
    empty = PinPage.model_validate({"totals": None, "pins": None})
    assert empty.totals.files == 0 and empty.pins == [] and not empty.has_next
