"""SQLAlchemy Core handles on the tables that sql/ creates.

The DDL lives in sql/ alone; these declarations only name columns for query
building, and tests/test_schema.py checks they match the migrated database.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID

metadata = sa.MetaData()
tz = sa.DateTime(timezone=True)

tenants = sa.Table(
    "tenants", metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),
    sa.Column("created_at", tz),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("is_admin", sa.Boolean),
    sa.Column("key_hash", sa.Text),
    sa.Column("key_prefix", sa.Text),
    sa.Column("created_at", tz),
    sa.Column("revoked_at", tz),
)

jobs = sa.Table(
    "ai_training_jobs", metadata,
    sa.Column("job_id", UUID(as_uuid=True), primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("model_type", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("feature_set", sa.Text),
    sa.Column("config", JSONB),
    sa.Column("tags", JSONB),
    sa.Column("status", sa.Text),
    sa.Column("priority", sa.SmallInteger),
    sa.Column("progress", sa.Float),
    sa.Column("stage", sa.Text),
    sa.Column("metrics", JSONB),
    sa.Column("model_id", sa.Text),
    sa.Column("experiment_id", UUID(as_uuid=True)),
    sa.Column("error_message", sa.Text),
    sa.Column("retry_of", UUID(as_uuid=True)),
    sa.Column("schedule", sa.Text),
    sa.Column("estimated_duration_seconds", sa.Integer),
    sa.Column("attempt", sa.Integer),
    sa.Column("worker_id", sa.Text),
    sa.Column("heartbeat_at", tz),
    sa.Column("cancel_requested_at", tz),
    sa.Column("enqueued_at", tz),
    sa.Column("created_at", tz),
    sa.Column("started_at", tz),
    sa.Column("updated_at", tz),
    sa.Column("completed_at", tz),
)

experiments = sa.Table(
    "ai_experiments", metadata,
    sa.Column("experiment_id", UUID(as_uuid=True), primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("name", sa.Text),
    sa.Column("model_type", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("model_id", sa.Text),
    sa.Column("metrics", JSONB),
    sa.Column("lineage", JSONB),
    sa.Column("created_at", tz),
    sa.Column("updated_at", tz),
    sa.Column("completed_at", tz),
)

experiment_metrics = sa.Table(
    "ai_experiment_metrics", metadata,
    sa.Column("metric_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("experiment_id", UUID(as_uuid=True)),
    sa.Column("metric_name", sa.Text),
    sa.Column("value", sa.Float),
    sa.Column("step", sa.Integer),
    sa.Column("recorded_at", tz),
)

experiment_params = sa.Table(
    "ai_experiment_params", metadata,
    sa.Column("experiment_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("param_name", sa.Text, primary_key=True),
    sa.Column("param_value", sa.Text),
    sa.Column("param_type", sa.Text),
)

training_logs = sa.Table(
    "ai_training_logs", metadata,
    sa.Column("log_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("level", sa.Text),
    sa.Column("logger", sa.Text),
    sa.Column("message", sa.Text),
    sa.Column("metadata", JSONB),
    sa.Column("created_at", tz),
)

workers = sa.Table(
    "ai_workers", metadata,
    sa.Column("worker_id", sa.Text, primary_key=True),
    sa.Column("concurrency", sa.Integer),
    sa.Column("queues", ARRAY(sa.Text)),
    sa.Column("started_at", tz),
    sa.Column("heartbeat_at", tz),
)

feature_sets = sa.Table(
    "feature_sets", metadata,
    sa.Column("feature_set_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("columns", ARRAY(sa.Text)),
    sa.Column("target_column", sa.Text),
    sa.Column("frequency", sa.Text),
    sa.Column("definition", JSONB),
    sa.Column("builtin", sa.Boolean),
    sa.Column("created_at", tz),
    sa.Column("updated_at", tz),
    sa.Column("timestamp_column", sa.Text),
    sa.Column("series_column", sa.Text),
)

feature_rows = sa.Table(
    "feature_rows", metadata,
    sa.Column("feature_set_id", sa.BigInteger, primary_key=True),
    sa.Column("series_id", sa.Text, primary_key=True),
    sa.Column("ts", tz, primary_key=True),
    sa.Column("vals", ARRAY(sa.Float)),
)

models = sa.Table(
    "ai_models", metadata,
    sa.Column("model_id", sa.Text, primary_key=True),
    sa.Column("tenant_id", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("model_type", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("stage", sa.Text),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("experiment_id", UUID(as_uuid=True)),
    sa.Column("artifact_path", sa.Text),
    sa.Column("artifact_sha256", sa.Text),
    sa.Column("artifact_bytes", sa.BigInteger),
    sa.Column("metrics", JSONB),
    sa.Column("hyperparameters", JSONB),
    sa.Column("feature_names", JSONB),
    sa.Column("lineage", JSONB),
    sa.Column("created_at", tz),
    sa.Column("updated_at", tz),
)

# Read-only handle on the view of sql/002 (experiment list and detail read it).
experiment_summary = sa.Table(
    "experiment_summary", metadata,
    sa.Column("experiment_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("tenant_id", sa.Text),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("name", sa.Text),
    sa.Column("model_type", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("model_id", sa.Text),
    sa.Column("final_metrics", JSONB),
    sa.Column("lineage", JSONB),
    sa.Column("created_at", tz),
    sa.Column("completed_at", tz),
    sa.Column("duration_seconds", sa.Numeric),
    sa.Column("param_count", sa.BigInteger),
    sa.Column("metric_points", sa.BigInteger),
    sa.Column("metric_names", ARRAY(sa.Text)),
)

experiment_test_windows = sa.Table(
    "ai_experiment_test_windows", metadata,
    sa.Column("experiment_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("target", sa.Text),
    sa.Column("horizon", sa.Integer),
    sa.Column("ts", ARRAY(tz)),
    sa.Column("actual", ARRAY(sa.Float)),
    sa.Column("predicted", ARRAY(sa.Float)),
    sa.Column("created_at", tz),
)

promotion_decisions = sa.Table(
    "ai_promotion_decisions", metadata,
    sa.Column("decision_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("challenger_model_id", sa.Text),
    sa.Column("champion_model_id", sa.Text),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("metric", sa.Text),
    sa.Column("margin", sa.Float),
    sa.Column("challenger_score", sa.Float),
    sa.Column("champion_score", sa.Float),
    sa.Column("holdout_rows", sa.Integer),
    sa.Column("holdout_start", tz),
    sa.Column("holdout_end", tz),
    sa.Column("decision", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("created_at", tz),
)

model_stage_history = sa.Table(
    "ai_model_stage_history", metadata,
    sa.Column("history_id", sa.BigInteger, primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("model_id", sa.Text),
    sa.Column("tenant_id", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("from_stage", sa.Text),
    sa.Column("to_stage", sa.Text),
    sa.Column("changed_by", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("decision_id", sa.BigInteger),
    sa.Column("created_at", tz),
)

schedules = sa.Table(
    "ai_training_schedules", metadata,
    sa.Column("schedule_id", UUID(as_uuid=True), primary_key=True, server_default=sa.FetchedValue()),
    sa.Column("tenant_id", sa.Text),
    sa.Column("model_type", sa.Text),
    sa.Column("model_name", sa.Text),
    sa.Column("config", JSONB),
    sa.Column("cron", sa.Text),
    sa.Column("timezone", sa.Text),
    sa.Column("priority", sa.SmallInteger),
    sa.Column("enabled", sa.Boolean),
    sa.Column("window_seconds", sa.BigInteger),
    sa.Column("catch_up", sa.Text),
    sa.Column("auto_promote", sa.Boolean),
    sa.Column("handled_through", tz),
    sa.Column("origin_job_id", UUID(as_uuid=True)),
    sa.Column("created_at", tz),
    sa.Column("updated_at", tz),
)

schedule_fires = sa.Table(
    "ai_schedule_fires", metadata,
    sa.Column("schedule_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("fire_time", tz, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("job_id", UUID(as_uuid=True)),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("missed_ticks", sa.Integer),
    sa.Column("window_start", tz),
    sa.Column("window_end", tz),
    sa.Column("dispatched_at", tz),
)

feature_set_series = sa.Table(
    "feature_set_series", metadata,
    sa.Column("feature_set_id", sa.BigInteger, primary_key=True),
    sa.Column("series_id", sa.Text, primary_key=True),
    sa.Column("row_count", sa.BigInteger),
    sa.Column("first_ts", tz),
    sa.Column("last_ts", tz),
    sa.Column("missing_timestamps", sa.BigInteger),
    sa.Column("gap_count", sa.BigInteger),
    sa.Column("gaps", JSONB),
    sa.Column("missing_values", ARRAY(sa.BigInteger)),
    sa.Column("updated_at", tz),
)
