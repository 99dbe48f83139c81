-- The seed's five training tables, their views and functions.

CREATE TABLE ai_training_jobs (
    job_id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_type      text NOT NULL,
    model_name      text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 128),
    feature_set     text NOT NULL,
    config          jsonb NOT NULL,
    tags            jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- queued:    waiting for a worker (a message for it is in Redis)
    -- running:   claimed by one worker, which heartbeats while it trains
    -- completed: model registered, metrics final
    -- failed:    stopped by an error; error_message says why
    -- cancelled: stopped by a user before it could finish
    status          text NOT NULL DEFAULT 'queued',
    -- low = -1, normal = 0, high = 1, urgent = 2; higher runs first.
    priority        smallint NOT NULL DEFAULT 0,
    progress        double precision NOT NULL DEFAULT 0,
    stage           text,
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    model_id        text,
    experiment_id   uuid,
    error_message   text,
    retry_of        uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    schedule        text,
    estimated_duration_seconds integer NOT NULL CHECK (estimated_duration_seconds >= 0),
    -- Claims so far; a claim bumps it, and every later write of the run names it, so
    -- a run that lost its claim (worker presumed dead) can no longer change the row.
    attempt         integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    worker_id       text,
    heartbeat_at    timestamptz,
    cancel_requested_at timestamptz,
    enqueued_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at      timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at    timestamptz,
    CONSTRAINT ai_training_jobs_status
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    CONSTRAINT ai_training_jobs_model_type CHECK (model_type IN ('forecast', 'anomaly')),
    CONSTRAINT ai_training_jobs_priority CHECK (priority BETWEEN -1 AND 2),
    CONSTRAINT ai_training_jobs_progress CHECK (progress BETWEEN 0 AND 1),
    CONSTRAINT ai_training_jobs_terminal_has_end
        CHECK ((status IN ('completed', 'failed', 'cancelled')) = (completed_at IS NOT NULL)),
    CONSTRAINT ai_training_jobs_running_has_start
        CHECK (status <> 'running' OR started_at IS NOT NULL),
    CONSTRAINT ai_training_jobs_completed_has_model
        CHECK (status <> 'completed' OR model_id IS NOT NULL)
);
-- List filters: every one is scoped by tenant and read newest first.
CREATE INDEX ai_training_jobs_tenant_created ON ai_training_jobs (tenant_id, created_at DESC);
CREATE INDEX ai_training_jobs_tenant_status ON ai_training_jobs (tenant_id, status, created_at DESC);
CREATE INDEX ai_training_jobs_tenant_type ON ai_training_jobs (tenant_id, model_type, created_at DESC);
CREATE INDEX ai_training_jobs_tenant_name ON ai_training_jobs (tenant_id, model_name, created_at DESC);
CREATE INDEX ai_training_jobs_created ON ai_training_jobs (created_at DESC);
-- Queue order: urgent before high before normal before low, oldest first.
CREATE INDEX ai_training_jobs_queue ON ai_training_jobs (priority DESC, created_at)
    WHERE status = 'queued';
-- The reaper looks for running jobs whose heartbeat went quiet.
CREATE INDEX ai_training_jobs_running ON ai_training_jobs (heartbeat_at)
    WHERE status = 'running';
CREATE INDEX ai_training_jobs_retry_of ON ai_training_jobs (retry_of) WHERE retry_of IS NOT NULL;
CREATE INDEX ai_training_jobs_retention ON ai_training_jobs (status, completed_at)
    WHERE completed_at IS NOT NULL;
CREATE TRIGGER ai_training_jobs_updated_at BEFORE UPDATE ON ai_training_jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE ai_experiments (
    experiment_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    -- Experiments outlive their job (metrics are kept when old jobs are cleaned up).
    job_id          uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    name            text NOT NULL,
    model_type      text NOT NULL CHECK (model_type IN ('forecast', 'anomaly')),
    model_name      text NOT NULL,
    -- running / completed / failed / cancelled: mirrors the job run it records.
    status          text NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    model_id        text,
    metrics         jsonb NOT NULL DEFAULT '{}'::jsonb,
    lineage         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    completed_at    timestamptz
);
CREATE INDEX ai_experiments_tenant_created ON ai_experiments (tenant_id, created_at DESC);
CREATE INDEX ai_experiments_tenant_name ON ai_experiments (tenant_id, model_name, created_at DESC);
CREATE INDEX ai_experiments_tenant_status ON ai_experiments (tenant_id, status, created_at DESC);
CREATE INDEX ai_experiments_job ON ai_experiments (job_id);
CREATE TRIGGER ai_experiments_updated_at BEFORE UPDATE ON ai_experiments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE ai_training_jobs
    ADD CONSTRAINT ai_training_jobs_experiment
    FOREIGN KEY (experiment_id) REFERENCES ai_experiments (experiment_id) ON DELETE SET NULL;

CREATE TABLE ai_experiment_metrics (
    metric_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    experiment_id   uuid NOT NULL REFERENCES ai_experiments (experiment_id) ON DELETE CASCADE,
    metric_name     text NOT NULL,
    value           double precision NOT NULL,
    step            integer NOT NULL DEFAULT 0 CHECK (step >= 0),
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_experiment_metrics_series
    ON ai_experiment_metrics (experiment_id, metric_name, step);

CREATE TABLE ai_experiment_params (
    experiment_id   uuid NOT NULL REFERENCES ai_experiments (experiment_id) ON DELETE CASCADE,
    param_name      text NOT NULL,
    -- Stored as text with its type so get_experiment_params_json can rebuild JSON values.
    param_value     text NOT NULL,
    param_type      text NOT NULL CHECK (param_type IN ('int', 'float', 'str', 'bool', 'json')),
    PRIMARY KEY (experiment_id, param_name)
);

CREATE TABLE ai_training_logs (
    log_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id          uuid NOT NULL REFERENCES ai_training_jobs (job_id) ON DELETE CASCADE,
    level           text NOT NULL
                    CHECK (level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')),
    logger          text NOT NULL DEFAULT '',
    message         text NOT NULL,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_training_logs_job ON ai_training_logs (job_id, log_id);
CREATE INDEX ai_training_logs_created ON ai_training_logs (created_at);

CREATE VIEW active_training_jobs AS
SELECT j.job_id, j.tenant_id, j.model_type, j.model_name, j.feature_set, j.status,
       j.priority, j.progress, j.stage, j.worker_id, j.attempt, j.created_at,
       j.started_at, j.heartbeat_at, j.cancel_requested_at,
       extract(epoch FROM clock_timestamp() - coalesce(j.started_at, j.created_at))
           AS elapsed_seconds,
       CASE WHEN j.status = 'queued' THEN
           row_number() OVER (PARTITION BY j.status ORDER BY j.priority DESC, j.created_at)
       END AS queue_position
FROM ai_training_jobs j
WHERE j.status IN ('queued', 'running');

CREATE VIEW experiment_summary AS
SELECT e.experiment_id, e.tenant_id, e.job_id, e.name, e.model_type, e.model_name,
       e.status, e.model_id, e.metrics AS final_metrics, e.lineage,
       e.created_at, e.completed_at,
       extract(epoch FROM e.completed_at - e.created_at) AS duration_seconds,
       (SELECT count(*) FROM ai_experiment_params p
         WHERE p.experiment_id = e.experiment_id) AS param_count,
       (SELECT count(*) FROM ai_experiment_metrics m
         WHERE m.experiment_id = e.experiment_id) AS metric_points,
       (SELECT coalesce(array_agg(DISTINCT m.metric_name ORDER BY m.metric_name), '{}')
          FROM ai_experiment_metrics m
         WHERE m.experiment_id = e.experiment_id) AS metric_names
FROM ai_experiments e;

-- The last recorded value of each metric of one experiment.
CREATE FUNCTION get_latest_experiment_metrics(p_experiment_id uuid)
RETURNS TABLE (metric_name text, value double precision, step integer, recorded_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT DISTINCT ON (m.metric_name) m.metric_name, m.value, m.step, m.recorded_at
    FROM ai_experiment_metrics m
    WHERE m.experiment_id = p_experiment_id
    ORDER BY m.metric_name, m.step DESC, m.metric_id DESC
$$;

-- All parameters of one experiment as one JSON object with typed values.
CREATE FUNCTION get_experiment_params_json(p_experiment_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(p.param_name,
        CASE p.param_type
            WHEN 'int' THEN to_jsonb(p.param_value::bigint)
            WHEN 'float' THEN to_jsonb(p.param_value::double precision)
            WHEN 'bool' THEN to_jsonb(p.param_value::boolean)
            WHEN 'json' THEN p.param_value::jsonb
            ELSE to_jsonb(p.param_value)
        END), '{}'::jsonb)
    FROM ai_experiment_params p
    WHERE p.experiment_id = p_experiment_id
$$;

-- Cancel every queued job of a tenant; returns how many were cancelled.
CREATE FUNCTION cancel_queued_jobs(p_tenant_id text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    UPDATE ai_training_jobs
       SET status = 'cancelled', completed_at = clock_timestamp(),
           error_message = coalesce(error_message, 'Cancelled with all queued jobs of the tenant')
     WHERE tenant_id = p_tenant_id AND status = 'queued';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- Retention: completed jobs 90 days, failed (and cancelled) jobs 30 days, logs 7 days.
-- Experiments and their metrics are kept: deleting a job only unlinks them.
CREATE FUNCTION cleanup_old_training_data()
RETURNS TABLE (completed_jobs_deleted bigint, failed_jobs_deleted bigint, logs_deleted bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n_logs bigint;
    n_completed bigint;
    n_failed bigint;
BEGIN
    DELETE FROM ai_training_logs WHERE created_at < clock_timestamp() - interval '7 days';
    GET DIAGNOSTICS n_logs = ROW_COUNT;
    DELETE FROM ai_training_jobs
     WHERE status = 'completed' AND completed_at < clock_timestamp() - interval '90 days';
    GET DIAGNOSTICS n_completed = ROW_COUNT;
    DELETE FROM ai_training_jobs
     WHERE status IN ('failed', 'cancelled')
       AND completed_at < clock_timestamp() - interval '30 days';
    GET DIAGNOSTICS n_failed = ROW_COUNT;
    RETURN QUERY SELECT n_completed, n_failed, n_logs;
END;
$$;
