"""Request and response shapes of /ai/training/feature-sets."""
from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from trainhub.ingest import FORMATS
from trainhub.jobs.config import StrictSchema

TENANT = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", error="Not a valid tenant id.")
COLUMN = validate.Length(1, 128)


class JsonObject(fields.Field):
    """A JSON object sent as text (a query parameter), or as an object in a JSON body."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError("Not valid JSON.") from None
        if not isinstance(value, dict):
            raise ValidationError("Must be a JSON object.")
        return value


class TenantQuerySchema(StrictSchema):
    tenant_id = fields.String(load_default=None, validate=TENANT,
                              metadata={"description": "Required with an admin key"})


class UploadQuerySchema(TenantQuerySchema):
    format = fields.String(load_default=None, validate=validate.OneOf(FORMATS),
                           metadata={"description": "csv or parquet; sniffed from the content when omitted"})
    target_column = fields.String(load_default=None, validate=COLUMN,
                                  metadata={"description": "First load: the column to forecast"})
    timestamp_column = fields.String(load_default=None, validate=COLUMN,
                                     metadata={"description": "First load: default ts, timestamp, time, datetime or date"})
    series_column = fields.String(load_default=None, validate=COLUMN,
                                  metadata={"description": "First load: the column naming each row's series"})
    frequency = fields.String(load_default=None, validate=validate.Length(1, 16),
                              metadata={"description": "First load: e.g. 30min, h, D; inferred when omitted"})
    definition = JsonObject(load_default=None,
                            metadata={"description": "Feature definition as JSON (calendar, holidays, lags, rolling, …)"})


class ListQuerySchema(TenantQuerySchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    page_size = fields.Integer(load_default=20, validate=validate.Range(1, 100))


class DefinitionUpdateSchema(StrictSchema):
    definition = JsonObject(required=True)


class GapSchema(Schema):
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    missing = fields.Integer()


class SeriesSchema(Schema):
    series_id = fields.String()
    rows = fields.Integer()
    first_ts = fields.DateTime()
    last_ts = fields.DateTime()
    missing_timestamps = fields.Integer(metadata={"description": "Grid steps in the range without a row"})
    gap_count = fields.Integer(metadata={"description": "Runs of missing timestamps"})
    gaps = fields.List(fields.Nested(GapSchema), metadata={"description": "The first runs"})
    missing_values = fields.Dict(keys=fields.String(), values=fields.Integer())


class FeatureSetSummarySchema(Schema):
    feature_set_id = fields.Integer()
    tenant_id = fields.String()
    name = fields.String()
    columns = fields.List(fields.String())
    target_column = fields.String()
    frequency = fields.String()
    timestamp_column = fields.String()
    series_column = fields.String(allow_none=True)
    definition = fields.Dict()
    builtin = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    rows = fields.Integer()
    series_count = fields.Integer()
    first_ts = fields.DateTime(allow_none=True)
    last_ts = fields.DateTime(allow_none=True)
    missing_timestamps = fields.Integer()
    gap_count = fields.Integer()
    missing_values = fields.Dict(keys=fields.String(), values=fields.Integer())


class FeatureSetSchema(FeatureSetSummarySchema):
    series = fields.List(fields.Nested(SeriesSchema))


class FeatureSetListSchema(Schema):
    feature_sets = fields.List(fields.Nested(FeatureSetSummarySchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()


class LoadReportSchema(Schema):
    created = fields.Boolean()
    rows_received = fields.Integer()
    rows_inserted = fields.Integer()
    rows_replaced = fields.Integer()
    series_loaded = fields.List(fields.String())
    seconds = fields.Float()
    feature_set = fields.Nested(FeatureSetSchema)
