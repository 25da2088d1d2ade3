"""The `pinbot` operator CLI, run as a real process against the W3IPFS emulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from aleph_cid import hash_folder

from bot.cid import cid_v1_of
from pinbot.emulators.w3ipfs import W3IPFSEmulator
from tests.conftest import API_KEY, SECRET_KEY
from tests.unit.test_cid import VECTORS


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)


def cli_env(url: str, **extra: str) -> dict[str, str]:
    ours = ("W3IPFS_", "SLACK_", "PINBOT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update({
        "W3IPFS_API_URL": url,
        "W3IPFS_API_KEY": API_KEY,
        "W3IPFS_SECRET_KEY": SECRET_KEY,
        "W3IPFS_GATEWAY_URL": "https://gw.example",
        "W3IPFS_MAX_RETRIES": "1",
    })
    env.update(extra)
    return env


async def pinbot(*args: str, env: dict[str, str], cwd: Path) -> Result:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pinbot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=cwd,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


@pytest.fixture
def env(w3ipfs: W3IPFSEmulator) -> dict[str, str]:
    root = Path(__file__).resolve().parents[2]
    return cli_env(w3ipfs.base_url, PYTHONPATH=str(root))


def assert_one_line_error(result: Result) -> None:
    assert "Traceback" not in result.err
    assert result.err.count("\n") == 1 and result.err.startswith("pinbot: error: ")
    assert SECRET_KEY not in result.err


async def test_check(env: dict[str, str], tmp_path: Path) -> None:
    ok = await pinbot("check", env=env, cwd=tmp_path)
    assert ok.code == 0 and "keys accepted" in ok.out
    as_json = await pinbot("check", "--json", env=env, cwd=tmp_path)
    assert as_json.json()["ok"] is True  # type: ignore[index]


async def test_check_with_bad_keys(env: dict[str, str], tmp_path: Path) -> None:
    bad = await pinbot("check", env={**env, "W3IPFS_SECRET_KEY": "wrong"}, cwd=tmp_path)
    assert bad.code == 4
    assert_one_line_error(bad)
    assert "rejected" in bad.err and "wrong" not in bad.err


async def test_unreachable_api(env: dict[str, str], tmp_path: Path) -> None:
    down = await pinbot("check", env={**env, "W3IPFS_API_URL": "http://127.0.0.1:9/api"},
                        cwd=tmp_path)
    assert down.code == 6
    assert_one_line_error(down)


async def test_missing_and_malformed_settings(env: dict[str, str], tmp_path: Path) -> None:
    no_key = {k: v for k, v in env.items() if k != "W3IPFS_API_KEY"}
    missing = await pinbot("pins", env=no_key, cwd=tmp_path)
    assert missing.code == 3
    assert_one_line_error(missing)
    assert "W3IPFS_API_KEY is not set" in missing.err
    bad = await pinbot("pins", env={**env, "PINBOT_PORT": "eighty"}, cwd=tmp_path)
    assert bad.code == 3 and "PINBOT_PORT" in bad.err and "eighty" not in bad.err
    assert_one_line_error(bad)


async def test_pin_file_verified(
    env: dict[str, str], tmp_path: Path, w3ipfs: W3IPFSEmulator
) -> None:
    path = tmp_path / "report.pdf"
    data = os.urandom(700_000)
    path.write_bytes(data)
    res = await pinbot("pin", str(path), "--meta", "team=infra", "--json", env=env, cwd=tmp_path)
    assert res.code == 0, res.err
    pin = res.json()
    assert isinstance(pin, dict)
    assert pin["cid"] == cid_v1_of(data) and pin["verified"] is True
    assert pin["metadata"]["name"] == "report.pdf"
    assert pin["metadata"]["keyvalues"] == {"team": "infra"}
    assert pin["gateway_url"] == f"https://gw.example/ipfs/{pin['cid']}"
    human = await pinbot("pin", str(path), "--name", "renamed.pdf", env=env, cwd=tmp_path)
    assert human.code == 0 and "renamed.pdf" in human.out and "yes" in human.out
    assert cid_v1_of(data) in human.out


async def test_pin_directory(env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "css" / "a.css").write_text("h1{}")
    res = await pinbot("pin", str(root), "--json", env=env, cwd=tmp_path)
    assert res.code == 0, res.err
    pin = res.json()
    assert isinstance(pin, dict)
    assert pin["is_dir"] is True and pin["cid"] == hash_folder(root, cid_version=1)
    empty = tmp_path / "empty"
    empty.mkdir()
    none = await pinbot("pin", str(empty), env=env, cwd=tmp_path)
    assert none.code == 2
    assert_one_line_error(none)


async def test_pin_cid(env: dict[str, str], tmp_path: Path, w3ipfs: W3IPFSEmulator) -> None:
    ok = await pinbot("pin", "--cid", VECTORS[0][1], "--name", "hello", "--json",
                      env=env, cwd=tmp_path)
    assert ok.code == 0
    assert ok.json()["is_pin_by_hash"] is True  # type: ignore[index]
    bad = await pinbot("pin", "--cid", "Qmnotacid", env=env, cwd=tmp_path)
    assert bad.code == 2 and "not a valid CID" in bad.err
    assert_one_line_error(bad)
    assert len(w3ipfs.api_requests("POST")) == 1  # the invalid CID never reached the API


async def test_pin_usage_errors(env: dict[str, str], tmp_path: Path) -> None:
    for args in (["pin"], ["pin", str(tmp_path / "missing")], ["pin", "x", "--meta", "novalue"]):
        res = await pinbot(*args, env=env, cwd=tmp_path)
        assert res.code == 2
        assert_one_line_error(res)


async def test_pins_list_and_info_and_unpin(env: dict[str, str], tmp_path: Path) -> None:
    ids = []
    for name, size in (("b.txt", 30), ("a.txt", 10), ("c.txt", 20)):
        (tmp_path / name).write_bytes(b"x" * size)
        res = await pinbot("pin", str(tmp_path / name), "--json", env=env, cwd=tmp_path)
        ids.append(res.json()["id"])  # type: ignore[index]
    listed = await pinbot("pins", "--sort", "size", "--order", "asc", "--json", env=env,
                          cwd=tmp_path)
    body = listed.json()
    assert isinstance(body, dict)
    assert body["totals"] == {"files": 3, "size": 60}
    assert [p["metadata"]["name"] for p in body["pins"]] == ["a.txt", "c.txt", "b.txt"]
    table = await pinbot("pins", "--sort", "name", env=env, cwd=tmp_path)
    assert table.code == 0 and "3 pins, 60 B" in table.out
    assert table.out.index("c.txt") < table.out.index("a.txt")  # name, descending

    info = await pinbot("pin-info", ids[0], env=env, cwd=tmp_path)
    assert info.code == 0 and "b.txt" in info.out and ids[0] in info.out
    missing = await pinbot("pin-info", "nope", env=env, cwd=tmp_path)
    assert missing.code == 5
    assert_one_line_error(missing)

    unpin = await pinbot("unpin", ids[0], "nope", ids[0], "--json", env=env, cwd=tmp_path)
    assert unpin.code == 5  # one id was unknown
    results = unpin.json()
    assert isinstance(results, list)
    assert [r["ok"] for r in results] == [True, False]
    unpinned = await pinbot("pins", "--status", "unpinned", "--json", env=env, cwd=tmp_path)
    assert [p["id"] for p in unpinned.json()["pins"]] == [ids[0]]  # type: ignore[index]
    limited = await pinbot("pins", "--limit", "2", "--json", env=env, cwd=tmp_path)
    assert len(limited.json()["pins"]) == 2  # type: ignore[index]
