"""`pinbot demo`, run as the installed command in a real process, as a newcomer would."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from slack_sdk.models.blocks import Block

from bot.cid import cid_v1_of
from pinbot.demo import BUILDER, SAMPLE

PINBOT = Path(sys.executable).with_name("pinbot")
CID = re.compile(r"→ CID (\S+) · verified")


def demo(*args: str, cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PINBOT), "demo", *args], cwd=cwd, env=env if env is not None else {},
        capture_output=True, text=True, timeout=120, check=False,
    )


def builder_blocks(out: str) -> list[list[dict[str, Any]]]:
    """Every Block Kit Builder link in the output, decoded back to its blocks."""
    links = re.findall(re.escape(BUILDER) + r"(\S+)", out)
    return [json.loads(unquote(fragment))["blocks"] for fragment in links]


def assert_valid_block_kit(blocks: list[dict[str, Any]]) -> None:
    """slack_sdk's models parse each block back to exactly what was sent, and validate it."""
    for raw in blocks:
        block = Block.parse(raw)
        assert block is not None, raw
        block.validate_json()
        assert block.to_dict() == raw


def test_demo_in_empty_folder_with_empty_environment(tmp_path: Path) -> None:
    result = demo(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert CID.findall(result.stdout) == [cid_v1_of(SAMPLE)]
    assert "verified" in result.stdout and "1 of 1 file(s) pinned and verified" in result.stdout
    assert "@alice types /pins" in result.stdout and "1 pin" in result.stdout
    messages = builder_blocks(result.stdout)
    assert len(messages) >= 2  # the file's card and the /pins answer
    for blocks in messages:
        assert_valid_block_kit(blocks)
    assert list(tmp_path.iterdir()) == []  # nothing written to the working directory


def test_demo_reads_no_setting_and_shares_the_given_files(tmp_path: Path) -> None:
    """A real token, database or hostile .env around must not reach the demo, nor stop it."""
    files = tmp_path / "in"
    files.mkdir()
    (files / "a.txt").write_bytes(b"first file\n" * 100)
    (files / "b.bin").write_bytes(bytes(range(256)) * 2000)
    (tmp_path / ".env").write_text("PINBOT_DATABASE_URL=not a url\nPINBOT_PORT=-1\n")
    env = {"SLACK_BOT_TOKEN": "xoxb-a-real-looking-token", "PINBOT_REDIS_URL": "redis://nowhere",
           "PINBOT_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:9/none",
           "W3IPFS_API_URL": "http://127.0.0.1:9/api"}
    before = sorted(p.name for p in tmp_path.iterdir())
    result = demo(str(files / "a.txt"), str(files / "b.bin"), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert CID.findall(result.stdout) == [cid_v1_of((files / "a.txt").read_bytes()),
                                          cid_v1_of((files / "b.bin").read_bytes())]
    assert "2 of 2 file(s) pinned and verified" in result.stdout
    assert "xoxb-a-real-looking-token" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_demo_ignores_a_dotenv_that_is_not_text(tmp_path: Path) -> None:
    """A `.env` of bytes that are not UTF-8 in the working directory: the demo still runs."""
    (tmp_path / ".env").write_bytes(b"SLACK_BOT_TOKEN=xoxb-1-real\n\x00\xff\xfe garbage ===\n")
    result = demo(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "1 of 1 file(s) pinned and verified" in result.stdout


def test_hostile_file_name_pins_and_prints_no_terminal_control(tmp_path: Path) -> None:
    """ESC, BEL, an OSC title, a bidi override and `<!channel>` in a file name: the file is
    pinned and verified (the multipart header escapes the controls), and nothing printed can
    drive the terminal or reorder its line."""
    name = "ansi\x1b[31mred\x1b[0m\x1b]0;owned\x07<!channel>\u202etxt.exe"
    (tmp_path / name).write_bytes(b"hostile name\n")
    result = demo(name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert CID.findall(result.stdout) == [cid_v1_of(b"hostile name\n")]
    assert "1 of 1 file(s) pinned and verified" in result.stdout
    for control in ("\x1b", "\x07", "\u202e"):
        assert control not in result.stdout + result.stderr
    assert "@alice shares ansi\\x1b[31mred" in result.stdout  # shown, escaped


def test_demo_with_a_path_that_is_not_a_file_says_so_in_one_line(tmp_path: Path) -> None:
    result = demo(str(tmp_path / "missing.pdf"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "missing.pdf: not a file" in result.stderr


def test_keep_running_prints_a_signed_pins_that_works(tmp_path: Path) -> None:
    """The printed shell commands, run as printed, get an answer to /pins from the bot."""
    proc = subprocess.Popen(
        [str(PINBOT), "demo", "--keep-running"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    killer = threading.Timer(90, proc.kill)  # a hung demo fails the test instead of hanging it
    killer.start()
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "/response/" in line:
                break
        text = "\n".join(lines)
        start = next(i for i, line in enumerate(lines) if line.startswith("  body="))
        end = next(i for i, line in enumerate(lines) if line.endswith('--data "$body"'))
        script = "\n".join(line.strip() for line in lines[start:end + 1])
        read_answer = lines[-1].strip()
        sent = subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True,
                              timeout=30, check=False)
        assert sent.returncode == 0, sent.stderr
        assert "invalid" not in sent.stdout.lower()
        answer = ""
        for _ in range(50):  # the answer is posted to the response_url after the ack
            answer = subprocess.run(["/bin/bash", "-c", read_answer], capture_output=True,
                                    text=True, timeout=30, check=False).stdout
            if "1 pin" in answer:
                break
            threading.Event().wait(0.2)
        assert "1 pin" in answer and "hello-pinbot.txt" in answer, (text, answer)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        killer.cancel()
        proc.kill()
        proc.wait()
    assert list(tmp_path.iterdir()) == []
