"""LightGBM forecaster with early stopping, loss curves and cooperative cancel."""

from collections.abc import Callable, Iterable
from typing import Any

import lightgbm

from trainhub.hyperparams import LIGHTGBM_DEFAULTS, LIGHTGBM_PARAMETERS
from trainhub.pipeline.hooks import PipelineHooks
from trainhub.pipeline.split import Split

# The seed defaults and the settable names live with the API-side validation.
DEFAULT_HYPERPARAMETERS = LIGHTGBM_DEFAULTS

TRAIN_PROGRESS_START = 0.40
TRAIN_PROGRESS_END = 0.70


def train_forecaster(
    split: Split,
    *,
    hyperparameters: dict[str, Any],
    early_stopping_rounds: int,
    num_threads: int,
    hooks: PipelineHooks,
    seed: int = 42,
    extra_callbacks: Iterable[Callable] = (),
) -> tuple[lightgbm.LGBMRegressor, dict[str, Any]]:
    """Fit on split.X_train, stop early on split.X_val; return the model and its hyperparameters.

    `early_stopping_rounds` <= 0 trains all n_estimators rounds.
    """
    effective = _effective_hyperparameters(hyperparameters)
    model = lightgbm.LGBMRegressor(
        **effective,
        # l2 whatever the objective, so loss curves and early stopping compare across jobs.
        metric="l2",
        n_jobs=num_threads,
        random_state=seed,
        verbose=-1,
    )
    losses: dict[str, dict[str, list[float]]] = {}
    callbacks = [
        lightgbm.record_evaluation(losses),
        _report_each_round(hooks, effective["n_estimators"]),
        *extra_callbacks,
    ]
    if early_stopping_rounds > 0:
        callbacks.append(lightgbm.early_stopping(early_stopping_rounds, verbose=False))

    model.fit(
        split.X_train,
        split.y_train,
        # Passing the training arrays themselves makes LightGBM record their loss but
        # leave them out of early stopping, which then watches validation alone.
        eval_X=(split.X_train, split.X_val),
        eval_y=(split.y_train, split.y_val),
        eval_names=["train", "validation"],
        callbacks=callbacks,
    )
    hooks.record_series("train_loss", losses["train"]["l2"])
    hooks.record_series("validation_loss", losses["validation"]["l2"])
    return model, effective


def _effective_hyperparameters(overrides: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - LIGHTGBM_PARAMETERS)
    if unknown:
        raise ValueError(f"unknown LightGBM hyperparameters {unknown}; allowed: {sorted(LIGHTGBM_PARAMETERS)}")
    not_single = sorted(name for name, value in overrides.items() if isinstance(value, (dict, list, tuple)))
    if not_single:
        raise ValueError(f"hyperparameters {not_single} must be single values, not search spaces")
    # LightGBM ignores subsample unless rows are re-drawn every subsample_freq rounds.
    return {**DEFAULT_HYPERPARAMETERS, "subsample_freq": 1, **overrides}


def _report_each_round(hooks: PipelineHooks, n_estimators: int) -> Callable:
    def callback(env: lightgbm.callback.CallbackEnv) -> None:
        hooks.check_cancelled()
        done = (env.iteration + 1) / n_estimators
        hooks.progress(TRAIN_PROGRESS_START + (TRAIN_PROGRESS_END - TRAIN_PROGRESS_START) * done, "train")

    return callback
