"""Durable job records (one per pin request) and the runner that leases and runs them."""

from .records import (
    ACTIVE_STATES,
    CHECK_STATES,
    FINAL_STATES,
    UPLOAD_STATES,
    Job,
    JobStore,
    LeaseLost,
    PinRequest,
)
from .runner import JobRunner, Lease, Next
from .tasks import InProcessJobs

__all__ = [
    "ACTIVE_STATES",
    "CHECK_STATES",
    "FINAL_STATES",
    "UPLOAD_STATES",
    "InProcessJobs",
    "Job",
    "JobRunner",
    "JobStore",
    "Lease",
    "LeaseLost",
    "Next",
    "PinRequest",
]
