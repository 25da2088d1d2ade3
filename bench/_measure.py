"""Peak-RSS measurement shared by the benchmarks (Linux /proc)."""

from __future__ import annotations

from pathlib import Path


def rss_kib(field: str) -> int:
    """`VmRSS` (now) or `VmHWM` (peak since the last reset) of this process, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (writing 5 to clear_refs, Linux >= 4.0)."""
    Path("/proc/self/clear_refs").write_text("5")
