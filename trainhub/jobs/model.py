"""Job statuses, priorities and the plain Job record services return."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from trainhub.records import from_row


class JobStatus(str, enum.Enum):
    QUEUED = "queued"        # waiting for a worker; a message for it is in Redis
    RUNNING = "running"      # claimed by exactly one worker, which heartbeats
    COMPLETED = "completed"  # model registered, metrics final
    FAILED = "failed"        # stopped by an error; error_message says why
    CANCELLED = "cancelled"  # stopped on a user's request

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class JobPriority(enum.IntEnum):
    LOW = -1     # background retraining; runs when nothing else waits
    NORMAL = 0   # the default
    HIGH = 1     # a person is waiting for it
    URGENT = 2   # jumps every other waiting job

    @classmethod
    def from_name(cls, name: str) -> "JobPriority":
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


class ModelType(str, enum.Enum):
    FORECAST = "forecast"  # LightGBM regression of the target `horizon` hours ahead
    ANOMALY = "anomaly"    # IsolationForest scoring how unusual each hour is


@dataclass(frozen=True)
class Job:
    job_id: UUID
    tenant_id: str
    model_type: str
    model_name: str
    feature_set: str
    config: dict[str, Any]
    tags: dict[str, Any]
    status: str
    priority: int
    progress: float
    stage: str | None
    metrics: dict[str, Any]
    model_id: str | None
    experiment_id: UUID | None
    error_message: str | None
    retry_of: UUID | None
    schedule: str | None
    estimated_duration_seconds: int
    attempt: int
    worker_id: str | None
    cancel_requested_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    completed_at: datetime | None

    @property
    def priority_name(self) -> str:
        return JobPriority(self.priority).label

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    @property
    def duration_seconds(self) -> float | None:
        """Time spent running so far (or in total, once ended)."""
        if self.started_at is None:
            return None
        end = self.completed_at or datetime.now(timezone.utc)
        return round((end - self.started_at).total_seconds(), 3)

    @classmethod
    def from_row(cls, row: Any) -> "Job":
        return from_row(cls, row)
