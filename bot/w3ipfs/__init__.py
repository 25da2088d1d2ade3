"""The W3IPFS pinning API: typed async client, models and errors. Knows nothing of Slack."""

from .client import UPLOAD_KEY, DirectoryEntry, RetryPolicy, W3IPFSClient, parse_retry_after
from .errors import (
    AuthenticationError,
    MalformedResponseError,
    NoAnswerError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
    UploadSourceError,
    W3IPFSError,
    outcome_unknown,
)
from .models import Pin, PinMetadata, PinPage, PinState, Totals, normalise_status
from .multipart import ByteSource, is_reopenable

__all__ = [
    "UPLOAD_KEY",
    "AuthenticationError",
    "ByteSource",
    "DirectoryEntry",
    "MalformedResponseError",
    "NoAnswerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "Pin",
    "PinMetadata",
    "PinPage",
    "PinState",
    "RateLimitedError",
    "RequestRejectedError",
    "RetryPolicy",
    "ServerError",
    "Totals",
    "TransportError",
    "UploadSourceError",
    "W3IPFSClient",
    "W3IPFSError",
    "is_reopenable",
    "normalise_status",
    "outcome_unknown",
    "parse_retry_after",
]
