"""Pure training pipeline: DataFrames and parameters in, models, metrics and artifacts out.

Imports no web, queue or database code, so it can be tested and benchmarked alone.
"""

from trainhub.pipeline.artifact import load_artifact, save_artifact
from trainhub.pipeline.forecast import DEFAULT_HYPERPARAMETERS
from trainhub.pipeline.hooks import Cancelled, PipelineHooks
from trainhub.pipeline.run import TrainingResult, train_model

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "Cancelled",
    "PipelineHooks",
    "TrainingResult",
    "load_artifact",
    "save_artifact",
    "train_model",
]
