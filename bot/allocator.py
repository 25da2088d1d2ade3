"""The C allocator, told to reuse freed file buffers instead of faulting in fresh pages.

Why: every chunk of a file pinbot streams is a new bytes object of up to 1 MiB (the socket
read, aiohttp's copy of the body), freed moments later. glibc's malloc gives blocks that large
back to the kernel (mmap/munmap, or by trimming the top of the heap) and takes zeroed pages
again for the next one: measured 110-140 thousand page faults per GiB streamed, about 0.3 CPU
s/GiB, a fifth of the hot path's CPU (issue 12, `bench/share_pin.py`). With the thresholds
below, blocks up to MMAP_THRESHOLD come from the heap and up to TRIM_THRESHOLD of freed heap is
kept for reuse: the working set is the few MiB each running upload holds, reused page for page.

Only `pinbot serve` and `pinbot worker` (the processes that stream) call it; glibc only (musl
and other platforms are left as they are), and not when the operator set glibc's own
MALLOC_*_ environment variables, which then decide.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform

log = logging.getLogger(__name__)

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

MiB = 1024 * 1024
#: Blocks up to this size come from the heap (and are reused), not from their own mapping.
MMAP_THRESHOLD = 16 * MiB
#: Freed memory at the top of the heap kept for reuse before it is returned to the kernel.
TRIM_THRESHOLD = 32 * MiB
OPERATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def tune_for_streaming() -> bool:
    """Set the thresholds; whether they were set."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in OPERATOR_SETTINGS):
        log.info("malloc thresholds left to the MALLOC_*_ environment variables")
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first (setting either one ends glibc's
    # own adjustment of both).
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
