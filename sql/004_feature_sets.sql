-- Tenants' time series. A feature set names its columns once; each row stores its
-- values as one float array in that order, which COPYs fast and keeps rows narrow.
CREATE TABLE feature_sets (
    feature_set_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    columns         text[] NOT NULL CHECK (cardinality(columns) >= 1),
    target_column   text NOT NULL,
    -- pandas offset alias of the series ('h' hourly, 'D' daily, '30min' …).
    frequency       text NOT NULL DEFAULT 'h',
    -- How features are engineered from the raw columns (lags, windows, calendar).
    definition      jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Built-in demo sets are generated deterministically rather than uploaded.
    builtin         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT feature_sets_target_is_column CHECK (target_column = ANY (columns)),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER feature_sets_updated_at BEFORE UPDATE ON feature_sets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE feature_rows (
    feature_set_id  bigint NOT NULL REFERENCES feature_sets (feature_set_id) ON DELETE CASCADE,
    series_id       text NOT NULL DEFAULT '',
    ts              timestamptz NOT NULL,
    vals            double precision[] NOT NULL,
    -- One value per timestamp and series: re-sent timestamps replace, never duplicate.
    PRIMARY KEY (feature_set_id, series_id, ts)
);
