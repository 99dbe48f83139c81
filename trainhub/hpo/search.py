"""What one trial does, independent of where the study is stored.

The objective prepares nothing itself: it gets the train/validation split the job's
data was cut into, samples the job's search space, fits LightGBM exactly as a normal
job does (trainhub.pipeline.forecast.train_forecaster, early stopping included) and
answers the validation RMSE at the best round. The same objective runs in the
workers against the PostgreSQL study and in bench/hpo.py against an in-memory one,
so the two can only differ in where the trials are kept.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
import pandas as pd

from trainhub.pipeline.features import engineer_features, resolve_definition
from trainhub.pipeline.forecast import train_forecaster
from trainhub.pipeline.hooks import PipelineHooks
from trainhub.pipeline.pruning import Pruned, pruning_callback
from trainhub.pipeline.split import Split, time_split

# TPE's seed, and LightGBM's (train_forecaster's default): a one-worker study is
# reproducible trial by trial.
SEED = 42


def make_sampler(seed: int = SEED) -> optuna.samplers.BaseSampler:
    # constant_liar (Optuna's default since 4.x) treats trials still running elsewhere
    # as bad ones, so parallel participants spread out instead of all sampling the
    # same promising spot; the first 10 trials are random to seed the model.
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, constant_liar=True)


def make_pruner() -> optuna.pruners.BasePruner:
    # Stop a trial whose best validation RMSE so far is worse than the median of the
    # completed trials at the same round, once 5 trials completed. Trials report from
    # round 20 on (trainhub.pipeline.pruning), so there is no separate warm-up.
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)


def prepare_split(frame: pd.DataFrame, *, target: str, horizon: int, validation_split: float,
                  test_split: float, feature_definition: dict[str, Any] | None = None,
                  frequency: str = "h") -> Split:
    """The forecast preprocessing of trainhub.pipeline.run.train_model, step for step:
    trials train on the rows the final model trains on and stop early on the rows it
    validates on; the test rows stay unseen until the final model is evaluated."""
    spec = resolve_definition(feature_definition, frequency=frequency)
    X, y, ts = engineer_features(frame, target=target, horizon=horizon, definition=spec)
    return time_split(X, y, ts, validation_split=validation_split, test_split=test_split)


def suggest(trial: optuna.Trial, space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sample one value per search spec (shapes validated by trainhub.hyperparams)."""
    params: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec["type"]
        if kind == "int":
            params[name] = trial.suggest_int(name, spec["low"], spec["high"], step=spec.get("step") or 1)
        elif kind == "float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], step=spec.get("step"))
        elif kind == "log_float":
            params[name] = trial.suggest_float(name, spec["low"], spec["high"], log=True)
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, spec["choices"])
        else:
            raise ValueError(f"unknown search spec type {kind!r} for {name}")
    return params


class TrialHooks(PipelineHooks):
    """A trial's fit reports no progress of its own (the job's progress counts trials)
    and records no loss curves; it only checks between rounds whether to stop."""

    def __init__(self, check_cancelled: Callable[[], None] = lambda: None) -> None:
        self._check = check_cancelled

    def check_cancelled(self) -> None:
        self._check()


class Objective:
    """`objective(trial) -> validation RMSE`; raises optuna.TrialPruned when the pruner
    stops the fit, and whatever `hooks.check_cancelled` raises when the job stops."""

    def __init__(self, split: Split, *, fixed: dict[str, Any], space: dict[str, dict[str, Any]],
                 early_stopping_rounds: int, num_threads: int,
                 hooks: PipelineHooks | None = None) -> None:
        self.split, self.fixed, self.space = split, fixed, space
        self.early_stopping_rounds, self.num_threads = early_stopping_rounds, num_threads
        self.hooks = hooks or TrialHooks()

    def __call__(self, trial: optuna.Trial) -> float:
        params = {**self.fixed, **suggest(trial, self.space)}

        def report(step: int, value: float) -> bool:
            trial.report(value, step)
            return trial.should_prune()

        try:
            model, _ = train_forecaster(
                self.split, hyperparameters=params, early_stopping_rounds=self.early_stopping_rounds,
                num_threads=self.num_threads, hooks=self.hooks,
                extra_callbacks=[pruning_callback(report)],
            )
        except Pruned as pruned:
            raise optuna.TrialPruned(str(pruned)) from None
        return validation_rmse(model)


def validation_rmse(model) -> float:
    """RMSE on the validation rows at the round early stopping kept."""
    return math.sqrt(model.best_score_["validation"]["l2"])
