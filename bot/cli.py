"""The `pinbot` command: run the bot, and operate the pinning account from a terminal.

Errors are one line on stderr, never a traceback; exit codes let scripts tell failures apart:

    0 ok · 1 other pinning error · 2 usage or invalid input · 3 configuration
    4 keys rejected · 5 not found · 6 service unavailable (unreachable, 5xx, rate limited)

`pinbot check` exits with the code of its first failed check in the order it prints them:
3 a setting missing or malformed, 4 a key or token refused, 6 a service unreachable, 1 anything
else (a Slack scope missing, a database schema not at the latest revision).

`pinbot audit` has its own three (bot.cli_ledger): 0 no drift, 1 drift, 2 it could not tell
(usage, configuration, the database or the service unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from . import __doc__ as package_doc
from . import checks, cli_ledger, logs
from .app import Registrar
from .cid import InvalidCIDError, StreamingCID, parse_cid, same_content
from .format import gateway_link, human_size, short_cid, short_date
from .keys import KeyVaultError
from .queue import QueueUnavailable
from .server import rotate_keys, secrets_of, serve, upgrade_database
from .settings import ConfigError, Settings, load_settings
from .store import LedgerUnavailable, SchemaError
from .w3ipfs import (
    AuthenticationError,
    DirectoryEntry,
    MalformedResponseError,
    NotFoundError,
    Pin,
    RateLimitedError,
    ServerError,
    TransportError,
    W3IPFSClient,
    W3IPFSError,
)
from .w3ipfs.gateways import GatewayResolver
from .w3ipfs.multipart import open_source
from .worker import run_worker

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CONFIG, EXIT_AUTH, EXIT_NOT_FOUND, EXIT_UNAVAILABLE = range(7)


class CLIError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def exit_code_for(exc: W3IPFSError) -> int:
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, TransportError | ServerError | RateLimitedError | MalformedResponseError):
        return EXIT_UNAVAILABLE
    return EXIT_ERROR


def parse_meta(items: Sequence[str]) -> dict[str, str]:
    """`--meta k=v` pairs into keyvalues; a malformed pair is a usage error."""
    meta: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"--meta expects KEY=VALUE, got {item!r}", EXIT_USAGE)
        meta[key.strip()] = value
    return meta


def pin_to_json(pin: Pin, gateway_url: str | None = None) -> dict[str, Any]:
    data = pin.model_dump(mode="json")
    data["state"] = pin.state.value
    if gateway_url and pin.cid:
        data["gateway_url"] = gateway_link(gateway_url, pin.cid)
    return data


def directory_entries(root: Path) -> list[DirectoryEntry]:
    """Every regular file under `root`, in a stable order, with paths relative to it."""
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            entries.append(DirectoryEntry(rel, path, path.stat().st_size))
    return entries


class Output:
    """Tables for people, JSON for scripts; progress only when stderr is a terminal."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False)

    def json(self, data: Any) -> None:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def pin_card(self, pin: Pin, gateway_url: str, verified: bool | None = None) -> None:
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        table.add_row("Name", pin.name or "—")
        table.add_row("CID", pin.cid or "—")
        table.add_row("Pin id", pin.id)
        table.add_row("Status", pin.display_status)
        table.add_row("Size", human_size(pin.size))
        if pin.is_dir:
            table.add_row("Kind", "directory")
        table.add_row("Pinned", short_date(pin.date_pinned))
        if pin.date_unpinned:
            table.add_row("Unpinned", short_date(pin.date_unpinned))
        if pin.cid:
            table.add_row("Gateway", gateway_link(gateway_url, pin.cid))
        if verified is not None:
            table.add_row(
                "Verified",
                "yes: the CID matches the bytes sent" if verified
                else "NO: the service's CID differs from the bytes sent",
            )
        self.out.print(table)

    def pins_table(self, pins: list[Pin], files: int, size: int) -> None:
        table = Table(title=f"{files} pins, {human_size(size)}", title_justify="left")
        for col in ("Pin id", "Name", "CID", "Size", "Pinned", "Status"):
            table.add_column(col, overflow="fold")
        for pin in pins:
            table.add_row(
                pin.id,
                pin.name or "—",
                short_cid(pin.cid),
                human_size(pin.size),
                short_date(pin.date_pinned),
                pin.display_status,
            )
        self.out.print(table)

    def progress(self, total: int | None, label: str) -> Progress | None:
        if self.as_json or not self.err.is_terminal:
            return None
        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        progress.add_task(label, total=total)
        return progress


#: `pinbot check`: the exit code of a failed check, by what failed (the first failure wins).
CHECK_EXIT = {"config": EXIT_CONFIG, "rejected": EXIT_AUTH, "unavailable": EXIT_UNAVAILABLE,
              "error": EXIT_ERROR}


async def cmd_check(settings: Settings, args: argparse.Namespace) -> int:
    """One line per configured thing (✓ / ✗ / · not configured); the first failure, again,
    as the one-line error on stderr, and its exit code."""
    out = Output(args.json)
    results, message = await checks.run_all(settings)
    failed = [c for c in results if c.status == "fail"]
    if out.as_json:
        out.json({
            "ok": not failed, "api_url": settings.w3ipfs_api_url, "message": message,
            "checks": [{"name": c.name, "status": c.status, "detail": c.detail}
                       for c in results],
        })
    else:
        for check in results:
            out.out.print(check.line, markup=False)
    if not failed:
        return EXIT_OK
    first = failed[0]
    sys.stderr.write(f"pinbot: error: {first.name}: {first.detail}\n")
    return CHECK_EXIT[first.failure or "error"]


async def cmd_pin(client: W3IPFSClient, settings: Settings, args: argparse.Namespace) -> int:
    out = Output(args.json)
    meta = parse_meta(args.meta)
    if args.cid:
        if args.path:
            raise CLIError("give either PATH or --cid, not both", EXIT_USAGE)
        try:
            parse_cid(args.cid)
        except InvalidCIDError as exc:
            raise CLIError(f"{args.cid!r} is {exc}", EXIT_USAGE) from None
        pin = await client.pin_by_hash(args.cid, meta or None, name=args.name or args.cid)
        await _show_pin(out, pin, client, settings, None)
        return EXIT_OK
    if not args.path:
        raise CLIError("give a PATH to upload, or --cid CID", EXIT_USAGE)
    path = Path(args.path)
    if not path.exists():
        raise CLIError(f"{path}: no such file or directory", EXIT_USAGE)
    if path.is_dir():
        entries = directory_entries(path)
        if not entries:
            raise CLIError(f"{path}: the directory has no files to pin", EXIT_USAGE)
        total = sum(e.size or 0 for e in entries)
        name = args.name or path.resolve().name
        progress = out.progress(total, name)
        with progress or _null():
            pin = await client.pin_directory(
                name, entries, meta or None, on_progress=_advance(progress)
            )
        await _show_pin(out, pin, client, settings, None)
        return EXIT_OK
    size = path.stat().st_size
    name = args.name or path.name
    progress = out.progress(size, name)
    hashers: list[StreamingCID] = []

    def source() -> AsyncIterable[bytes]:
        hashers.append(StreamingCID())  # a retry re-reads the file, so it hashes afresh
        return open_source(path)

    with progress or _null():
        pin = await client.pin_file(
            source, name, size, meta or None,
            on_chunk=lambda chunk: hashers[-1].update(chunk), on_progress=_advance(progress),
        )
    verified = same_content(hashers[-1].finalize(), pin.cid) if pin.cid else None
    await _show_pin(out, pin, client, settings, verified)
    return EXIT_OK if verified is not False else EXIT_ERROR


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _advance(progress: Progress | None) -> Callable[[int], None] | None:
    if progress is None:
        return None
    task = progress.task_ids[0]

    def update(done: int) -> None:
        progress.update(task, completed=done)

    return update


def _gateway(client: W3IPFSClient, settings: Settings) -> Awaitable[str]:
    """W3IPFS_GATEWAY_URL, else the account's own gateway, else the public one."""
    return GatewayResolver(settings.w3ipfs_gateway_url).url_for(client)


async def _show_pin(out: Output, pin: Pin, client: W3IPFSClient, settings: Settings,
                    verified: bool | None) -> None:
    gateway = await _gateway(client, settings)
    if out.as_json:
        data = pin_to_json(pin, gateway)
        if verified is not None:
            data["verified"] = verified
        out.json(data)
    else:
        out.pin_card(pin, gateway, verified)


async def cmd_pins(client: W3IPFSClient, settings: Settings, args: argparse.Namespace) -> int:
    out = Output(args.json)
    pinned = {"all": "all", "pinned": "true", "unpinned": "false"}[args.status]
    pins: list[Pin] = []
    totals = None
    async for page in client.iter_pages(
        page_size=100, pinned=pinned, sort_by=args.sort, sort_order=args.order.upper()  # type: ignore[arg-type]
    ):
        totals = totals or page.totals
        pins.extend(page.pins)
        if args.limit and len(pins) >= args.limit:
            pins = pins[: args.limit]
            break
    files = totals.files if totals else 0
    size = totals.size if totals else 0
    if out.as_json:
        gateway = await _gateway(client, settings)
        out.json({
            "totals": {"files": files, "size": size},
            "pins": [pin_to_json(p, gateway) for p in pins],
        })
    else:
        out.pins_table(pins, files, size)
    return EXIT_OK


async def cmd_pin_info(client: W3IPFSClient, settings: Settings, args: argparse.Namespace) -> int:
    out = Output(args.json)
    pin = await client.get_pin(args.pin_id)
    await _show_pin(out, pin, client, settings, None)
    return EXIT_OK


async def cmd_unpin(client: W3IPFSClient, settings: Settings, args: argparse.Namespace) -> int:
    out = Output(args.json)
    results: list[dict[str, Any]] = []
    code = EXIT_OK
    for pin_id in dict.fromkeys(args.pin_ids):  # once each, in the order given
        try:
            pin = await client.unpin(pin_id)
        except NotFoundError:
            results.append({"id": pin_id, "ok": False, "error": "not found"})
            code = max(code, EXIT_NOT_FOUND) if code in (EXIT_OK, EXIT_NOT_FOUND) else code
            if not out.as_json:
                out.err.print(f"{pin_id}: no such pin")
            continue
        results.append({"id": pin_id, "ok": True, "pin": pin_to_json(pin)})
        if not out.as_json:
            out.out.print(f"{pin_id}: unpinned ({pin.name or short_cid(pin.cid)})")
    if out.as_json:
        out.json(results)
    return code


async def _with_client(
    settings: Settings,
    command: Callable[[W3IPFSClient, Settings, argparse.Namespace], Awaitable[int]],
    args: argparse.Namespace,
) -> int:
    async with W3IPFSClient.from_settings(settings) as client:
        return await command(client, settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pinbot",
        description=(package_doc or "").strip(),
        epilog="Settings come from the environment and .env; see the README.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log retries and requests")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        return p

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = add("serve", "run the Slack bot (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    p.set_defaults(handler=None)

    p = add("worker", "run upload jobs from Redis (needs PINBOT_REDIS_URL)")
    p.set_defaults(handler=None)

    p = add("keys", "per-workspace pinning keys")
    p.add_argument("keys_command", choices=("rotate",), metavar="rotate",
                   help="re-encrypt every stored key pair with the first PINBOT_ENCRYPTION_KEY")
    p.set_defaults(handler=None)

    p = add("db", "database maintenance")
    p.add_argument("db_command", choices=("upgrade",), metavar="upgrade",
                   help="apply schema migrations (serve also does this at start)")
    p.set_defaults(handler=None)

    p = add("demo", "see pinbot work with no Slack app, no W3IPFS account and no settings: "
                    "the real app against the built-in emulators on 127.0.0.1")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files to share (default: a generated sample)")
    p.add_argument("--keep-running", action="store_true",
                   help="leave the bot and the emulators up and print how to talk to them")
    p.set_defaults(handler=None)

    p = add("check", "check everything that is configured: pinning keys, Slack token and "
                     "scopes, signing secret or app token, database, Redis, encryption key")
    json_flag(p)
    p.set_defaults(handler=None)

    p = add("pin", "pin a file or a directory (PATH), or existing content (--cid)")
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("--cid", help="pin this CID instead of uploading")
    p.add_argument("--name", help="name to record (default: the file or directory name)")
    p.add_argument(
        "--meta", action="append", default=[], metavar="KEY=VALUE",
        help="metadata keyvalue (repeatable)",
    )
    json_flag(p)
    p.set_defaults(handler=cmd_pin)

    p = add("pins", "list the account's pins")
    p.add_argument("--status", choices=("all", "pinned", "unpinned"), default="all")
    p.add_argument("--sort", choices=("created_at", "size", "name"), default="created_at")
    p.add_argument("--order", choices=("asc", "desc"), default="desc", type=str.lower)
    p.add_argument("--limit", type=int, default=0, help="at most this many (default: all)")
    json_flag(p)
    p.set_defaults(handler=cmd_pins)

    p = add("pin-info", "show one pin")
    p.add_argument("pin_id", metavar="PIN_ID")
    json_flag(p)
    p.set_defaults(handler=cmd_pin_info)

    p = add("unpin", "unpin one or more pins")
    p.add_argument("pin_ids", nargs="+", metavar="PIN_ID")
    json_flag(p)
    p.set_defaults(handler=cmd_unpin)

    cli_ledger.add_parsers(add, json_flag)
    return parser


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"pinbot: error: {message}\n")
    raise SystemExit(code)


#: `pinbot demo`, given by the entry point: it needs the listeners and the emulators.
Demo = Callable[[argparse.Namespace], int]


def main(
    argv: Sequence[str] | None = None, *, register: Registrar | None = None,
    demo: Demo | None = None,
) -> None:
    """The `pinbot` command. `register` (the Slack listeners) and `demo` are given by the entry
    point, `pinbot.main`, which is the one place that joins `bot` and `handlers`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Retries and warnings are logged; a terminal user wants only the outcome unless asked.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "demo":  # before any setting is read: the demo uses none
        if demo is None:
            _fail("run the demo with `pinbot demo` (or `python -m pinbot demo`)", EXIT_CONFIG)
        raise SystemExit(demo(args))
    try:
        settings = load_settings()
        if args.command == "serve":
            if register is None:
                raise CLIError("run the bot with `pinbot serve` (or `python -m pinbot serve`)",
                               EXIT_CONFIG)
            serve(settings, register)
            return
        if args.command == "worker":
            settings.require("redis_url")
            logs.configure(settings.log_level, secrets_of(settings))
            run_worker(settings)
            return
        if args.command == "keys":
            count = rotate_keys(settings)
            sys.stdout.write(f"re-encrypted {count} workspace key pair(s) with the first key\n")
            return
        if args.command == "db":
            revision = upgrade_database(settings)
            sys.stdout.write(f"database schema at revision {revision} (latest)\n")
            return
        if getattr(args, "ledger_command", None) is not None:
            code = asyncio.run(args.ledger_command(settings, args))
        elif args.command == "check":
            code = asyncio.run(cmd_check(settings, args))
        else:
            code = asyncio.run(_with_client(settings, args.handler, args))
    except (ConfigError, LedgerUnavailable, SchemaError, QueueUnavailable,
            KeyVaultError) as exc:
        _fail(str(exc), cli_ledger.AUDIT_FAILED if args.command == "audit" else EXIT_CONFIG)
    except CLIError as exc:
        _fail(str(exc), exc.code)
    except W3IPFSError as exc:
        _fail(str(exc), exit_code_for(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        os._exit(EXIT_OK)  # output piped into `head`: not an error
    raise SystemExit(code)

