"""create_app: the Bolt AsyncApp, built from settings and injected services."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore

from . import payloads
from .blocks import notice_modal
from .services import Services
from .settings import Settings
from .slack.clients import create_slack_client

log = logging.getLogger(__name__)


BOT_SCOPES = (
    "files:read", "chat:write", "commands", "users:read", "reactions:write", "reactions:read",
    "channels:history", "groups:history",
)


class _SameTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client's (identical) token wins."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def create_oauth_flow(settings: Settings, services: Services) -> AsyncOAuthFlow:
    """Bolt's install flow (`/slack/install`, `/slack/oauth_redirect`) on our database."""
    assert settings.slack_client_id and settings.slack_client_secret is not None
    assert services.installations is not None
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        installation_store=services.installations,
        installation_store_bot_only=True,
        state_store=AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600,
                                                   engine=services.ledger.engine),
        token_rotation_expiration_minutes=120,
    )
    return AsyncOAuthFlow(client=create_slack_client(settings), settings=oauth_settings)


class _CheckedApp(AsyncApp):
    """Bolt's app, refusing a payload its listeners could not navigate (`bot.payloads`)
    before its own middleware indexes into it (`body["actions"][0]`, `body["event"].get`).

    Over HTTP, `bot.inbound` refused these before Bolt parsed anything; Socket Mode payloads
    come through the websocket with no such gate, and stop here.
    """

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        reason = payloads.problem(req.body)
        if reason is not None:
            log.warning("refused a malformed payload: %s", reason)
            return BoltResponse(status=400, body={"error": "malformed request"})
        return await super().async_dispatch(req)


_SORRY = ("Sorry, pinbot hit an unexpected error and could not finish that. It has been "
          "logged; please try again, and tell an admin if it keeps happening.")
#: What a person sees when a listener fails unexpectedly, by payload type (else a plain ack).
_FAILURE_ACKS = {
    "slash_command": json.dumps({"response_type": "ephemeral", "text": _SORRY}),
    "view_submission": json.dumps({"response_action": "update",
                                   "view": notice_modal("pinbot", _SORRY)}),
}


#: Registers the listeners on the app. The entry point passes `handlers.register_all`:
#: `bot/` never imports `handlers/`.
Registrar = Callable[[AsyncApp, Services], None]


def create_app(settings: Settings, services: Services, register: Registrar) -> AsyncApp:
    settings.require("slack_signing_secret")
    if not settings.oauth:
        settings.require("slack_bot_token")
    assert settings.slack_signing_secret is not None
    bolt_logger = logging.getLogger("slack_bolt")
    if not any(isinstance(f, _SameTokenNotice) for f in bolt_logger.filters):
        bolt_logger.addFilter(_SameTokenNotice())
    client = create_slack_client(settings)
    authorize = None
    if settings.oauth:
        assert services.installations is not None and settings.slack_client_secret is not None
        # Built here (not by Bolt) so token rotation calls Slack through SLACK_API_URL too.
        authorize = AsyncInstallationStoreAuthorize(
            logger=bolt_logger,
            installation_store=services.installations,
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret.get_secret_value(),
            token_rotation_expiration_minutes=120,
            bot_only=True,
            client=client,
        )
    app = _CheckedApp(
        client=client,
        authorize=authorize,  # type: ignore[arg-type]  # Bolt accepts AsyncAuthorize too
        oauth_flow=create_oauth_flow(settings, services) if settings.oauth else None,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        # Listeners are ack + lazy pairs (handlers/): the ack half runs inline and the
        # response leaves as soon as it returns; the work runs lazily afterwards.
        process_before_response=True,
        logger=bolt_logger,
    )

    @app.error
    async def on_error(error: Exception, body: dict[str, Any],
                       response: BoltResponse | None) -> BoltResponse | None:
        """A bug (listeners report expected failures themselves): one line, and a kind ack.

        No body and no traceback in the log. The person gets a sentence instead of Slack's
        generic failure; an event keeps Bolt's 500, so that Slack delivers it again.
        """
        kind = str(body.get("type") or ("slash_command" if body.get("command") else ""))
        log.error("unhandled error in a listener: %r (type=%s)", error, kind)
        if response is None or kind == "event_callback":
            return None
        return BoltResponse(status=200, body=_FAILURE_ACKS.get(kind, ""),
                            headers={"content-type": "application/json"})

    register(app, services)
    return app
