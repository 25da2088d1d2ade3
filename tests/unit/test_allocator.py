"""bot/allocator.py: freed 1 MiB buffers are reused, not faulted in again (issue 12)."""

from __future__ import annotations

import platform
import resource

import pytest

from bot import allocator

MiB = 1024 * 1024


def faults_streaming(rounds: int = 40, batch: int = 8) -> int:
    """Page faults while buffers of 1 MiB come and go as a stream's chunks do."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for i in range(rounds):
        chunks = [bytes([i % 256]) * MiB for _ in range(batch)]
        del chunks
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="tunes glibc's malloc only")
def test_big_buffers_are_reused_once_tuned(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in allocator.OPERATOR_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert allocator.tune_for_streaming()
    # 320 MiB of chunks. Untuned, every one is a fresh mapping (256 faults per MiB, about
    # 80,000); tuned, the first batch's 8 MiB is faulted in once and then reused.
    assert faults_streaming() < 3 * 8 * 256


def test_the_operators_malloc_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1048576")
    assert allocator.tune_for_streaming() is False
