-- Hyperparameter optimisation studies live in Optuna's own tables (RDBStorage creates
-- and migrates them with its bundled alembic: studies, trials, trial_params,
-- trial_heartbeats, alembic_version, …). Their generic names and their own migration
-- history stay out of the public schema, and so out of the way of sql/, in a schema
-- of their own; trainhub.hpo connects with search_path=optuna. The tables themselves
-- are Optuna's to create, so that an Optuna upgrade migrates them its own way.
CREATE SCHEMA IF NOT EXISTS optuna;
COMMENT ON SCHEMA optuna IS
    'Optuna RDBStorage tables: one study per HPO job, named job-<job_id> (see trainhub/hpo)';
