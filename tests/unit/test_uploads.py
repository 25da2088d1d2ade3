"""The upload step every pin job shares (bot/pins/uploads.py): idempotent, bounded, never blind.

Pure decisions, so the pinning service is a stand-in that answers as scripted and the lease
keeps the job record in memory. Each test drives a job through several runs the way the
runner would (a `TryAgain` is a new run, leased in state `uploading`) and checks what the
service would have seen: how many uploads, and which lookups came first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import pytest

from bot.jobs import Job, Lease, PinRequest
from bot.pins.uploads import (
    NO_ANSWER_ATTEMPTS,
    Failed,
    Outcome,
    TryAgain,
    Uploaded,
    pin_from_json,
    pin_to_json,
    upload,
)
from bot.slack_files import SlackDownloadError
from bot.store import LedgerUnavailable
from bot.w3ipfs import (
    AuthenticationError,
    NoAnswerError,
    PayloadTooLargeError,
    Pin,
    RateLimitedError,
    RequestRejectedError,
    RetryPolicy,
    ServerError,
    TransportError,
    W3IPFSClient,
)

RETRY = RetryPolicy(max_retries=3, backoff_base=0.01, backoff_max=0.05)
PIN = Pin(id="pin-1", cid="bafyfound", size=3)


def found_pin(pin_id: str = "pin-late", **marks: str) -> Pin:
    """An earlier upload of job 7 as a lookup finds it: its workspace's mark, its key."""
    keyvalues = {"slack_team": "T1", "pinbot_upload": "key-7f", **marks}
    return Pin.model_validate({"id": pin_id, "cid": "bafylate",
                               "metadata": {"keyvalues": keyvalues}})


def new_job(**values: Any) -> Job:
    job = Job(id=7, team_id="T1", kind="share", request_key="share:Ev1", state="uploading",
              request=PinRequest("share", "T1", "C1", "U1", file_id="F1"), pin_key="file:F1",
              pin_row_id=1, card_channel="C1", card_ts="1.1", attempts=0,
              upload_key="key-7f", ambiguous=False)
    return replace(job, **values)


class FakeLease(Lease):
    """The job record in memory; `down` makes writes fail as with the database away."""

    def __init__(self, job: Job, started_in: str = "queued", *, down: bool = False) -> None:
        self.job = job
        self.started_in = started_in
        self.down = down
        self.saves: list[dict[str, object]] = []

    async def save(self, **values: object) -> Job:
        if self.down:
            raise LedgerUnavailable("connection refused")
        self.saves.append(values)
        self.job = replace(self.job, **values)  # type: ignore[arg-type]
        return self.job


class Service:
    """The pinning service as `upload` uses it: lookups by upload key, and uploads."""

    def __init__(self, answers: Sequence[BaseException | Pin], *, found: Pin | None = None,
                 lookup_errors: Sequence[BaseException] = (), retry: RetryPolicy = RETRY
                 ) -> None:
        self.retry = retry
        self.answers = list(answers)
        self.found = found
        self.lookup_errors = list(lookup_errors)
        #: What happened, in order: ("lookup", key) and ("upload", job as recorded then).
        self.log: list[tuple[str, Any]] = []

    async def find_upload(self, upload_key: str) -> Pin | None:
        self.log.append(("lookup", upload_key))
        if self.lookup_errors:
            raise self.lookup_errors.pop(0)
        return self.found

    def sender(self, lease: FakeLease) -> Any:
        async def send(client: W3IPFSClient) -> Uploaded:
            self.log.append(("upload", lease.job))
            answer = self.answers.pop(0) if self.answers else PIN
            if isinstance(answer, BaseException):
                raise answer
            return Uploaded(answer, local_cid=answer.cid, verified=True)
        return send

    @property
    def uploads(self) -> int:
        return sum(1 for what, _ in self.log if what == "upload")

    @property
    def lookups(self) -> int:
        return sum(1 for what, _ in self.log if what == "lookup")

    @property
    def client(self) -> W3IPFSClient:
        return cast(W3IPFSClient, self)


async def run(service: Service, lease: FakeLease) -> Outcome:
    return await upload(lease, service.client, service.sender(lease))


async def run_until_settled(service: Service, job: Job, runs: int = 50
                            ) -> tuple[Outcome, list[Outcome], Job]:
    """Run as the runner would: after `TryAgain`, a new run that starts mid-upload."""
    lease = FakeLease(job, started_in=job.state if job.attempts else "queued")
    seen: list[Outcome] = []
    for _ in range(runs):
        outcome = await run(service, lease)
        seen.append(outcome)
        if not isinstance(outcome, TryAgain):
            return outcome, seen, lease.job
        lease = FakeLease(lease.job, started_in="uploading")
    raise AssertionError(f"not settled after {runs} runs: {seen[-3:]}")


async def test_a_first_attempt_uploads_once_without_looking() -> None:
    service = Service([PIN])
    outcome, _, job = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Uploaded) and outcome.pin == PIN and not outcome.adopted
    assert [what for what, _ in service.log] == ["upload"]
    # Recorded as "may have happened" before the bytes went out: a crash during the POST
    # leaves a record that makes the next run look first.
    _, at_upload = service.log[0]
    assert (at_upload.attempts, at_upload.ambiguous) == (1, True)
    assert job.attempts == 1


async def test_after_an_unknown_outcome_the_next_run_looks_before_uploading() -> None:
    service = Service([NoAnswerError("read timeout"), PIN])
    outcome, seen, _ = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(seen[0], TryAgain) and isinstance(outcome, Uploaded)
    assert [what for what, _ in service.log] == ["upload", "lookup", "upload"]
    assert service.log[1] == ("lookup", "key-7f")


async def test_an_earlier_upload_found_is_adopted_not_uploaded_again() -> None:
    """The service stored the upload but answered after the timeout: one pin, not two."""
    found = found_pin()
    service = Service([NoAnswerError("read timeout")], found=found)
    outcome, _, job = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Uploaded)
    assert outcome.adopted and outcome.pin == found and outcome.local_cid == ""
    assert service.uploads == 1
    assert job.ambiguous is False  # a later run must not look again for nothing


async def test_a_resumed_upload_looks_first_even_without_a_recorded_attempt() -> None:
    """SIGKILL between leasing and recording the attempt (or the database was down then):
    the run starts in `uploading`, so it looks before it uploads."""
    service = Service([], found=found_pin())
    outcome = await run(service, FakeLease(new_job(), started_in="uploading"))
    assert isinstance(outcome, Uploaded) and outcome.adopted
    assert service.uploads == 0


async def test_an_attempt_the_database_could_not_record_still_uploads() -> None:
    service = Service([PIN])
    outcome = await run(service, FakeLease(new_job(state="queued"), down=True))
    assert isinstance(outcome, Uploaded)
    assert service.uploads == 1


async def test_found_with_another_workspace_s_mark_is_not_adopted() -> None:
    """A pin carrying this job's upload key but not its workspace is not this job's pin
    (another workspace on the same account could have planted it): upload instead."""
    for planted in (found_pin(slack_team="T2"), found_pin(slack_team="")):
        service = Service([PIN], found=planted)
        outcome = await run(service, FakeLease(new_job(attempts=1, ambiguous=True)))
        assert isinstance(outcome, Uploaded) and outcome.pin == PIN and not outcome.adopted
        assert service.uploads == 1


async def test_rate_limits_wait_as_asked_and_use_up_no_attempt() -> None:
    """429s: the service did nothing, so they never count as upload attempts (nor make the
    next run suspect an earlier upload), and each run waits as long as it was asked."""
    limited = [RateLimitedError(retry_after=7.0) for _ in range(RETRY.max_retries)]
    service = Service([*limited, PIN])
    outcome, seen, job = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Uploaded)
    tries = [o for o in seen if isinstance(o, TryAgain)]
    assert [t.delay for t in tries] == [7.0] * len(limited)
    assert job.attempts == 1  # only the upload that succeeded counted
    assert service.uploads == len(limited) + 1


async def test_a_rate_limit_storm_ends_in_a_clear_failure() -> None:
    service = Service([RateLimitedError(retry_after=1.0)] * 50)
    outcome, _, _ = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Failed)
    assert service.uploads == RETRY.max_retries + 1
    assert "slow down" in outcome.user_message


async def test_a_rate_limit_asking_for_hours_fails_at_once() -> None:
    service = Service([RateLimitedError(retry_after=3 * 3600.0)])
    outcome, seen, _ = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Failed) and len(seen) == 1


async def test_a_service_that_never_answers_costs_two_upload_timeouts() -> None:
    """Documented bound: NO_ANSWER_ATTEMPTS x W3IPFS_UPLOAD_TIMEOUT, then a clear failure,
    however many retries W3IPFS_MAX_RETRIES allows."""
    service = Service([NoAnswerError("read timeout")] * 20,
                      retry=replace(RETRY, max_retries=10))
    outcome, _, _ = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Failed)
    assert service.uploads == NO_ANSWER_ATTEMPTS == 2
    assert "tried 2 times and gave up" in outcome.user_message


@pytest.mark.parametrize("max_retries", [0, 1, 3])
async def test_answered_failures_are_retried_up_to_max_retries(max_retries: int) -> None:
    """5xx and resets (the service answered, or the line dropped fast): W3IPFS_MAX_RETRIES
    more attempts, each after a lookup for the previous one, then "Could not pin"."""
    errors: list[BaseException] = [ServerError(status_code=502), TransportError("reset")]
    service = Service(errors * 10, retry=replace(RETRY, max_retries=max_retries))
    outcome, _, job = await run_until_settled(service, new_job(state="queued"))
    assert isinstance(outcome, Failed)
    assert service.uploads == max_retries + 1 == job.attempts
    # Every later attempt, and the final verdict, comes after a lookup for the last one.
    assert [what for what, _ in service.log] == ["upload", "lookup"] * (max_retries + 1)
    assert f"tried {max_retries + 1} times" in outcome.user_message


@pytest.mark.parametrize("error", [
    RequestRejectedError(status_code=400, server_message="bad metadata"),
    PayloadTooLargeError(status_code=413),
    AuthenticationError(status_code=401),
])
async def test_a_definite_refusal_fails_at_once_with_its_reason(error: Exception) -> None:
    service = Service([error])
    outcome, seen, _ = await run_until_settled(service, new_job(state="queued"))
    assert len(seen) == 1 and isinstance(outcome, Failed)
    assert outcome.user_message == error.user_message  # type: ignore[attr-defined]
    assert service.uploads == 1 and service.lookups == 0


async def test_a_slack_download_failure_fails_with_its_sentence() -> None:
    service = Service([SlackDownloadError("HTTP 404", "The file was deleted meanwhile.")])
    outcome = await run(service, FakeLease(new_job(state="queued")))
    assert isinstance(outcome, Failed)
    assert outcome.user_message == "The file was deleted meanwhile."


async def test_lookups_that_keep_failing_never_end_in_a_blind_upload() -> None:
    """Cannot tell whether the earlier upload arrived: uploading again might make a second
    pin, so after W3IPFS_MAX_RETRIES + 1 failed lookups the job fails, with no upload."""
    service = Service([], lookup_errors=[TransportError("refused")] * 50)
    outcome, seen, job = await run_until_settled(service, new_job(attempts=1, ambiguous=True))
    assert isinstance(outcome, Failed)
    assert service.uploads == 0
    assert service.lookups == RETRY.max_retries + 1
    assert len(seen) == RETRY.max_retries + 1
    assert "did not upload the file again" in outcome.user_message
    assert job.result["lookup_failures"] == RETRY.max_retries


async def test_a_lookup_that_recovers_goes_on_with_the_job() -> None:
    service = Service([PIN], lookup_errors=[TransportError("refused")])
    outcome, seen, _ = await run_until_settled(service, new_job(attempts=1, ambiguous=True))
    assert isinstance(seen[0], TryAgain) and isinstance(outcome, Uploaded)
    assert [what for what, _ in service.log] == ["lookup", "lookup", "upload"]


def test_a_pin_kept_by_a_job_round_trips_without_the_account_id() -> None:
    pin = Pin.model_validate({"id": "p1", "cid": "bafy1", "size": 3, "user_id": "acct-9",
                              "pinned": True, "metadata": {"name": "a.txt"}})
    kept = pin_to_json(pin)
    assert "user_id" not in kept  # a job record does not hold the account's id
    again = pin_from_json(kept)
    assert (again.id, again.cid, again.size, again.pinned, again.metadata.name) == (
        "p1", "bafy1", 3, True, "a.txt")
