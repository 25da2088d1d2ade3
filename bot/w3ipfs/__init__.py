"""The W3IPFS pinning API: typed async client, models and errors. Knows nothing of Slack."""

from .client import DirectoryEntry, RetryPolicy, W3IPFSClient, parse_retry_after
from .errors import (
    AuthenticationError,
    MalformedResponseError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestRejectedError,
    ServerError,
    TransportError,
    UploadSourceError,
    W3IPFSError,
)
from .models import Pin, PinMetadata, PinPage, PinState, Totals, normalise_status
from .multipart import ByteSource, is_reopenable

__all__ = [
    "AuthenticationError",
    "ByteSource",
    "DirectoryEntry",
    "MalformedResponseError",
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
    "parse_retry_after",
]
