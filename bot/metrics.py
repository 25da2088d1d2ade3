"""Prometheus metrics (`GET /metrics`): what an operator graphs and alerts on."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

JOBS = Counter(
    "pinbot_jobs_total",
    "Shared-file jobs by outcome (pinned, failed, refused, duplicate, already_pinned, retried)",
    ["outcome"],
    registry=REGISTRY,
)
BYTES_STREAMED = Counter(
    "pinbot_bytes_streamed_total", "File bytes streamed from Slack into the pinning API",
    registry=REGISTRY,
)
UPLOAD_SECONDS = Histogram(
    "pinbot_upload_seconds", "Duration of a shared file's download+upload",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "pinbot_api_errors_total",
    "Failed pinning API attempts by kind (including ones that were then retried)",
    ["kind"],
    registry=REGISTRY,
)
ACK_SECONDS = Histogram(
    "pinbot_ack_seconds", "Time to answer a request on /slack/events (Slack allows 3 s)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "pinbot_queue_depth", "Upload jobs queued or running", registry=REGISTRY,
)

__all__ = [
    "ACK_SECONDS",
    "API_ERRORS",
    "BYTES_STREAMED",
    "CONTENT_TYPE_LATEST",
    "JOBS",
    "QUEUE_DEPTH",
    "REGISTRY",
    "UPLOAD_SECONDS",
    "generate_latest",
]
