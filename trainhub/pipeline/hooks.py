"""How the pipeline talks back to whoever runs it, without knowing who that is."""


class Cancelled(Exception):
    """The job was cancelled; the pipeline stops at the next check."""


class PipelineHooks:
    """No-op callbacks; the worker-side runner overrides them to write to the database.

    The pipeline may call these very often (once per boosting round), so an override
    that does I/O should throttle itself.
    """

    def progress(self, fraction: float, stage: str) -> None:
        """`fraction` of the whole job (0..1) is done; `stage` names the current step."""

    def check_cancelled(self) -> None:
        """Raise Cancelled if the job must stop."""

    def record_series(self, name: str, values: list[float], start_step: int = 0) -> None:
        """Store a per-iteration metric, e.g. "train_loss"; values[i] belongs to step start_step + i."""
