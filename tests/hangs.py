"""On a test's timeout (pytest-timeout), say where every asyncio task was waiting.

pytest-timeout's own signal handler reports the main thread's frame, which for an asyncio
test is the event loop's `select()`: it tells nothing of which `await` never returned. This
replacement fails the test the same way but puts each task's coroutine stack in the report,
so a hang seen once in CI can be read from its log.

If the main thread is stuck where no Python signal handler can run (inside C code), a
watchdog a minute later dumps every thread's stack and ends the worker: pytest-xdist reports
the test as crashed, starts a new worker, and the run still ends.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest


def task_stacks() -> str:
    """The stack of every task on the running loop, if a loop runs in this thread."""
    loop = asyncio._get_running_loop()
    if loop is None:
        return "(no event loop was running)"
    out = io.StringIO()
    for task in asyncio.all_tasks(loop):
        out.write(f"--- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=12, file=out)
    return out.getvalue()


def terminal_stderr(config: pytest.Config) -> Any:
    """The run's own stderr: during a test, file descriptor 2 is pytest's capture file, which
    dies with the worker; the descriptor pytest saved still reaches the terminal."""
    capman = config.pluginmanager.getplugin("capturemanager")
    err = getattr(getattr(capman, "_global_capturing", None), "err", None)
    saved = getattr(err, "targetfd_save", None)
    return saved if isinstance(saved, int) else sys.__stderr__


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    if settings.method != "signal" or threading.current_thread() is not threading.main_thread():
        return None  # pytest-timeout's own thread method

    def handler(signum: int, frame: FrameType | None) -> None:
        __tracebackhide__ = True
        pytest.fail(f"Timeout after {settings.timeout:.0f} s; the event loop's tasks:\n"
                    f"{task_stacks()}", pytrace=False)

    def cancel() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        faulthandler.cancel_dump_traceback_later()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # read by pytest-timeout
    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, settings.timeout)
    faulthandler.dump_traceback_later(settings.timeout + 60,
                                      exit=True, file=terminal_stderr(item.config))
    return True
