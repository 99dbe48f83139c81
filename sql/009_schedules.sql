-- Cron-scheduled retraining: a schedule per model to retrain, and one row per cron
-- tick the dispatcher handled (a job created, or skipped and why).

CREATE TABLE ai_training_schedules (
    schedule_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_type      text NOT NULL CHECK (model_type IN ('forecast', 'anomaly')),
    model_name      text NOT NULL CHECK (length(model_name) BETWEEN 1 AND 128),
    -- The training config of every fire without its dates: each fire trains on
    -- [fire_time - window, fire_time), never on fixed dates.
    config          jsonb NOT NULL,
    -- Five-field cron (minute resolution), evaluated in `timezone` (an IANA name).
    cron            text NOT NULL,
    timezone        text NOT NULL DEFAULT 'UTC',
    -- Priority of the jobs it creates: low = -1, normal = 0, high = 1, urgent = 2.
    priority        smallint NOT NULL DEFAULT -1 CHECK (priority BETWEEN -1 AND 2),
    -- A paused schedule (false) fires nothing; resuming does not replay the pause.
    enabled         boolean NOT NULL DEFAULT true,
    window_seconds  bigint NOT NULL CHECK (window_seconds > 0),
    -- After the dispatcher was down, several ticks may be due at once; only the latest
    -- is considered, never a burst:
    --   run_once: the latest due tick fires, however late;
    --   skip:     the latest due tick fires only if it is within the grace period.
    catch_up        text NOT NULL DEFAULT 'run_once' CHECK (catch_up IN ('run_once', 'skip')),
    -- Sets auto_promote in every created job's config (champion/challenger gate).
    auto_promote    boolean NOT NULL DEFAULT false,
    -- Every tick at or before this instant is dealt with: fired, skipped, or fell before
    -- the schedule existed, while it was paused, or under a previous cron. Only moves
    -- forward (greatest()).
    handled_through timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The job whose start request (config.schedule) created this schedule, if any.
    origin_job_id   uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_training_schedules_tenant ON ai_training_schedules (tenant_id, created_at DESC);
-- The dispatcher reads every enabled schedule once a minute.
CREATE INDEX ai_training_schedules_enabled ON ai_training_schedules (schedule_id) WHERE enabled;
CREATE TRIGGER ai_training_schedules_updated_at BEFORE UPDATE ON ai_training_schedules
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE ai_schedule_fires (
    schedule_id     uuid NOT NULL REFERENCES ai_training_schedules (schedule_id) ON DELETE CASCADE,
    -- The cron tick, as an instant.
    fire_time       timestamptz NOT NULL,
    -- created: a job was created for the tick (job_id, in the same transaction)
    -- skipped: no job; reason and detail say why
    status          text NOT NULL CHECK (status IN ('created', 'skipped')),
    job_id          uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    -- no_new_data:           no feature rows newer than the last successful run's data end
    -- no_data_in_window:     the feature set's newest row is older than the window
    -- feature_set_not_found: the tenant has no feature set of that name
    -- missed:                the tick was seen too late and catch_up is 'skip'
    -- invalid_config:        the template no longer validates as a job config
    reason          text CHECK (reason IN ('no_new_data', 'no_data_in_window',
                                           'feature_set_not_found', 'missed', 'invalid_config')),
    detail          text,
    -- Earlier ticks that passed while no dispatcher ran; they are never run one by one.
    missed_ticks    integer NOT NULL DEFAULT 0 CHECK (missed_ticks >= 0),
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    dispatched_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- One fire per schedule and tick: the dispatcher that inserts this row first owns
    -- the tick (INSERT … ON CONFLICT DO NOTHING) and creates the job in the same
    -- transaction, so concurrent beats or a retried dispatch can never make a second job.
    PRIMARY KEY (schedule_id, fire_time),
    CONSTRAINT ai_schedule_fires_skip_has_reason CHECK ((status = 'skipped') = (reason IS NOT NULL)),
    CONSTRAINT ai_schedule_fires_window CHECK (window_start < window_end)
);
-- History newest first reads the primary key backwards; the data gate joins fires to jobs.
CREATE INDEX ai_schedule_fires_job ON ai_schedule_fires (job_id) WHERE job_id IS NOT NULL;
