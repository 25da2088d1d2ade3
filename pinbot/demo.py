"""`pinbot demo`: see pinbot work with no Slack app, no W3IPFS account, no settings, no network.

The project's own Slack and W3IPFS emulators run in this process on 127.0.0.1; the real app —
the same `build_web_app` and listeners `pinbot serve` runs — answers Slack-shaped requests signed
with a throw-away signing secret, exactly as Slack would send them. Files are shared, `/pins` is
run, and the conversation is printed as a person would read it in Slack, with a Block Kit Builder
link per message to see it rendered.

The ledger is SQLite in a temporary folder, removed on exit: nothing is written to the working
directory, and neither the environment nor a `.env` file is read (a demo must not pick up a real
token or database by accident).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import secrets
import shlex
import sys
import tempfile
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from aiohttp import web
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from slack_sdk.signature import SignatureVerifier

from bot.server import build_web_app, until_signalled
from bot.services import Services
from bot.settings import Settings
from handlers import register_all
from pinbot.emulators.slack import FakeFile, SlackEmulator
from pinbot.emulators.w3ipfs import W3IPFSEmulator

BUILDER = "https://app.slack.com/block-kit-builder/#"
SAMPLE_NAME = "hello-pinbot.txt"
SAMPLE = (
    b"Hello from pinbot!\n\n"
    b"This file was shared in a pretend Slack channel, streamed into a pretend pinning service,\n"
    b"and its CID was computed from these very bytes on the way.\n"
)
CHANNEL, USER = "C0GENERAL", "UALICE"
#: Larger files are refused before anything starts: the demo holds each file in memory.
MAX_DEMO_BYTES = 256 * 1024 * 1024
CID_PATTERN = re.compile(r"\b(bafy[a-z2-7]{50,}|bafk[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})\b")


class DemoError(Exception):
    """A demo argument cannot be used (a path that is not a readable file)."""


@dataclass
class Stage:
    """Everything the demo started, for talking to it and shutting it down."""

    slack: SlackEmulator
    w3ipfs: W3IPFSEmulator
    services: Services
    runner: web.AppRunner
    url: str
    signing_secret: str
    http: httpx.AsyncClient

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    async def settle(self) -> None:
        """Wait until every job the app started has finished (cards, status follow-ups)."""
        for _ in range(3):
            await asyncio.sleep(0.05)
            await self.services.tasks.join(60)
            if self.services.runner is not None:
                await self.services.runner.join(60)

    async def post(self, body: str, content_type: str) -> httpx.Response:
        """POST `body` to the app signed as Slack signs: HMAC-SHA256 over `v0:ts:body`."""
        ts = str(int(time.time()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(
            timestamp=ts, body=body) or ""  # None only without a secret, never here
        return await self.http.post(self.events_url, content=body, headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature})


def read_files(paths: list[str]) -> list[tuple[str, bytes]]:
    """The files to share: the given paths, or one generated sample (nothing read from cwd)."""
    if not paths:
        return [(SAMPLE_NAME, SAMPLE)]
    files = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise DemoError(f"{raw}: not a file (give files to share, or nothing for a sample)")
        if path.stat().st_size > MAX_DEMO_BYTES:
            raise DemoError(f"{raw}: over the demo's limit of 256 MiB")
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            raise DemoError(f"{raw}: cannot be read ({exc.strerror})") from None
    return files


class CodeOnlySettings(Settings):
    """Settings from code alone: no environment variable, no `.env`, no secrets folder.

    `env_file=None` as well as the sources below: pydantic-settings reads the `.env` file while
    building its sources, before they are chosen, so a `.env` that is not UTF-8 (or not
    readable) in the working directory stopped the demo with a traceback.
    """

    model_config = SettingsConfigDict(env_file=None, secrets_dir=None)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def demo_settings(slack: SlackEmulator, w3ipfs: W3IPFSEmulator, key: str, secret: str,
                  signing_secret: str, folder: Path) -> Settings:
    """The demo's settings, all chosen here (a real token or database around is ignored)."""
    return CodeOnlySettings.model_validate({
        "w3ipfs_api_url": w3ipfs.base_url, "w3ipfs_api_key": key, "w3ipfs_secret_key": secret,
        "slack_bot_token": slack.bot_token, "slack_signing_secret": signing_secret,
        "slack_api_url": slack.api_url, "download_hosts": ["127.0.0.1"],
        "database_url": f"sqlite+aiosqlite:///{folder / 'pinbot.db'}",
        "host": "127.0.0.1", "port": 0, "auto_pin": "all", "catchup_interval": 0,
        "log_level": "ERROR",
    })


@contextlib.asynccontextmanager
async def stage(folder: Path) -> AsyncIterator[Stage]:
    """Start both emulators and the real app on 127.0.0.1 (free ports); stop all on exit."""
    key, secret = "demo-" + secrets.token_hex(8), secrets.token_hex(16)
    signing_secret = secrets.token_hex(16)
    slack = SlackEmulator()
    w3ipfs = W3IPFSEmulator({key: secret}, temp_dir=str(folder))
    await slack.start()
    await w3ipfs.start()
    slack.add_user(USER)
    settings = demo_settings(slack, w3ipfs, key, secret, signing_secret, folder)
    services = await Services.create(settings)
    runner = web.AppRunner(build_web_app(settings, services, register_all), access_log=None)
    http = httpx.AsyncClient(timeout=30)
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        yield Stage(slack, w3ipfs, services, runner, f"http://127.0.0.1:{port}",
                    signing_secret, http)
    finally:
        await http.aclose()
        await runner.cleanup()  # closes the services too
        await w3ipfs.stop()
        await slack.stop()


# -- talking to the app as Slack does -----------------------------------------------------

async def share(st: Stage, name: str, data: bytes) -> FakeFile:
    """A person shares a file in #general: Slack sends `file_shared`; pinbot answers."""
    fake = st.slack.add_file(name, data, user=USER, channel=CHANNEL)
    envelope = {
        "token": "demo", "team_id": st.slack.team_id, "api_app_id": "A0PINBOT",
        "type": "event_callback", "event_id": f"Ev{secrets.token_hex(8).upper()}",
        "event_time": int(time.time()),
        "event": {"type": "file_shared", "channel_id": CHANNEL, "file_id": fake.id,
                  "user_id": USER, "file": {"id": fake.id}, "event_ts": f"{time.time():.6f}"},
        "authorizations": [{"team_id": st.slack.team_id, "user_id": st.slack.bot_user_id,
                            "is_bot": True, "is_enterprise_install": False}],
    }
    response = await st.post(json.dumps(envelope), "application/json")
    response.raise_for_status()
    await st.settle()
    return fake


def command_form(st: Stage, command: str, text: str, response_url: str) -> str:
    return urlencode({
        "token": "demo", "team_id": st.slack.team_id, "team_domain": "example",
        "channel_id": CHANNEL, "channel_name": "general", "user_id": USER, "user_name": "alice",
        "command": command, "text": text, "api_app_id": "A0PINBOT",
        "response_url": response_url, "trigger_id": "1.2.demo",
    })


async def slash(st: Stage, command: str, text: str = "") -> list[dict[str, Any]]:
    """A person types a slash command: what came back (the ack, then the response_url posts)."""
    response_url = st.slack.response_url()
    response = await st.post(command_form(st, command, text, response_url),
                             "application/x-www-form-urlencoded")
    response.raise_for_status()
    answers = [response.json()] if response.content else []
    await st.settle()
    return answers + st.slack.response_posts(response_url)


# -- printing the conversation -------------------------------------------------------------

def _texts(value: Any) -> Iterator[str]:
    """Readable text of a block, in order: text objects, fields, context, button labels."""
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value["text"]
            return
        if value.get("type") == "button":
            label = value.get("text", {}).get("text", "")
            yield f"[ {label} ]"
            return
        for key in ("text", "fields", "elements"):  # as Slack lays a block out
            yield from _texts(value.get(key))
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def visible(text: str, keep: str = "\n") -> str:
    """`text` safe to print on a terminal: control and format characters shown as escapes.

    File names and message text come from outside; an ESC in a file name would otherwise drive
    the terminal (colours, the window title, worse), and a bidi override would reorder the line.
    """
    return "".join(
        ch if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp")
        else ascii(ch)[1:-1] for ch in text)


def readable(message: dict[str, Any]) -> str:
    blocks = message.get("blocks") or []
    lines = [" · ".join(_texts(block)) for block in blocks] if blocks else [
        str(message.get("text", ""))]
    return "\n".join("    " + line.replace("\n", "\n    ") for line in lines if line)


def builder_link(blocks: list[dict[str, Any]]) -> str:
    """Block Kit Builder renders a message from the URL fragment: its JSON, URL-encoded."""
    return BUILDER + quote(json.dumps({"blocks": blocks}, separators=(",", ":")), safe="")


def show(title: str, message: dict[str, Any]) -> None:
    print(visible(f"  {title}"))
    print(visible(readable(message)))
    if message.get("blocks"):
        print(f"    ↪ see it rendered: {builder_link(message['blocks'])}")


def report_share(st: Stage, fake: FakeFile) -> bool:
    """Print the file's thread; True when its card shows a CID and says it is verified."""
    print(f"\n@alice shares {visible(fake.name, keep='')} ({fake.size} bytes) in #general")
    replies = st.slack.thread(fake.channel, fake.ts)
    ephemeral = [m for m in st.slack.ephemeral if m.get("user") == USER]
    for message in replies:
        first = message.get("history", [{}])[0].get("text", "")
        note = f" (first \"{first}\", then updated in place)" if first else ""
        show(f"pinbot replies in the thread{note}:", message)
    for message in ephemeral:
        show("pinbot tells @alice privately:", message)
    st.slack.ephemeral.clear()
    card = "\n".join(json.dumps(m, ensure_ascii=False) for m in replies)
    cid = CID_PATTERN.search(card)
    verified = "Verified" in card and "Not verified" not in card
    if cid:
        print(f"  → CID {cid.group(1)} · "
              + ("verified: it is the CID of the bytes pinbot sent" if verified
                 else "NOT verified"))
    else:
        print("  → no CID: pinbot did not pin this file (see its reply above)")
    return bool(cid) and verified


def curl_examples(st: Stage) -> str:
    """How to talk to the running bot from a shell: a signed `/pins`, signed by openssl."""
    response_url = st.slack.response_url()
    body = command_form(st, "/pins", "", response_url)
    return "\n".join([
        "",
        "pinbot and the emulators keep running (Ctrl-C stops them and deletes the temporary",
        "database):",
        f"  pinbot (Slack events)   {st.events_url}",
        f"  Slack Web API emulator  {st.slack.api_url}",
        f"  W3IPFS API emulator     {st.w3ipfs.base_url}",
        "",
        "Run /pins as Slack would send it: signed with the signing secret over `v0:ts:body`",
        "(pinbot refuses a request more than 5 minutes old, so each run signs afresh):",
        "",
        f"  body={shlex.quote(body)}",
        "  ts=$(date +%s)",
        "  sig=v0=$(printf 'v0:%s:%s' \"$ts\" \"$body\" | openssl dgst -sha256 -hmac "
        f"{shlex.quote(st.signing_secret)} | sed 's/^.*= //')",
        f"  curl -s {st.events_url} -H \"X-Slack-Request-Timestamp: $ts\" \\",
        "       -H \"X-Slack-Signature: $sig\" --data \"$body\"",
        "",
        "pinbot answers through the command's response_url; read what it posted with:",
        f"  curl -s {response_url}",
        "",
        "Share another file: register it with the Slack emulator, then send the signed",
        "file_shared event the same way (see pinbot/demo.py `share`):",
        f"  curl -s {st.slack.api_url.removesuffix('/api/')}/_emulator/files "
        "-H 'Content-Type: application/json' --data '{\"name\": \"big.bin\", \"size\": 1048576}'",
    ])


async def demo(paths: list[str], keep_running: bool) -> int:
    files = read_files(paths)
    with tempfile.TemporaryDirectory(prefix="pinbot-demo-") as tmp:
        async with stage(Path(tmp)) as st:
            print("pinbot demo — the real app against pretend Slack and W3IPFS on 127.0.0.1;")
            print("nothing leaves this machine, and the pins are not on the real IPFS network.")
            results = [report_share(st, await share(st, name, data)) for name, data in files]
            print("\n@alice types /pins")
            for answer in await slash(st, "/pins"):
                show("pinbot answers (only @alice sees it):", answer)
            print(f"\n{sum(results)} of {len(results)} file(s) pinned and verified.")
            if keep_running:
                print(curl_examples(st), flush=True)
                await until_signalled()
    return 0


def run(args: argparse.Namespace) -> int:
    """`pinbot demo [PATH ...] [--keep-running]`; exit 0, or 2 with one line for a bad path."""
    try:
        return asyncio.run(demo(list(args.paths), args.keep_running))
    except DemoError as exc:
        sys.stderr.write(f"pinbot: error: {exc}\n")
        return 2
