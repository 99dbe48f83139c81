"""The training config of a job: one marshmallow schema used by the API, retries and
schedules alike, so a config is validated by the same rules wherever it comes from."""
from __future__ import annotations

from datetime import timezone
from typing import Any

from croniter import croniter
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from trainhub.hyperparams import validate_hyperparameters


class StrictSchema(Schema):
    """Unknown fields are an error, never silently dropped."""

    class Meta:
        unknown = "raise"


class TrainingConfigSchema(StrictSchema):
    start_date = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    end_date = fields.AwareDateTime(required=True, default_timezone=timezone.utc)
    feature_set = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$",
                                 error="Use 1-63 letters, digits, '-', '_' or '.'."),
    )
    target_variable = fields.String(load_default="load_kw", validate=validate.Length(1, 128))
    horizon = fields.Integer(load_default=24, validate=validate.Range(0, 8760),
                             metadata={"description": "Hours ahead to forecast"})
    enable_hpo = fields.Boolean(load_default=False)
    n_trials = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    hyperparameters = fields.Dict(keys=fields.String(), load_default=dict)
    validation_split = fields.Float(load_default=0.2, validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=False))
    test_split = fields.Float(load_default=0.1, validate=validate.Range(0, 1, min_inclusive=False, max_inclusive=False))
    early_stopping_rounds = fields.Integer(load_default=10, validate=validate.Range(1, 10_000))
    n_workers = fields.Integer(load_default=1, validate=validate.Range(1, 64))
    schedule = fields.String(load_default=None, allow_none=True,
                             metadata={"description": "Cron expression for retraining"})
    series_id = fields.String(load_default="", validate=validate.Length(max=128),
                              metadata={"description": "Series of a multi-series feature set"})
    # Champion/challenger gate: promote the new version to production only when it beats
    # the current production version on promotion_metric by promotion_margin (relative).
    auto_promote = fields.Boolean(load_default=False)
    promotion_metric = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))
    promotion_margin = fields.Float(load_default=0.0, validate=validate.Range(0, 1))

    @validates("schedule")
    def _cron(self, value: str | None, **_: Any) -> None:
        if value is not None and not croniter.is_valid(value):
            raise ValidationError("Not a valid cron expression (e.g. '0 3 * * *').")

    @validates_schema
    def _cross_field(self, data: dict[str, Any], **_: Any) -> None:
        errors: dict[str, list[str]] = {}
        start, end = data.get("start_date"), data.get("end_date")
        if start is not None and end is not None and end <= start:
            errors["end_date"] = ["Must be after start_date."]
        val, test = data.get("validation_split"), data.get("test_split")
        if val is not None and test is not None and val + test >= 1:
            errors["test_split"] = ["validation_split + test_split must be below 1."]
        if errors:
            raise ValidationError(errors)


def check_for_model_type(config: dict[str, Any], model_type: str) -> dict[str, Any]:
    """Rules that depend on the model type; returns nested per-field errors."""
    errors: dict[str, Any] = {}
    if model_type == "forecast" and config.get("horizon", 1) < 1:
        errors["horizon"] = ["A forecast needs a horizon of at least 1 hour."]
    if model_type != "forecast" and config.get("enable_hpo"):
        # Trials are judged and pruned on LightGBM's validation loss; an unsupervised
        # IsolationForest has none to judge by.
        errors["enable_hpo"] = ["Hyperparameter optimisation is for forecast models."]
    hp_errors = validate_hyperparameters(
        config.get("hyperparameters") or {}, model_type=model_type,
        enable_hpo=bool(config.get("enable_hpo")),
    )
    if hp_errors:
        errors["hyperparameters"] = hp_errors
    return errors


def to_json(config: dict[str, Any]) -> dict[str, Any]:
    """The config as stored in jsonb: datetimes as ISO 8601 strings."""
    return _SCHEMA.dump(config)


def from_json(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored config back to validated Python values (datetimes included)."""
    return _SCHEMA.load(stored)


# Built once: a marshmallow schema deep-copies its fields on construction, which cost
# more than the load itself on every request and every job run.
_SCHEMA = TrainingConfigSchema()
