-- The registry's memory: each experiment's test window (for forecast-vs-actual plots and
-- the champion/challenger gate), every champion/challenger decision with both scores,
-- and every stage change of a model version with who made it and why.

-- One row per experiment: the time-ordered test rows its model was scored on. Arrays
-- keep the window in one row (a year of hourly data has ~900 test rows), read in one
-- fetch for a plot; as experiment metric rows they would pose as metrics in
-- experiment_summary and get_latest_experiment_metrics.
CREATE TABLE ai_experiment_test_windows (
    experiment_id   uuid PRIMARY KEY REFERENCES ai_experiments (experiment_id) ON DELETE CASCADE,
    target          text NOT NULL,
    -- Hours between a row's features (ts) and the value it forecasts; 0 for anomaly
    -- models, whose predicted value is the anomaly score of the hour itself.
    horizon         integer NOT NULL CHECK (horizon >= 0),
    ts              timestamptz[] NOT NULL,
    actual          double precision[] NOT NULL,
    predicted       double precision[] NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ai_experiment_test_windows_aligned
        CHECK (cardinality(ts) = cardinality(actual) AND cardinality(ts) = cardinality(predicted))
);

CREATE TABLE ai_promotion_decisions (
    decision_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_name          text NOT NULL,
    challenger_model_id text NOT NULL REFERENCES ai_models (model_id) ON DELETE CASCADE,
    -- The production version when the gate ran; NULL when there was none.
    champion_model_id   text REFERENCES ai_models (model_id) ON DELETE SET NULL,
    job_id              uuid REFERENCES ai_training_jobs (job_id) ON DELETE SET NULL,
    metric              text,
    -- Relative improvement the challenger needed (0.05 = 5 % better than the champion).
    margin              double precision NOT NULL DEFAULT 0 CHECK (margin >= 0),
    -- Both re-scored by the gate on the challenger's holdout, not copied from training.
    challenger_score    double precision,
    champion_score      double precision,
    holdout_rows        integer CHECK (holdout_rows >= 0),
    holdout_start       timestamptz,
    holdout_end         timestamptz,
    -- promoted: the challenger became production (it beat the champion, or there was none)
    -- refused:  it did not beat the champion by the margin, or the two cannot be compared
    -- skipped:  no score could decide (e.g. an anomaly model without labels); nothing changed
    -- error:    scoring failed; nothing changed
    decision            text NOT NULL CHECK (decision IN ('promoted', 'refused', 'skipped', 'error')),
    reason              text NOT NULL,
    decided_by          text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ai_promotion_decisions_model
    ON ai_promotion_decisions (tenant_id, model_name, decision_id DESC);
CREATE INDEX ai_promotion_decisions_challenger ON ai_promotion_decisions (challenger_model_id);
CREATE INDEX ai_promotion_decisions_champion ON ai_promotion_decisions (champion_model_id)
    WHERE champion_model_id IS NOT NULL;

-- Append-only audit of stage changes, written in the transaction that changes the stage.
CREATE TABLE ai_model_stage_history (
    history_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id        text NOT NULL REFERENCES ai_models (model_id) ON DELETE CASCADE,
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    model_name      text NOT NULL,
    from_stage      text NOT NULL CHECK (from_stage IN ('none', 'staging', 'production', 'archived')),
    to_stage        text NOT NULL CHECK (to_stage IN ('none', 'staging', 'production', 'archived')),
    -- 'key:<key prefix>' for an API key, 'admin' for the bootstrap admin key,
    -- 'gate (job <job_id>)' for the champion/challenger gate.
    changed_by      text NOT NULL,
    reason          text NOT NULL,
    -- Set when the gate made the change.
    decision_id     bigint REFERENCES ai_promotion_decisions (decision_id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT ai_model_stage_history_changes CHECK (from_stage <> to_stage)
);
-- Rollback reads a model name's production entries newest first.
CREATE INDEX ai_model_stage_history_model_name
    ON ai_model_stage_history (tenant_id, model_name, history_id DESC);
CREATE INDEX ai_model_stage_history_version ON ai_model_stage_history (model_id, history_id);
