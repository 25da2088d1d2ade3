"""Pure formatting shared by the CLI and the Slack cards, so both speak the same units."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: int | None) -> str:
    """1536 -> '1.5 KiB'. Binary units, because Slack's 1 GB limit is 1 GiB in practice."""
    if size is None:
        return "unknown size"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS[1:]:
        value /= 1024
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def short_cid(cid: str, keep: int = 6) -> str:
    """bafybeigdyr…lgm4: enough to recognise, short enough for a table row."""
    if len(cid) <= 2 * keep + 5:
        return cid
    return f"{cid[: keep + 4]}…{cid[-keep:]}"


def short_date(when: datetime | None) -> str:
    if when is None:
        return "—"
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def gateway_link(gateway_url: str, cid: str) -> str:
    return f"{gateway_url.rstrip('/')}/ipfs/{cid}"


_DECIMAL = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("KB", 10**3))


def decimal_size(size: int) -> str:
    """120000000 -> '120 MB'. Decimal units, as quotas are set (`/pin quota 500MB`), so a
    refusal's figures read the way the limit was written and add up."""
    for unit, scale in _DECIMAL:
        if size >= scale:
            value = size / scale
            shown = f"{value:.0f}" if value >= 100 else f"{value:.1f}".removesuffix(".0")
            if value < 10:
                shown = f"{value:.2f}".rstrip("0").rstrip(".")
            return f"{shown} {unit}"
    return f"{size} bytes" if size != 1 else "1 byte"


def plural(count: int, word: str) -> str:
    """`1 pin`, `3 pins`: counts in messages read as people write them."""
    return f"{count} {word}" + ("" if count == 1 else "s")
