"""Process plumbing shared by the benchmarks: spawn, wait for health, CPU and memory of a pid.

CPU and memory come from /proc (Linux), so a process is measured from outside without
instrumenting it: utime+stime of every thread, VmRSS now, VmHWM (peak since a reset).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn(args: list[str], *, env: dict[str, str] | None = None, nice: int = 0,
          log: Path | None = None) -> subprocess.Popen[str]:
    """`python ARGS…` from the repository root; stdout piped unless `log` is given."""
    out = log.open("a") if log else subprocess.PIPE
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdout=out, stderr=subprocess.STDOUT if log else None,
                            preexec_fn=(lambda: os.nice(nice)) if nice else None)


def first_line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, "process did not start"
    return line


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def reset_peak(pid: int) -> None:
    """VmHWM back to the current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def bot_env(slack_api: str, w3ipfs_api: str, port: int, database: str, **extra: str
            ) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("W3IPFS_", "SLACK_", "PINBOT_"))}
    env.update({
        "PYTHONPATH": str(ROOT), "W3IPFS_API_URL": w3ipfs_api, "W3IPFS_API_KEY": "bench-key",
        "W3IPFS_SECRET_KEY": "bench-secret", "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": SIGNING, "SLACK_API_URL": slack_api,
        "PINBOT_DOWNLOAD_HOSTS": "127.0.0.1", "PINBOT_HOST": "127.0.0.1",
        "PINBOT_PORT": str(port), "PINBOT_LOG_LEVEL": "WARNING", "PINBOT_MAX_FILE_MB": "2048",
        "PINBOT_CATCHUP_INTERVAL": "0", "PINBOT_DATABASE_URL": database, **extra,
    })
    return env


def wait_healthy(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("pinbot serve did not become healthy")


SIGNING = "bench-signing"
_verifier = SignatureVerifier(SIGNING)


def file_shared(file: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A signed `file_shared` event for a file the Slack emulator shared."""
    body = json.dumps({
        "type": "event_callback", "team_id": "T0TEST", "api_app_id": "A0",
        "event_id": f"Ev{uuid.uuid4().hex[:16]}", "event_time": int(time.time()),
        "event": {"type": "file_shared", "file_id": file["id"], "channel_id": file["channel"],
                  "user_id": file["user"], "file": {"id": file["id"]},
                  "event_ts": f"{time.time():.6f}"},
    })
    ts = str(int(time.time()))
    return body.encode(), {
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": _verifier.generate_signature(timestamp=ts, body=body)}
