"""Which hyperparameters a job may set, their defaults, and HPO search specs.

Kept apart from the pipeline so the API can validate a request without importing
LightGBM (about 0.9 s and 146 MiB per process).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The seed's LightGBM defaults.
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.1,
    "max_depth": 5,
    "num_leaves": 31,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
}

# Names a job config may set; anything else is rejected rather than silently ignored.
LIGHTGBM_PARAMETERS = frozenset(LIGHTGBM_DEFAULTS) | {
    "alpha", "boosting_type", "objective", "min_child_samples", "min_child_weight",
    "min_split_gain", "reg_alpha", "reg_lambda", "subsample_freq", "max_bin",
    "subsample_for_bin", "path_smooth", "extra_trees", "min_data_in_bin",
}

ISOLATION_FOREST_DEFAULTS: dict[str, Any] = {
    "n_estimators": 100,
    "contamination": "auto",
    "max_samples": "auto",
}

ISOLATION_FOREST_PARAMETERS = frozenset(ISOLATION_FOREST_DEFAULTS) | {"max_features", "bootstrap"}

PARAMETERS_BY_MODEL_TYPE = {
    "forecast": LIGHTGBM_PARAMETERS,
    "anomaly": ISOLATION_FOREST_PARAMETERS,
}

# HyperparameterSpec types: int and float sample uniformly (with an optional step),
# log_float samples on a log scale, categorical picks one of `choices`.
SPEC_TYPES = ("int", "float", "log_float", "categorical")

# Searched when a job asks for HPO without naming a search space: the parameters that
# matter most for LightGBM on hourly load, in ranges that stay fast on years of rows.
# n_estimators stays fixed (early stopping picks the rounds), so a trial's cost is bounded.
DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "learning_rate": {"type": "log_float", "low": 0.01, "high": 0.3},
    "num_leaves": {"type": "int", "low": 8, "high": 128},
    "max_depth": {"type": "int", "low": 3, "high": 12},
    "min_child_samples": {"type": "int", "low": 5, "high": 100},
    "subsample": {"type": "float", "low": 0.5, "high": 1.0},
    "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
}


@dataclass(frozen=True)
class Rule:
    """What LightGBM accepts for one parameter: its kind and, for numbers, the range
    (`low_open`: low itself is excluded), or for strings the allowed values."""

    kind: str  # int | float | bool | str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why LightGBM would refuse `value`, or None."""
        if self.kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind == "str":
            if isinstance(value, str) and value in self.choices:
                return None
            return f"must be one of {', '.join(self.choices)}"
        numbers = (int,) if self.kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, numbers):
            return "must be a whole number" if self.kind == "int" else "must be a number"
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return f"must be {'above' if self.low_open else 'at least'} {self.low:g}"
        if self.high is not None and value > self.high:
            return f"must be at most {self.high:g}"
        return None


# LightGBM's own limits (https://lightgbm.readthedocs.io/en/latest/Parameters.html), so
# a bad value is a 422 at submit instead of a failed job, or a failed trial, later.
LIGHTGBM_RULES: dict[str, Rule] = {
    "n_estimators": Rule("int", 1, 100_000),
    "learning_rate": Rule("float", 0, None, low_open=True),
    "max_depth": Rule("int"),  # <= 0 means no limit
    "num_leaves": Rule("int", 2, 131_072),
    "subsample": Rule("float", 0, 1, low_open=True),
    "colsample_bytree": Rule("float", 0, 1, low_open=True),
    "alpha": Rule("float", 0, None, low_open=True),
    "boosting_type": Rule("str", choices=("gbdt", "dart", "rf")),
    "objective": Rule("str", choices=("regression", "regression_l1", "huber", "fair", "poisson",
                                      "quantile", "mape", "gamma", "tweedie")),
    "min_child_samples": Rule("int", 0),
    "min_child_weight": Rule("float", 0),
    "min_split_gain": Rule("float", 0),
    "reg_alpha": Rule("float", 0),
    "reg_lambda": Rule("float", 0),
    "subsample_freq": Rule("int", 0),
    "max_bin": Rule("int", 2),
    "subsample_for_bin": Rule("int", 1),
    "path_smooth": Rule("float", 0),
    "extra_trees": Rule("bool"),
    "min_data_in_bin": Rule("int", 1),
}

RULES_BY_MODEL_TYPE: dict[str, dict[str, Rule]] = {"forecast": LIGHTGBM_RULES, "anomaly": {}}


def is_search_spec(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def search_space(hyperparameters: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Split a job's hyperparameters into (fixed values, search specs). With no spec
    at all, the default space is searched, minus the parameters the job fixed."""
    fixed = {k: v for k, v in hyperparameters.items() if not is_search_spec(v)}
    space = {k: v for k, v in hyperparameters.items() if is_search_spec(v)}
    if not space:
        space = {k: v for k, v in DEFAULT_SEARCH_SPACE.items() if k not in fixed}
    return fixed, space


def validate_hyperparameters(
    hyperparameters: dict[str, Any], *, model_type: str, enable_hpo: bool
) -> dict[str, list[str]]:
    """Per-parameter error messages; empty when the mapping is valid."""
    allowed = PARAMETERS_BY_MODEL_TYPE[model_type]
    rules = RULES_BY_MODEL_TYPE[model_type]
    errors: dict[str, list[str]] = {}
    for name, value in hyperparameters.items():
        if name not in allowed:
            errors[name] = [f"Unknown {model_type} hyperparameter; allowed: {', '.join(sorted(allowed))}."]
        elif is_search_spec(value):
            if not enable_hpo:
                errors[name] = ["A search spec needs enable_hpo: true; give a fixed value instead."]
            else:
                problems = _spec_errors(value, rules.get(name))
                if problems:
                    errors[name] = problems
        elif not isinstance(value, (int, float, str, bool)) or value is None:
            errors[name] = ["Must be a number, string or boolean (or a search spec with enable_hpo)."]
        elif name in rules and (problem := rules[name].problem(value)):
            errors[name] = [f"{name} {problem}."]
    return errors


def _spec_errors(spec: dict[str, Any], rule: Rule | None) -> list[str]:
    kind = spec.get("type")
    unknown = set(spec) - {"type", "low", "high", "step", "choices"}
    if unknown:
        return [f"Unknown spec fields: {', '.join(sorted(unknown))}."]
    if kind not in SPEC_TYPES:
        return [f"type must be one of {', '.join(SPEC_TYPES)}."]
    if kind == "categorical":
        choices = spec.get("choices")
        if set(spec) - {"type", "choices"}:
            return ["categorical takes choices only, not low, high or step."]
        if not isinstance(choices, list) or not choices:
            return ["categorical needs a non-empty list of choices."]
        if any(not isinstance(c, (int, float, str, bool)) or c is None for c in choices):
            return ["choices must be numbers, strings or booleans."]
        if len({(type(c), c) for c in choices}) != len(choices):
            return ["choices must not repeat."]
        if rule is not None:
            bad = [f"{c!r} {p}" for c in choices if (p := rule.problem(c))]
            if bad:
                return [f"choice {bad[0]}."]
        return []
    if "choices" in spec:
        return [f"{kind} takes low, high and step; choices are for categorical."]
    low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
    numbers = (int,) if kind == "int" else (int, float)
    if any(isinstance(v, bool) or not isinstance(v, numbers) for v in (low, high)):
        return [f"{kind} needs numeric low and high" + (" (integers)." if kind == "int" else ".")]
    if low >= high:
        return ["low must be less than high."]
    if kind == "log_float" and low <= 0:
        return ["log_float needs low > 0."]
    if step is not None:
        if kind == "log_float":
            return ["log_float takes no step."]
        if isinstance(step, bool) or not isinstance(step, numbers) or step <= 0:
            return ["step must be a positive number" + (" (an integer)." if kind == "int" else ".")]
        if step > high - low:
            return ["step must not exceed high - low."]
        # Optuna would quietly move `high` down to the last reachable value.
        if abs((high - low) / step - round((high - low) / step)) > 1e-9:
            return ["high - low must be a whole number of steps."]
    if rule is not None:
        if rule.kind in ("bool", "str"):
            return [f"a {rule.kind} parameter is searched with type categorical."]
        if rule.kind == "int" and kind != "int":
            return ["takes whole numbers: search it with type int (or categorical)."]
        for bound in (low, high):
            if problem := rule.problem(bound):
                return [f"low and high {problem} (got {bound!r})."]
    return []
