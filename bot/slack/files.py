"""Reading files from Slack's Web API: one file, a message's files, files shared since a time.

Every files.* / conversations.* read the use cases make goes through here, so Slack's errors
are mapped once: to a sentence for the person (`FileUnreadable`) or to "nothing found".
(The bytes themselves come from `bot.slack_files.SlackDownloader`.)
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from ..slack_files import SlackFile
from ..text import escape

log = logging.getLogger(__name__)

SLACK_ERRORS = (SlackApiError, SlackClientError, OSError)
#: files.list paging: this many files a page, at most this many pages per window (a window
#: with more is listed again below its oldest file), at most this many windows per pass.
LIST_PAGE, LIST_MAX_PAGES, LIST_MAX_WINDOWS = 200, 50, 20


def slack_error(exc: BaseException) -> str:
    """Slack's error code (`file_not_found`…), or the exception's kind for transport errors."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error", "unknown_error"))
    return type(exc).__name__


#: files.info errors that say "not now" rather than "never": a job asks again later.
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout"})


class FileUnreadable(Exception):
    """files.info failed: `user_message` is the sentence for the person who asked;
    `transient` when Slack (or the way to it) had trouble, so asking later may work."""

    def __init__(self, error: str, user_message: str, *, transient: bool = False) -> None:
        super().__init__(error)
        self.user_message = user_message
        self.transient = transient


async def file_info(client: AsyncWebClient, file_id: str) -> SlackFile:
    """The file as files.info describes it. Raises `FileUnreadable`."""
    try:
        info = await client.files_info(file=file_id)
    except SLACK_ERRORS as exc:
        error = slack_error(exc)
        log.warning("files.info %s failed: %s", file_id, error)
        if error in ("file_not_found", "file_deleted"):
            text = "The file you shared was deleted before pinbot could pin it."
        else:
            text = ("pinbot could not read the file you shared "
                    f"(Slack said `{escape(error)}`), so it was not pinned.")
        transient = error in TRANSIENT_ERRORS or not isinstance(exc, SlackApiError)
        raise FileUnreadable(error, text, transient=transient) from None
    return SlackFile.from_api(info.get("file") or {})


async def message_files(client: AsyncWebClient, channel: str, ts: str) -> list[SlackFile]:
    """The files of one message (channel history, or its thread when it is a reply)."""
    try:
        history = await client.conversations_history(
            channel=channel, latest=ts, oldest=ts, inclusive=True, limit=1)
        messages = history.get("messages") or []
        if not messages:
            replies = await client.conversations_replies(channel=channel, ts=ts, limit=1)
            messages = [m for m in replies.get("messages") or [] if m.get("ts") == ts]
    except SLACK_ERRORS as exc:
        log.warning("reading message %s/%s failed: %s", channel, ts, slack_error(exc))
        return []
    files = (messages[0].get("files") if messages else None) or []
    return [SlackFile.from_api(f) for f in files if isinstance(f, dict) and f.get("id")]


async def files_shared(client: AsyncWebClient, since: datetime, until: datetime
                       ) -> list[tuple[SlackFile, datetime]] | None:
    """Files shared in the workspace between two times (files.list, paged), with when each
    was shared; None when Slack did not answer (the caller retries later).

    files.list lists newest first and pages are capped, so a window holding more files than
    the cap is listed again below the oldest file seen, until it is complete: the caller
    moves its watermark past everything in [since, until], and a file left unlisted there
    would never be pinned.
    """
    found: dict[str, tuple[SlackFile, datetime]] = {}
    upper = until
    for _ in range(LIST_MAX_WINDOWS):
        window = await _list_window(client, since, upper)
        if window is None:
            return None
        files, complete = window
        for file, created in files:
            found.setdefault(file.id, (file, created))
        if complete:
            return list(found.values())
        oldest = min((created for _, created in files), default=upper)
        if oldest >= upper:
            break  # a whole window of files in one second: no way past it
        upper = oldest
    log.warning("files.list: more files since %s than one pass lists; trying again later",
                since.isoformat())
    return None


async def _list_window(client: AsyncWebClient, since: datetime, until: datetime
                       ) -> tuple[list[tuple[SlackFile, datetime]], bool] | None:
    """Up to LIST_MAX_PAGES pages of [since, until], and whether that was every page."""
    found: list[tuple[SlackFile, datetime]] = []
    for page in range(1, LIST_MAX_PAGES + 1):
        try:
            response = await client.files_list(
                ts_from=str(int(since.timestamp())), ts_to=str(int(until.timestamp()) + 1),
                count=LIST_PAGE, page=page)
        except SLACK_ERRORS as exc:
            log.warning("files.list failed: %s", slack_error(exc))
            return None
        for data in response.get("files") or []:
            if not isinstance(data, dict) or not data.get("id"):
                continue
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                created = datetime.fromtimestamp(
                    float(data.get("timestamp") or data.get("created") or 0), UTC)
                found.append((SlackFile.from_api(data), created))
        paging = response.get("paging")
        pages = paging.get("pages") if isinstance(paging, dict) else None
        if not response.get("files") or not str(pages or 1).isdigit() or page >= int(
                str(pages or 1)):
            return found, True
    return found, False
