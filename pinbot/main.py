"""`pinbot`: the command line, with the Slack listeners wired in.

`bot/` never imports `handlers/` (the listeners depend on the core, not the other way round);
this is the one module that knows both, and hands the listeners' registrar (and `pinbot demo`,
which runs them against the emulators) to the core.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot import cli
from handlers import register_all
from pinbot import demo


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(argv, register=register_all, demo=demo.run)
