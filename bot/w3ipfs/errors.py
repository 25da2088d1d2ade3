"""One exception hierarchy for everything the pinning API can do wrong.

Modelled on httpx: callers catch `W3IPFSError` for "anything", or a subclass for a decision
(re-ask for keys, back off, tell the user the file is too big). Every error carries
`user_message`, a sentence fit to show a Slack user as is; `str(exc)` is the detailed
operator-facing text for logs. Neither ever contains the pinning keys.
"""

from __future__ import annotations


class W3IPFSError(Exception):
    """Base class: the pinning API call did not succeed."""

    user_message = "The pinning service could not complete the request."
    retryable = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        status_code: int | None = None,
        server_message: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.server_message = server_message
        text = detail or self.user_message
        if status_code is not None:
            text = f"{text} (HTTP {status_code})"
        if server_message:
            text = f"{text}: {server_message}"
        super().__init__(text)


class AuthenticationError(W3IPFSError):
    """HTTP 401/403: the pinning keys are wrong, revoked, or lack permission."""

    user_message = (
        "The pinning service rejected pinbot's API keys. An admin needs to check "
        "W3IPFS_API_KEY and W3IPFS_SECRET_KEY."
    )


class NotFoundError(W3IPFSError):
    """HTTP 404: no pin with that id on this account."""

    user_message = "No pin with that id exists on this account."


class PayloadTooLargeError(W3IPFSError):
    """HTTP 413: the service refused the upload's size."""

    user_message = "The pinning service refused the file because it is too large."


class RequestRejectedError(W3IPFSError):
    """Any other 4xx: the service understood the request and said no (409 duplicate, 400 …)."""

    user_message = "The pinning service rejected the request."

    @property
    def is_conflict(self) -> bool:
        return self.status_code == 409


class RateLimitedError(W3IPFSError):
    """HTTP 429 after retries ran out (or the wait asked for was longer than we allow)."""

    user_message = "The pinning service is busy (rate limit reached). Please try again shortly."
    retryable = True

    def __init__(
        self,
        detail: str | None = None,
        *,
        retry_after: float | None = None,
        status_code: int | None = 429,
        server_message: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(detail, status_code=status_code, server_message=server_message)


class ServerError(W3IPFSError):
    """HTTP 5xx after retries ran out."""

    user_message = "The pinning service is having trouble right now. Please try again later."
    retryable = True


class TransportError(W3IPFSError):
    """The service could not be reached, hung up, or timed out (after retries)."""

    user_message = "The pinning service could not be reached. Please try again later."
    retryable = True


class NoAnswerError(TransportError):
    """The request went out and the service did not answer within the timeout."""

    user_message = "The pinning service did not answer in time. Please try again later."


class MalformedResponseError(W3IPFSError):
    """A reply that is not the documented JSON: HTML from a proxy, non-JSON, `status` != success."""

    user_message = "The pinning service sent an unexpected reply. Please try again later."
    retryable = True


def outcome_unknown(error: W3IPFSError) -> bool:
    """Whether a request that changes state may have taken effect although it failed.

    A timeout, a reset or a 5xx after the body went out, or a reply we could not read: the
    service may have stored the upload. Such a request is never simply sent again; the caller
    looks for its effect first (see `W3IPFSClient.find_upload`).
    """
    return isinstance(error, TransportError | ServerError | MalformedResponseError)


class UploadSourceError(W3IPFSError):
    """The bytes handed to an upload did not match what the caller promised (size), or failed."""

    user_message = "The file could not be read completely, so it was not pinned."


__all__ = [
    "AuthenticationError",
    "MalformedResponseError",
    "NoAnswerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestRejectedError",
    "ServerError",
    "TransportError",
    "UploadSourceError",
    "W3IPFSError",
    "outcome_unknown",
]
