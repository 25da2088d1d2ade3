"""Authenticate first: what `POST /slack/events` checks on the raw request before Bolt sees it.

Bolt parses a request's body (JSON, form, `payload=`) while it builds its request object, before
its signature middleware runs: an unsigned body that its parser or its context extraction
chokes on became a 500 with a traceback, and a body that failed the signature check was logged
whole at INFO (a `/pin setup` submission with its keys, or a megabyte of an attacker's bytes).
So the order here is: header formats, then the timestamp's age, then the body (size-capped by
the server's `client_max_size`), then the HMAC with slack_sdk's `SignatureVerifier` — and only a
signed body is parsed, with Bolt's own parser, and its shape checked (`bot.payloads`). Every
refusal is a `Rejected` with a status and a short reason for one log line; none carries the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import Clock, SignatureVerifier

from . import payloads

#: Largest request body accepted (aiohttp's `client_max_size`). Slack's requests are a few KiB:
#: a view submission with every input filled stays far below 100 KiB, an event envelope below
#: 50 KiB; 1 MiB leaves room and keeps what one request can make the server read small.
MAX_BODY = 1 << 20
#: Slack's replay window: a request signed more than this many seconds away from our clock is
#: refused, as Slack's documentation and slack_sdk's verifier do.
MAX_CLOCK_SKEW = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # Unix seconds; not `1e3`, `12.5`, ` 12` or `١٢`
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # v0= and an HMAC-SHA256 in hex


class Rejected(Exception):
    """A request refused before Bolt saw it."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    @property
    def public(self) -> str:
        """What the sender is told: no detail beyond the status's meaning."""
        return {400: "malformed request", 401: "invalid request"}.get(self.status, "refused")


class Gate:
    """Slack's request signing, checked in the order that parses nothing unauthenticated."""

    def __init__(self, signing_secret: str, clock: Clock | None = None) -> None:
        self.verifier = SignatureVerifier(signing_secret, clock or Clock())

    def check_headers(self, headers: Mapping[str, str]) -> tuple[str, str]:
        """The timestamp and signature, well-formed and within the replay window."""
        timestamp = headers.get("X-Slack-Request-Timestamp")
        signature = headers.get("X-Slack-Signature")
        if timestamp is None or signature is None:
            raise Rejected(401, "unsigned: no X-Slack-Signature or X-Slack-Request-Timestamp")
        if not _TIMESTAMP.fullmatch(timestamp):
            raise Rejected(400, "malformed X-Slack-Request-Timestamp (not Unix seconds)")
        skew = self.verifier.clock.now() - int(timestamp)
        if abs(skew) > MAX_CLOCK_SKEW:
            raise Rejected(401, f"timestamp {skew:+.0f} s from this server's clock (more than "
                                f"{MAX_CLOCK_SKEW} s: a replay, or a clock that is off)")
        return timestamp, signature

    def verify(self, raw: bytes, timestamp: str, signature: str) -> str:
        """The body as text, once its signature is Slack's."""
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8") from None
        # The format first: hmac.compare_digest raises on a non-ASCII str.
        if not _SIGNATURE.fullmatch(signature) or not self.verifier.is_valid(
                body, timestamp, signature):
            raise Rejected(401, "bad signature")
        return body


def bolt_request(body: str, query: str, headers: Mapping[str, str]) -> AsyncBoltRequest:
    """Bolt's request for a signed body, or `Rejected` (400) if Bolt could not handle it."""
    try:
        request = AsyncBoltRequest(body=body, query=query, headers=dict(headers))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        # Bolt's parser (json, `payload=`) and its context extraction, on a signed body.
        raise Rejected(400, f"unparseable body ({type(exc).__name__})") from None
    reason = payloads.problem(request.body)
    if reason is not None:
        raise Rejected(400, reason)
    return request
