"""`pinbot audit` and `pinbot export`: the ledger, read from a terminal, never written.

Both open the database as it is (`bot.store.readonly`: no SQLite file created, no migration),
and print nothing secret: the pinning keys are only sent to the service.

`pinbot audit` exits 0 when the ledger and the service agree, 1 when there is drift, and 2 on a
usage or configuration error, or when the database or the service cannot be reached (or
refuses a workspace's keys): then the audit is incomplete, whatever drift it printed.
`pinbot export` exits 0, or 2 on bad input (`--since`, `--team`); a database that cannot be
opened is the CLI's usual 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore

from .export_format import ExportWriter, parse_since
from .ids import is_slack_id
from .keys import KeyVault, KeyVaultError
from .pins.accounts import Accounts
from .pins.audit import AuditRun, Drift, audit_ledger, shown
from .settings import ConfigError, Settings
from .slack.clients import installed_teams
from .store import Ledger, LedgerUnavailable, PinRecord, SchemaError
from .store.export import LedgerExport
from .store.ledger import DB_ERRORS, reason
from .store.readonly import open_existing
from .units import parse_duration, spoken_duration
from .w3ipfs import W3IPFSClient

AUDIT_CLEAN, AUDIT_DRIFT, AUDIT_FAILED = 0, 1, 2
EXPORT_USAGE = 2


def _error(message: str) -> None:
    sys.stderr.write(f"pinbot: error: {message}\n")


def duration_arg(text: str) -> float:
    """An argparse type: a duration in the project's one syntax (`30m`, `12h`, `2d`)."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a duration (e.g. 45s, 30m, 12h, 2d)") from None
    if seconds <= 0:
        raise argparse.ArgumentTypeError("the duration must be more than 0 seconds")
    return seconds


# -- audit ---------------------------------------------------------------------------------


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    try:
        settings.require("w3ipfs_api_key", "w3ipfs_secret_key")
        ledger = await open_existing(settings.database_url)
    except (ConfigError, LedgerUnavailable, SchemaError) as exc:
        _error(str(exc))
        return AUDIT_FAILED
    try:
        run = await _audit(settings, ledger, args)
    except (LedgerUnavailable, KeyVaultError) as exc:
        _error(str(exc))
        return AUDIT_FAILED
    finally:
        await ledger.close()
    if args.json:
        sys.stdout.write(json.dumps(_audit_json(run), indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_audit_summary(run, args.stuck_after) + "\n")
    for team, why in run.errors.items():
        _error(f"workspace {team} not audited: {why}")
    if run.errors:
        return AUDIT_FAILED
    return AUDIT_DRIFT if run.drift else AUDIT_CLEAN


async def _audit(settings: Settings, ledger: Ledger, args: argparse.Namespace) -> AuditRun:
    vault = KeyVault(settings.encryption_key) if settings.encryption_key else None
    async with W3IPFSClient.from_settings(settings) as client:
        return await audit_ledger(
            ledger, Accounts(client, ledger, vault), rate_per_minute=settings.api_rate,
            stuck_after=args.stuck_after, installed=await _installed(settings, ledger),
            on_drift=None if args.json else _print_drift)


def _print_drift(drift: Drift) -> None:
    sys.stdout.write(drift.line() + "\n")
    sys.stdout.flush()


async def _installed(settings: Settings, ledger: Ledger) -> set[str] | None:
    """OAuth: the workspaces pinbot is installed in (an uninstalled one's keys are gone, so
    its pins cannot be asked about). One workspace: None, nothing to look up."""
    if not settings.oauth:
        return None
    assert settings.slack_client_id is not None
    store = AsyncSQLAlchemyInstallationStore(settings.slack_client_id, ledger.engine)
    try:
        return set(await installed_teams(store))
    except DB_ERRORS as exc:
        raise LedgerUnavailable(reason(exc)) from None


def _audit_json(run: AuditRun) -> dict[str, Any]:
    return {
        "ok": not run.drift and not run.errors, "checked": run.checked,
        "workspaces": run.workspaces, "counts": run.counts(),
        "drift": [d.as_json() for d in run.drift],
        "skipped": run.skipped, "errors": run.errors,
        "elsewhere": [_elsewhere_json(r) for r in run.elsewhere],
    }


def _elsewhere_json(record: PinRecord) -> dict[str, Any]:
    """A pin made with keys its workspace no longer uses (its account's fingerprint, which
    is not the key)."""
    return {"team": record.team_id, "pin_id": record.pin_id, "cid": record.cid,
            "name": record.name, "ledger_state": record.state, "account": record.account,
            "channel": record.channel_id, "user": record.user_id,
            "created": record.created_at.isoformat(), "row": record.id}


def _elsewhere_line(record: PinRecord) -> str:
    """One line for a terminal, what came from outside escaped as in `Drift.line`."""
    return (f"elsewhere {shown(record.team_id)} {shown(record.pin_id or f'row-{record.id}')} "
            f"{record.name[:200]!r}: made with pinning keys the workspace no longer uses "
            f"(account {shown(record.account or '')}); not asked")


def _audit_summary(run: AuditRun, stuck_after: float) -> str:
    lines = [f"skipped  {team}: {why}" for team, why in run.skipped.items()]
    lines += [_elsewhere_line(r) for r in run.elsewhere]
    where = f"{run.workspaces} workspace{'' if run.workspaces == 1 else 's'}"
    found = ", ".join(f"{n} {kind}" for kind, n in run.counts().items())
    away = len(run.elsewhere)
    lines.append(f"checked {run.checked} pin{'' if run.checked == 1 else 's'} in {where}: "
                 + (f"drift: {found} (stuck: still pinning or pending after "
                    f"{spoken_duration(stuck_after)})" if run.drift else "no drift")
                 + (f"; {away} pin{'' if away == 1 else 's'} in an account no longer "
                    "configured (made with pinning keys the workspace no longer uses; not "
                    "drift, not asked)" if away else ""))
    return "\n".join(lines)


# -- export --------------------------------------------------------------------------------


async def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError as exc:
            _error(f"--since: {exc}")
            return EXPORT_USAGE
    if args.team is not None and not is_slack_id(args.team):
        _error(f"--team: {args.team[:40]!r} is not a workspace id (e.g. T0123ABCD)")
        return EXPORT_USAGE
    ledger = await open_existing(settings.database_url)
    writer = ExportWriter(sys.stdout, args.format)
    try:
        async for batch in LedgerExport(ledger).batches(team_id=args.team, since=since):
            writer.write(batch)
    finally:
        await ledger.close()
    writer.close()
    return 0


def add_parsers(add: Any, json_flag: Any) -> None:
    """The two subcommands, on `pinbot`'s parser (`add(name, help)` makes one)."""
    p = add("audit", "compare the ledger with the pinning service and print the drift "
                     "(read-only; exit 0 none, 1 drift, 2 error)")
    p.add_argument("--stuck-after", type=duration_arg, default=24 * 3600.0, metavar="DURATION",
                   help="a pin still pinning (or a claim pending) this long is stuck "
                        "(default 24h)")
    json_flag(p)
    p.set_defaults(handler=None, ledger_command=cmd_audit)

    p = add("export", "write the ledger to stdout, one row per pin (CSV or JSON)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", type=str.lower)
    p.add_argument("--team", metavar="T", help="only this workspace (its id, e.g. T0123ABCD)")
    p.add_argument("--since", metavar="DATE",
                   help="only pins made at or after this ISO date or date-time (UTC unless "
                        "it says otherwise)")
    p.set_defaults(handler=None, ledger_command=cmd_export)
