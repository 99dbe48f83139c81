"""Domain errors. Services raise these; only api/ turns them into HTTP answers."""
from __future__ import annotations


class TrainHubError(Exception):
    """Base of every error a service raises on purpose."""


class NotFound(TrainHubError):
    """The object does not exist, or belongs to another tenant (indistinguishable on purpose)."""


class JobNotFound(NotFound):
    def __init__(self, job_id: object) -> None:
        super().__init__(f"Training job {job_id} not found")


class InvalidTransition(TrainHubError):
    """The object exists but its state does not allow the change asked for."""


class Conflict(TrainHubError):
    """The change would break a uniqueness rule."""


class InvalidInput(TrainHubError):
    """Input that passed the schema but breaks a domain rule; carries per-field messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class Unauthorized(TrainHubError):
    """No API key, or one that is unknown or revoked."""
