"""Production logging: JSON lines, and secrets scrubbed even if something tried to log them."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from pydantic import SecretStr

from bot import logs
from bot.logs import JSONFormatter, RedactingFilter


def render(record_args: tuple[object, ...], message: str, secrets: list[str],
           exc: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        if exc:
            try:
                raise RuntimeError(f"failed with {record_args[0]}")
            except RuntimeError:
                logger.exception(message)
        else:
            logger.warning(message, *record_args, extra={"file_id": "F1"})
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_known_secrets_and_token_shapes_are_scrubbed() -> None:
    line = render(("k-very-secret", "xoxb-123-456-abcdef", "xapp-1-A-2-b"),
                  "key=%s token=%s app=%s", ["k-very-secret"])
    entry = json.loads(line)
    assert entry["msg"] == "key=[redacted] token=[redacted] app=[redacted]"
    assert entry["level"] == "warning" and entry["file_id"] == "F1"
    assert "k-very-secret" not in line and "xoxb-123" not in line


def test_tracebacks_are_scrubbed_too() -> None:
    line = render(("k-very-secret",), "boom", ["k-very-secret"], exc=True)
    entry = json.loads(line)
    assert "RuntimeError" in entry["exc"] and "k-very-secret" not in line


@pytest.mark.parametrize("token", [
    "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "xoxp-2-3-4-abcdef", "xoxa-2-abc", "xoxr-abc-123", "xoxs-1-2-3", "xoxe-1-My0xLTIxNTk",
    "xoxe.xoxb-1-MS0yLTIxNTk5", "xoxe.xoxp-1-Mi0yLTE2OTQ", "xapp-1-A0PINBOT-1-deadbeef",
    "xoxc-1-2-3",
])
def test_every_slack_token_family_is_scrubbed(token: str) -> None:
    for text in (f"token={token}", f'{{"access_token": "{token}"}}', f"Bearer {token}.",
                 f"url=https://x/?t%3D{token}&y"):
        scrubbed = logs.scrub(text)
        assert token not in scrubbed and token[6:] not in scrubbed, scrubbed


@pytest.mark.parametrize(("text", "gone"), [
    ("GET /slack/oauth_redirect?code=1234.5678.9abc&state=s1", "1234.5678.9abc"),
    ("data: {'code': 'code-TALPHA-3', 'grant_type': 'authorization_code'}", "code-TALPHA-3"),
    ('{"code": "7d2c.a1b2", "client_secret": "cs-9911aa"}', "7d2c.a1b2"),
    ('{"code": "7d2c.a1b2", "client_secret": "cs-9911aa"}', "cs-9911aa"),
    ("request: {'code': ['c0de-from-the-query'], 'state': ['x']}", "c0de-from-the-query"),
    ("client_secret=cs-9911aa&client_id=111.222", "cs-9911aa"),
    ("'url': 'wss://wss-primary.slack.com/link/?ticket=5e3a-77b1&app_id=A0'", "5e3a-77b1"),
    ("engine postgresql+asyncpg://pinbot:db-pass-5521@db:5432/pinbot", "db-pass-5521"),
    ("redis://:redis-pass-9e2@cache:6379/0", "redis-pass-9e2"),
    ("headers: {'pinning_api_key': 'k-1234567', 'pinning_secret_key': 's-7654321'}",
     "s-7654321"),
])
def test_credential_fields_are_scrubbed_by_name(text: str, gone: str) -> None:
    scrubbed = logs.scrub(text)
    assert gone not in scrubbed and "[redacted]" in scrubbed
    assert logs.scrub(scrubbed) == scrubbed  # scrubbing twice changes nothing


def test_numbers_and_plain_words_are_left_alone() -> None:
    for text in ("HTTP status code=500", "exit code: 1", "the token was rotated",
                 "xoxb- alone is not a token", "https://gw.example/ipfs/bafy?x=1",
                 "postgresql+asyncpg://db/pinbot", "at 12:30:01 @alice"):
        assert logs.scrub(text) == text


def test_secrets_registered_at_runtime_are_scrubbed_in_every_form() -> None:
    key = "runtime key/with+odd&chars\"9"
    logs.add_secret(key, SecretStr("runtime-secret-2b7e"), None, "")
    for shown in (key, quote(key, safe=""), quote_plus(key), json.dumps(key)[1:-1],
                  "runtime-secret-2b7e"):
        assert shown not in logs.scrub(f"values: {shown}!"), shown


def test_short_values_are_not_registered() -> None:
    logs.add_secret("abc", "1234567")  # a real key is never this short; "abc" is everywhere
    assert logs.scrub("abc 1234567") == "abc 1234567"


def test_runtime_secrets_are_bounded() -> None:
    registry = logs._Registry()
    registry.add(["configured-secret-1"], pinned=True)
    for i in range(logs.MAX_RUNTIME_SECRETS + 1):
        registry.add([f"typed-in-secret-{i:05d}"], pinned=False)
    assert registry.scrub("typed-in-secret-00000") == "typed-in-secret-00000"  # the oldest
    assert registry.scrub("typed-in-secret-00001 configured-secret-1") == (
        "[redacted] [redacted]")


@pytest.mark.parametrize("message", [
    "Invalid request signature detected (signature: v0=abc, timestamp: 1, body: payload=%s)",
    "Received message (type: TEXT, data: '{\"payload\": \"%s\"}', extra: None, session: s1)",
    "Unsuccessful Bolt execution result (status: 400, body: %s)",
    "A global middleware (Foo) skipped calling either `next()` or `next_()` without "
    "providing a response for the request ({'view': '%s'})",
])
def test_library_lines_that_carry_a_body_are_cut(message: str) -> None:
    scrubbed = logs.scrub(message % "the-body-7a1c")
    assert "the-body-7a1c" not in scrubbed and scrubbed.endswith("[body not logged]")


def test_installed_redaction_scrubs_records_for_every_handler() -> None:
    """After `install()`, a handler without any filter (a test's caplog, a library's own
    handler) still only ever sees the scrubbed record."""
    logs.install()
    logs.add_secret("late-registered-secret-4f1d")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test.redaction.installed")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("rotated: %s", {"refresh_token": "xoxe-1-My0xLTI"})
        try:
            raise RuntimeError("late-registered-secret-4f1d")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "xoxe-1-My0xLTI" not in out and "late-registered-secret-4f1d" not in out
    assert "RuntimeError" in out and "[redacted]" in out


def test_extra_fields_are_scrubbed_by_the_handler_filter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("test.redaction.extra")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.info("download", extra={"url": "https://x/?code=c-77aa9&state=1",
                                        "token": "xoxb-1-2-abc"})
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["url"] == "https://x/?code=[redacted]&state=1"
    assert entry["token"] == "[redacted]"
