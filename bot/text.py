"""User text made safe for Slack: the one place that decides how text pinbot did not write is shown.

Everything pinbot posts may carry such text: file names (chosen by whoever uploaded the file, in
any workspace sharing the account), `/pin` names, command echoes, metadata, search terms, ids.
In Slack's mrkdwn `<`, `>` and `&` make links and mentions (`<https://evil|Re-authorise pinbot>`,
`<!channel>`); a line break inside a name shown as a title starts a line that looks like
pinbot's own (":lock: *Verified*"); bidirectional controls reorder what follows them
(`report\u202eFDP.exe` reads as `report.exe.PDF`-ish). So every message goes through one of:

- `escape(text)`: someone else's text in mrkdwn: `&<>` escaped, bidi and other control
  characters removed, and every line break or tab made a space — pinbot never puts another's
  text on lines of its own, so one line is the safe default everywhere.
- `inline_name(text, limit)`: the same, cut to `limit` first (names, ids, echoes).
- `plain(text, limit)`: `plain_text` fields (headers, buttons, options, modal titles), where
  Slack shows `&<>` as they are but line breaks and bidi controls still act.

This module imports nothing from pinbot, so the parsers (`bot.commands`, `bot.slack_files`) can
use it as well as the renderers (`bot.blocks`).
"""

from __future__ import annotations

import re
import unicodedata

#: Explicit bidi embeddings, overrides and isolates, and the implicit marks (LRM, RLM, ALM).
BIDI_CONTROLS = frozenset(
    [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]
)
#: Characters that break a line in some renderer: LF, CR, VT, FF, NEL, LS, PS.
LINE_BREAKS = frozenset([0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0x2028, 0x2029])


def _table(inline: bool) -> dict[int, str | None]:
    table: dict[int, str | None] = {}
    for code in range(0xA0):  # every C0/C1 control and DEL
        if unicodedata.category(chr(code)) == "Cc":
            table[code] = None
    table[0x09] = " "
    for code in LINE_BREAKS:
        table[code] = " " if inline else "\n"
    for code in BIDI_CONTROLS:
        table[code] = None
    return table


_INLINE = str.maketrans(_table(inline=True))
_MULTILINE = str.maketrans(_table(inline=False))
_SPACES = re.compile(r" {2,}")
_MRKDWN = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def cut(text: str, limit: int) -> str:
    """At most `limit` characters; a cut is marked with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def neutralise(text: str, *, inline: bool = True) -> str:
    """Remove bidi and control characters; line breaks become spaces when `inline` (else
    they are normalised to `\n`, for a caller that lays out several lines itself).

    Runs of spaces left behind are collapsed, so a name of line breaks cannot push text out
    of sight either.
    """
    if inline:
        return _SPACES.sub(" ", text.translate(_INLINE)).strip()
    return text.replace("\r\n", "\n").translate(_MULTILINE)


def escape(text: str) -> str:
    """Someone else's text for mrkdwn: one line, `&<>` escaped (no links, mentions, dates),
    no bidi or control characters."""
    return neutralise(text).translate(_MRKDWN)


def inline_name(text: str, limit: int = 200) -> str:
    """A name, id or echo inside a line or as a title: one line, escaped, at most `limit`."""
    return cut(neutralise(text), limit).translate(_MRKDWN)


def plain(text: str, limit: int) -> str:
    """For `plain_text` objects: one line, no bidi or control characters, at most `limit`."""
    return cut(neutralise(text), limit)
