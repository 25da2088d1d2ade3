"""The upload step every pin job shares: idempotent, bounded, never blind.

A job may upload the same content more than once only after it has looked for the earlier
attempt at the service (by the job's upload key) and not found it. Each attempt is one POST;
between attempts the job gives its upload slot back (`Next("uploading", delay)`), so a service
that never answers costs at most `NO_ANSWER_ATTEMPTS` upload timeouts, and the person is told
why meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ..jobs import Lease
from ..permissions import team_mark
from ..slack_files import SlackDownloadError
from ..store import LedgerUnavailable
from ..w3ipfs import (
    NoAnswerError,
    Pin,
    RateLimitedError,
    W3IPFSClient,
    W3IPFSError,
    outcome_unknown,
)

log = logging.getLogger(__name__)

#: A job makes at most W3IPFS_MAX_RETRIES + 1 upload attempts (each one POST), of which at
#: most this many may end without any answer. So a service that never answers costs
#: NO_ANSWER_ATTEMPTS x W3IPFS_UPLOAD_TIMEOUT (20 min by default) before "Could not pin",
#: plus the backoffs between attempts (at most 20 s each); quick failures are retried more.
NO_ANSWER_ATTEMPTS = 2
#: A job rate-limited (429 after the client's own retries) more than W3IPFS_MAX_RETRIES
#: times, or asked to wait longer than this, gives up and says so.
MAX_THROTTLE_WAIT = 900.0


@dataclass(frozen=True, slots=True)
class Uploaded:
    pin: Pin
    #: The CID pinbot computed from the bytes it sent ("" when the pin was adopted).
    local_cid: str
    verified: bool | None
    adopted: bool = False


@dataclass(frozen=True, slots=True)
class TryAgain:
    """Not done, not failed: look again after `delay` (the slot is given back meanwhile)."""

    delay: float
    reason: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str  # for the log and the job record
    user_message: str


Outcome = Uploaded | TryAgain | Failed

#: Waits between attempts to record an outcome while the database is unreachable (the pin
#: exists; what only this run knows, such as the verified CID, is worth waiting for).
PERSIST_DELAYS = (0.5, 1, 2, 5, 10, 15, 30, 30, 60, 60, 120, 120, 300, 300)


async def patiently(write: Callable[[], Awaitable[object]]) -> None:
    """Retry a ledger write through a database outage (bounded); the last error propagates."""
    for delay in PERSIST_DELAYS:
        try:
            await write()
            return
        except LedgerUnavailable as exc:
            log.warning("recording deferred (database unreachable): %s", exc)
            await asyncio.sleep(delay)
    await write()
Send = Callable[[W3IPFSClient], Awaitable[Uploaded]]


#: What a job keeps of a pin (enough to render its card). Not the account's user id, nor
#: anything else the service sends that a job does not need to remember.
PIN_FIELDS = {"id", "cid", "size", "date_pinned", "date_unpinned", "pinned", "status",
              "sub_hash_status", "is_dir", "is_pin_by_hash", "metadata"}


def pin_to_json(pin: Pin) -> dict[str, Any]:
    return pin.model_dump(mode="json", include=PIN_FIELDS)


def pin_from_json(data: dict[str, Any]) -> Pin:
    return Pin.model_validate(data)


async def upload(lease: Lease, client: W3IPFSClient, send: Send) -> Outcome:
    """Look for an earlier attempt if there may be one; else make one more attempt."""
    job = lease.job
    if job.ambiguous or job.attempts > 0 or lease.started_in == "uploading":
        try:
            found = await client.find_upload(job.upload_key)
        except W3IPFSError as exc:
            failed = int(job.result.get("lookup_failures", 0)) + 1
            log.info("job %d: could not look for its earlier upload (%d): %s", job.id, failed,
                     exc)
            if failed > client.retry.max_retries:
                # Uploading again might make a second copy; looking forever never ends.
                return Failed(f"gave up after {failed} failed lookups ({exc})",
                              "pinbot could not check with the pinning service whether its "
                              "upload arrived, so it did not upload the file again. Please "
                              "try again later.")
            await lease.save(result={**job.result, "lookup_failures": failed})
            delay = getattr(exc, "retry_after", None) or client.retry.backoff(failed)
            return TryAgain(delay, exc.user_message, job.attempts)
        if found is not None and team_mark(found) != job.team_id:
            # Every pin a job makes carries its workspace's mark; one with another mark (or
            # none) was not made by this job, whatever key it carries: never adopt it.
            log.warning("job %d: pin %s carries its upload key but not its workspace's mark; "
                        "not adopted", job.id, found.id)
            found = None
        if found is not None:
            log.info("job %d: adopting its earlier upload %s", job.id, found.id)
            await lease.save(ambiguous=False)
            return Uploaded(found, local_cid="", verified=None, adopted=True)
    silent = int(job.result.get("no_answer", 0))
    if job.attempts > client.retry.max_retries or silent >= NO_ANSWER_ATTEMPTS:
        return Failed(f"gave up after {job.attempts} attempts ({job.error or 'no answer'})",
                      f"The pinning service is having trouble: pinbot tried {job.attempts} "
                      "times and gave up. Please try again later.")
    # Marked before the POST, so a later run knows to look first. If the database is down,
    # go on: a run that resumes an upload always looks first anyway (`started_in`).
    try:
        job = await lease.save(attempts=job.attempts + 1, ambiguous=True)
    except LedgerUnavailable as exc:
        log.warning("job %d: attempt not recorded (%s); uploading anyway", job.id, exc)
        job = replace(job, attempts=job.attempts + 1, ambiguous=True)
    try:
        done = await send(client)
    except SlackDownloadError as exc:
        return Failed(str(exc), exc.user_message)
    except W3IPFSError as exc:
        if isinstance(exc, RateLimitedError):
            # The service refused before acting: nothing to look for, just wait; but not
            # forever, and not longer than MAX_THROTTLE_WAIT at once.
            throttled = int(job.result.get("throttled", 0)) + 1
            wait = exc.retry_after or client.retry.backoff(throttled)
            await lease.save(ambiguous=False, attempts=job.attempts - 1, error=str(exc)[:500],
                             result={**job.result, "throttled": throttled})
            if throttled > client.retry.max_retries or wait > MAX_THROTTLE_WAIT:
                return Failed(f"rate limited {throttled} times, last asked to wait {wait:.0f} s",
                              "The pinning service keeps asking pinbot to slow down, so "
                              "nothing was pinned. Please try again later.")
            return TryAgain(wait, exc.user_message, job.attempts - 1)
        if outcome_unknown(exc):
            log.warning("job %d: upload attempt %d ended without an answer: %s", job.id,
                        job.attempts, exc)
            silent += isinstance(exc, NoAnswerError)
            await lease.save(error=str(exc)[:500],
                             result={**job.result, "no_answer": silent})
            # The next run looks for this attempt's pin first (and gives up after the last).
            return TryAgain(client.retry.backoff(job.attempts), exc.user_message, job.attempts)
        return Failed(str(exc), exc.user_message)
    return done  # the caller records it (with its state) in one write
