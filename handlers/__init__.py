"""Slack listeners only: one module per feature, each with `register(app, services)`.

Listeners ack first (Slack's 3-second budget), parse with pure functions from `bot.commands`,
call one use case (`bot.pins.*`, built by `bot.services`), and reply with messages
rendered by `bot.blocks`.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services

from . import (
    actions,
    cleanup,
    files,
    home,
    keys,
    pin,
    pins,
    reactions,
    replays,
    retention,
    shortcuts,
    unpin,
)


def register_all(app: AsyncApp, services: Services) -> None:
    for module in (replays, files, pin, pins, unpin, actions, reactions, shortcuts, home,
                   cleanup, keys, retention):
        module.register(app, services)
