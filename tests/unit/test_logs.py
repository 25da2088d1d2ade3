"""Production logging: JSON lines, and secrets scrubbed even if something tried to log them."""

from __future__ import annotations

import io
import json
import logging

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
