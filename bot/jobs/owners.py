"""Who holds a lease, and whether that process is known to be dead.

An owner id is `host:pid:nonce`. A lease normally lapses after `PINBOT_JOB_LEASE` without a
heartbeat; but when the holder ran on this very host and its process is gone (SIGKILL, OOM,
a container restart that reuses the pid), waiting out the lease only delays the user, so a
process may take such a job over at once. Owners on other hosts are trusted until their lease
lapses: nothing here can tell whether they are alive.
"""

from __future__ import annotations

import os
import socket
import uuid

HOST = socket.gethostname()[:64]
#: Owners created in this process and not yet closed (several runners share a test process).
_LIVE: set[str] = set()


def new_owner() -> str:
    owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
    _LIVE.add(owner)
    return owner


def retire(owner: str) -> None:
    _LIVE.discard(owner)


def is_dead(owner: str) -> bool:
    """True only when `owner` certainly no longer runs: same host, and its process is gone."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3:
        return False
    host, pid_text, _nonce = parts
    if host != HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _LIVE  # an earlier incarnation with our pid, or a closed runner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
