"""The project's one reading of durations, sizes and rates, and their human spelling.

Settings (`PINBOT_RETENTION=90d`, `PINBOT_JOB_LEASE=60`), slash commands (`/pin retention 90d`,
`/pin quota 2GB`) and the CLI all parse through here, so `90d` means the same everywhere and
every refusal says the same thing. Pure: errors are `ValueError`s whose text never repeats the
input (it may be a secret pasted in the wrong place, or hostile).
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE | re.ASCII)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_NAMES = (("week", 7 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60),
               ("second", 1))
#: Longer than any retention or lease anyone means (100 years): keeps datetimes in range.
MAX_DURATION = 100 * 365 * 86400.0
DURATION_HINT = "a duration like 45s, 30m, 12h or 90d"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE | re.ASCII)
_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6,
               "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12, "ki": 2**10, "kib": 2**10,
               "mi": 2**20, "mib": 2**20, "gi": 2**30, "gib": 2**30, "ti": 2**40, "tib": 2**40}
#: 1 PB: far above any quota, small enough for a BIGINT and exact arithmetic.
MAX_SIZE = 10**15
SIZE_HINT = "a size like 500MB, 2GB or 1.5GiB"

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?\s*(?:/\s*s)?\s*$",
                   re.IGNORECASE | re.ASCII)
_RATE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9,
               "kib": 2**10, "mib": 2**20, "gib": 2**30}


class OutOfRange(ValueError):
    """Well written, but too large (or too small) to mean anything: say the range."""


def parse_duration(text: str | float | int) -> float:
    """Seconds from `45s`, `30m`, `12h`, `90d`, `2w` or a plain number of seconds.

    Zero is allowed (settings use it for "off"); callers that need a positive duration check.
    """
    if isinstance(text, (int, float)):
        seconds = float(text)
    else:
        match = _DURATION.match(text)
        if match is None:
            raise ValueError(f"must be {DURATION_HINT}")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_DURATION:
        raise OutOfRange(f"must be {DURATION_HINT} (at most 100 years)")
    return seconds


def parse_size(text: str, *, default_unit: str = "b", allow_zero: bool = False) -> int:
    """Bytes from `500MB`, `2GB`, `1.5GiB`, `750K` (KB/MB/GB decimal, KiB/MiB/GiB binary).

    A plain number is in `default_unit` (the issue's `PINBOT_QUOTA_USER_MB` is megabytes).
    `allow_zero`: a written zero (`0`, `0MB`) is 0, for settings where it means "none".
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"must be {SIZE_HINT}")
    unit = (match.group(2) or default_unit).lower()
    size = float(match.group(1)) * _SIZE_UNITS[unit]
    if allow_zero and size == 0:
        return 0
    if not math.isfinite(size) or size < 1 or size > MAX_SIZE:
        raise OutOfRange(f"must be {SIZE_HINT} (between 1 byte and 1 PB)")
    return int(size)


def parse_rate(text: str) -> float:
    """Bytes per second from `64KiB/s`, `1MiB/s`, `500KB/s` (`/s` optional) or a plain number.

    KB/MB/GB are decimal, KiB/MiB/GiB binary, case-insensitively.
    """
    match = _RATE.match(text)
    if match is None:
        raise ValueError("must be bytes per second or a rate like 64KiB/s, 1MiB/s, 500KB/s")
    return float(match.group(1)) * _RATE_UNITS[(match.group(2) or "").lower()]


def policy_duration(seconds: float) -> str:
    """`90-day`, `5-second`, `12-hour`: a policy's length as an adjective ("the 90-day policy").

    The largest unit that divides the duration exactly, so `/pin retention 36h` reads
    `36-hour` rather than a rounded `1.5-day`.
    """
    whole = round(seconds)
    for name, unit in _UNIT_NAMES:
        if whole >= unit and whole % unit == 0:
            return f"{whole // unit}-{name}"
    return f"{seconds:g}-second"


def spoken_duration(seconds: float) -> str:
    """`90 days`, `1 hour`, `45 seconds`: a duration as a noun phrase."""
    whole = round(seconds)
    for name, unit in _UNIT_NAMES:
        if whole >= unit and whole % unit == 0:
            count = whole // unit
            return f"{count} {name}{'' if count == 1 else 's'}"
    return f"{seconds:g} seconds"
