"""Structured logs: one JSON object per line, with secrets scrubbed before anything is written.

JSON lines because a Slack bot runs as a service whose logs go to a collector. Redaction is a
second line of defence behind `SecretStr`: whatever a library logs (slack_sdk logs whole Web API
requests and responses at DEBUG, `oauth.v2.access` included; Bolt and the Socket Mode client log
request bodies), these never reach the output:

- secret values the process knows: the configured ones (`configure`) and, from the moment they
  are read, each workspace's pinning keys (`add_secret`, called by the `/pin setup` handler and
  by `bot.pins.accounts` after decrypting);
- anything shaped like a Slack token, of every family (`xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`,
  `xoxs-`, `xoxe-` refresh tokens, `xoxe.xoxb-`/`xoxe.xoxp-` rotating tokens, `xapp-`);
- the values of credential-named fields (`code=`, `client_secret`, `refresh_token`, a Socket
  Mode `ticket=`, a command's or button's `response_url`, …) in URLs, form bodies, JSON and
  Python reprs — an OAuth code is short-lived but still a credential — and the password in a
  URL (`postgresql://u:…@host`);
- Slack webhook URLs (`https://hooks.slack.com/…`), and any URL in `slack_sdk.webhook`'s
  lines: a `response_url` lets whoever holds it post as pinbot to that person for 30 minutes,
  and a job keeps it in its record (`/pin CID` answers through it);
- whole request bodies in the library log lines known to carry them: they are cut, since a body
  can hold anything (a modal's pinning keys, a megabyte of an attacker's bytes).

`install()` applies this to every log record as it is created (a record factory), so every
handler — the production one, a test's caplog — sees the scrubbed record; the handler filter also
covers `extra=` fields, which are set after the record is created.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import SecretStr

REDACTED = "[redacted]"

#: Slack tokens of every family: `xox?-…` and rotating `xoxe.xox?-…`, and app-level `xapp-…`.
_TOKEN_SHAPES = re.compile(r"(?:xox[a-z]|xapp)(?:\.xox[a-z])?-[A-Za-z0-9_-]+")
_CREDENTIAL_NAMES = (
    r"code|client_secret|refresh_token|access_token|bot_token|user_token|app_token|token"
    r"|signing_secret|pinning_api_key|pinning_secret_key|api_key|secret_key|ticket|password"
    r"|response_url"
)
_VALUE_END = r"&\s'\",;)\]}"
#: `code=…` in a URL or form body (up to the next separator); a number is left alone.
_CREDENTIAL_PARAM = re.compile(
    rf"(?i)\b({_CREDENTIAL_NAMES})=(?!\[redacted\]|[0-9]+(?:[{_VALUE_END}]|$))[^{_VALUE_END}]+")
#: `"code": "…"` in JSON, `'code': '…'` (or `['…']`, a parsed query) in a Python repr.
_CREDENTIAL_FIELD = re.compile(
    rf"""(?i)(["'])({_CREDENTIAL_NAMES})\1(\s*:\s*\[?)(["'])(?:(?!\4).)*\4""")
#: The password in a URL's userinfo (`postgresql://user:…@host`, `redis://:…@host`).
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):(?!\[redacted\]@)[^@/\s]+@")
#: A Slack webhook (a `response_url`, an incoming webhook): the URL is the credential.
_WEBHOOK_URL = re.compile(r"https?://hooks\.slack(?:-gov)?\.com/[^\s'\",;)\]}]+")
#: Any URL, in the lines of the logger that only ever talks to webhooks.
_ANY_URL = re.compile(r"https?://[^\s'\",;)\]}]+")
_WEBHOOK_LOGGERS = "slack_sdk.webhook"
#: Library log lines that carry a whole request body (or Socket Mode message): the body is cut.
_BODY_LINES = re.compile(
    r"(?s)^(Invalid request signature detected"          # slack_bolt, failed signature
    r"|A global middleware \(\S+\) skipped calling"        # slack_bolt, with the body
    r"|Received message \(type: \S+,"                      # slack_sdk socket mode, raw data
    r"|Unsuccessful Bolt execution result"                 # slack_bolt socket mode
    r"|[Rr]equest body:)"                                  # Bolt's documented error handler
    r".*"
)
#: Secrets shorter than this are not registered: a real key never is, and scrubbing a short
#: string would mangle every log line that happens to contain it.
MIN_SECRET = 8
#: Runtime secrets (keys typed into `/pin setup`, decrypted ones; each in up to 4 forms) kept
#: for redaction. The least recently seen go first, so an admin pasting garbage again and
#: again cannot grow this, nor the time every log line takes to scrub, without bound.
MAX_RUNTIME_SECRETS = 1024
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class _Registry:
    """The secret values this process must never write.

    Scrubbing is a substring search per secret: faster than one regex alternation of them all
    (which Python's `re` tries position by position), and the list is short.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._runtime: OrderedDict[str, None] = OrderedDict()
        self._all: tuple[str, ...] = ()  # longest first, replaced whole on change

    def add(self, values: Iterable[str], *, pinned: bool) -> None:
        with self._lock:
            changed = False
            for value in values:
                for form in _forms(value):
                    if pinned:
                        changed |= form not in self._pinned
                        self._pinned.add(form)
                    elif form in self._runtime:
                        self._runtime.move_to_end(form)
                    else:
                        self._runtime[form] = None
                        changed = True
            while len(self._runtime) > MAX_RUNTIME_SECRETS:
                self._runtime.popitem(last=False)
            if changed:
                self._all = tuple(sorted(self._pinned | set(self._runtime), key=len,
                                         reverse=True))

    def scrub(self, text: str) -> str:
        for secret in self._all:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _forms(value: str) -> set[str]:
    """The value as it may appear in a log: as is, URL-encoded, JSON-escaped."""
    if len(value) < MIN_SECRET:
        return set()
    return {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}


_REGISTRY = _Registry()


def add_secret(*values: str | SecretStr | None) -> None:
    """Never write these values from now on (a workspace's pinning keys, once read)."""
    _REGISTRY.add((v.get_secret_value() if isinstance(v, SecretStr) else v
                   for v in values if v), pinned=False)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with body-carrying library lines cut and every known or shaped secret replaced."""
    text = _BODY_LINES.sub(lambda m: m.group(1) + " [body not logged]", text)
    text = _CREDENTIAL_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    text = _WEBHOOK_URL.sub(REDACTED, text)
    text = _CREDENTIAL_FIELD.sub(
        lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{REDACTED}"
                  f"{m.group(4)}", text)
    for secret in extra:
        text = text.replace(secret, REDACTED)
    text = _REGISTRY.scrub(text)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def _scrub_record(record: logging.LogRecord, extra: Iterable[str] = ()) -> None:
    """Replace the record's message, traceback and stack with their scrubbed text."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a malformed call: still scrub what it would show
        message = f"{record.msg} {record.args}"
    scrubbed = scrub(message, extra)
    if record.name.startswith(_WEBHOOK_LOGGERS):
        scrubbed = _ANY_URL.sub(REDACTED, scrubbed)
    if scrubbed != message or record.args:
        record.msg, record.args = scrubbed, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info), extra)
        record.exc_info = None
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text, extra)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info, extra)


class RedactingFilter(logging.Filter):
    """Handler filter: scrub the record (again) and its `extra=` fields, plus `secrets`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        return scrub(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_record(record, self.secrets)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        return True


_installed: list[Callable[..., logging.LogRecord]] = []


def install() -> None:
    """Scrub every log record as it is created, whichever handler ends up writing it.

    Idempotent. `configure` calls it; the test suite calls it too, so that what its log checks
    see is what production would write.
    """
    if _installed:
        return
    base = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = base(*args, **kwargs)
        _scrub_record(record)
        return record

    _installed.append(base)
    logging.setLogRecordFactory(factory)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure(level: str = "INFO", secrets: Iterable[str] = (), *, json_lines: bool = True) -> None:
    """Production logging: one stderr handler, records scrubbed, `secrets` never written."""
    secrets = [s for s in secrets if s]
    _REGISTRY.add(secrets, pinned=True)
    install()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(
        JSONFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
