-- Registered models: one row per trained version, its artifact on disk and lineage.
CREATE TABLE ai_models (
    -- tenant:model_name:YYYYMMDD.HHMMSS
    model_id        text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_name      text NOT NULL,
    model_type      text NOT NULL CHECK (model_type IN ('forecast', 'anomaly')),
    version         text NOT NULL CHECK (version ~ '^[0-9]{8}\.[0-9]{6}$'),
    -- none: just registered; staging: under evaluation; production: serves
    -- predictions (at most one per tenant and model name); archived: retired.
    stage           text NOT NULL DEFAULT 'none'
                    CHECK (stage IN ('none', 'staging', 'production', 'archived')),
    job_id          uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    experiment_id   uuid REFERENCES ai_experiments (experiment_id) ON DELETE SET NULL,
    artifact_path   text NOT NULL,
    artifact_sha256 text NOT NULL,
    artifact_bytes  bigint NOT NULL CHECK (artifact_bytes > 0),
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    hyperparameters jsonb NOT NULL DEFAULT '{}'::jsonb,
    feature_names   jsonb NOT NULL DEFAULT '[]'::jsonb,
    lineage         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ai_models_id_matches CHECK (model_id = tenant_id || ':' || model_name || ':' || version),
    UNIQUE (tenant_id, model_name, version)
);
CREATE UNIQUE INDEX ai_models_one_production ON ai_models (tenant_id, model_name)
    WHERE stage = 'production';
CREATE INDEX ai_models_tenant_name ON ai_models (tenant_id, model_name, created_at DESC);
CREATE TRIGGER ai_models_updated_at BEFORE UPDATE ON ai_models
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
