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
QUEUE_DEPTH = Gauge(
    "pinbot_queue_depth", "Upload jobs queued or running", registry=REGISTRY,
)

__all__ = [
    "API_ERRORS",
    "BYTES_STREAMED",
    "CONTENT_TYPE_LATEST",
    "JOBS",
    "QUEUE_DEPTH",
    "REGISTRY",
    "UPLOAD_SECONDS",
    "generate_latest",
]
