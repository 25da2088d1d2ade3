"""create_app: the Bolt AsyncApp, built from settings and injected services."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from .services import Services
from .settings import Settings

log = logging.getLogger(__name__)


def create_slack_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: honours SLACK_API_URL and waits out 429s (Retry-After)."""
    assert settings.slack_bot_token is not None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
    )
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client's (identical) token wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def create_app(settings: Settings, services: Services) -> AsyncApp:
    settings.require("slack_bot_token", "slack_signing_secret")
    assert settings.slack_signing_secret is not None
    bolt_logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _SameTokenNotice) for f in bolt_logger.filters):
        bolt_logger.addFilter(_SameTokenNotice())
    app = AsyncApp(
        client=create_slack_client(settings),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Listeners are ack + lazy pairs (handlers/): the ack half runs inline and the
        # response leaves as soon as it returns; the work runs lazily afterwards.
        process_before_response=True,
        logger=bolt_logger,
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        # Listeners report expected failures themselves; this is for bugs. Bolt answers Slack.
        log.error("unhandled error in a listener: %r (type=%s)", error, body.get("type"))

    from handlers import register_all

    register_all(app, services)
    return app
