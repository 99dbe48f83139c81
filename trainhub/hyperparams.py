"""Which hyperparameters a job may set, their defaults, and HPO search specs.

Kept apart from the pipeline so the API can validate a request without importing
LightGBM (about 0.9 s and 146 MiB per process).
"""
from __future__ import annotations

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


def is_search_spec(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def validate_hyperparameters(
    hyperparameters: dict[str, Any], *, model_type: str, enable_hpo: bool
) -> dict[str, list[str]]:
    """Per-parameter error messages; empty when the mapping is valid."""
    allowed = PARAMETERS_BY_MODEL_TYPE[model_type]
    errors: dict[str, list[str]] = {}
    for name, value in hyperparameters.items():
        if name not in allowed:
            errors[name] = [f"Unknown {model_type} hyperparameter; allowed: {', '.join(sorted(allowed))}."]
        elif is_search_spec(value):
            if not enable_hpo:
                errors[name] = ["A search spec needs enable_hpo: true; give a fixed value instead."]
            else:
                problems = _spec_errors(value)
                if problems:
                    errors[name] = problems
        elif not isinstance(value, (int, float, str, bool)) or value is None:
            errors[name] = ["Must be a number, string or boolean (or a search spec with enable_hpo)."]
    return errors


def _spec_errors(spec: dict[str, Any]) -> list[str]:
    kind = spec.get("type")
    unknown = set(spec) - {"type", "low", "high", "step", "choices"}
    if unknown:
        return [f"Unknown spec fields: {', '.join(sorted(unknown))}."]
    if kind not in SPEC_TYPES:
        return [f"type must be one of {', '.join(SPEC_TYPES)}."]
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            return ["categorical needs a non-empty list of choices."]
        if any(not isinstance(c, (int, float, str, bool)) or c is None for c in choices):
            return ["choices must be numbers, strings or booleans."]
        return []
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
            return ["step must be a positive number."]
    return []
