"""The shared study on the real PostgreSQL: budget, stale trials, failures, cancel,
recording, and a job's run with a helper, all in this process (threads stand in for
worker processes; tests/e2e/test_hpo.py runs the real worker)."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from types import SimpleNamespace

import optuna
import pytest
import sqlalchemy as sa
from optuna.trial import TrialState


UTC = timezone.utc
optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.timeout(120)


def config_for(**overrides):
    from trainhub.jobs.config import TrainingConfigSchema, to_json

    return to_json(TrainingConfigSchema().load({
        "start_date": "2024-01-01T00:00:00Z", "end_date": "2024-07-01T00:00:00Z",
        "feature_set": "site", "enable_hpo": True, "n_trials": 6, "n_workers": 2, **overrides}))


@pytest.fixture
def make_job(database_url):
    """Committed running jobs (other connections must see them) of a throwaway tenant
    with six months of demo rows in feature set `site`; removed afterwards."""
    from trainhub import experiments
    from trainhub import tables as t
    from trainhub.db import session_scope
    from trainhub.demo_data import generate_demo_frame
    from trainhub.features import copy_rows, create_feature_set
    from trainhub.jobs.service import JOB_COLUMNS
    from trainhub.jobs.model import Job
    from trainhub.tenants import create_tenant

    tenant_id = f"hpo-{uuid.uuid4().hex[:8]}"
    columns = ["load_kw", "temperature", "humidity"]
    with session_scope() as session:
        create_tenant(session, tenant_id=tenant_id)
        feature_set = create_feature_set(session, tenant_id=tenant_id, name="site", columns=columns,
                                         target_column="load_kw", frequency="h", definition={})
        frame = generate_demo_frame("forecast_basic", datetime(2024, 1, 1, tzinfo=UTC),
                                    datetime(2024, 7, 1, tzinfo=UTC))
        copy_rows(session, feature_set_id=feature_set.feature_set_id, columns=columns, frame=frame)

    def make(**overrides):
        with session_scope() as session:
            row = session.execute(sa.insert(t.jobs).values(
                tenant_id=tenant_id, model_type="forecast", model_name="load_forecast",
                feature_set="site", config=config_for(**overrides), status="running", attempt=1,
                worker_id="test", started_at=sa.func.clock_timestamp(), heartbeat_at=sa.func.clock_timestamp(),
                estimated_duration_seconds=0,
            ).returning(*JOB_COLUMNS)).one()
            job = Job.from_row(row)
            experiment_id = experiments.start_experiment(
                session, tenant_id=tenant_id, job_id=job.job_id, model_type="forecast",
                model_name="load_forecast", name="hpo test", params={}, lineage={})
        return SimpleNamespace(job=job, experiment_id=experiment_id, frame=frame)

    yield make
    with session_scope() as session:
        session.execute(sa.delete(t.tenants).where(t.tenants.c.tenant_id == tenant_id))


def quick_objective(trial):
    return (trial.suggest_float("x", -1, 1) - 0.3) ** 2


def participant(study, job, n_trials, objective=quick_objective, number=0):
    from trainhub.hpo.service import Participant

    return Participant(study, job=job, attempt=job.attempt, number=number, n_trials=n_trials,
                       objective=objective, worker_id="test")


def trials_by_state(study):
    states = [trial.state for trial in study.get_trials(deepcopy=False)]
    return {state: states.count(state) for state in set(states)}


def test_participants_in_parallel_never_run_more_than_the_budget(make_job):
    from trainhub.hpo.service import open_study

    job = make_job().job
    n_trials, stops = 15, []

    def run(number):
        study = open_study(job.job_id, seed=number)
        stops.append(participant(study, job, n_trials, number=number).run(
            wait_for_others=False, check=lambda: None))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    study = open_study(job.job_id, seed=0)
    assert trials_by_state(study) == {TrialState.COMPLETE: n_trials}
    assert sorted(stops) in (["budget"] * 4, ["budget"] * 3 + ["done"], ["budget"] * 2 + ["done"] * 2,
                             ["budget"] + ["done"] * 3, ["done"] * 4)
    # Every participant sampled its own random start: no two trials share parameters.
    assert len({trial.params["x"] for trial in study.trials}) == n_trials


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_trial_of_a_dead_participant_is_failed_and_retried_within_the_budget(make_job, database_url):
    from trainhub.hpo.service import reserve_trial, storage_url

    job = make_job().job
    # The real storage's grace is the job stale window (60 s); two seconds here.
    storage = optuna.storages.RDBStorage(
        storage_url(), heartbeat_interval=1, grace_period=2,
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3))
    study = optuna.create_study(study_name=f"job-{job.job_id}", storage=storage)
    dead = reserve_trial(study, job_id=job.job_id, attempt=1, n_trials=4).trial
    dead_x = dead.suggest_float("x", -1, 1)
    storage.record_heartbeat(dead._trial_id)  # ... and then its process was killed

    assert participant(study, job, 4).run(wait_for_others=True, check=lambda: None) == "done"
    assert trials_by_state(study) == {TrialState.COMPLETE: 4, TrialState.FAIL: 1}
    retried = [t for t in study.trials if t.system_attrs.get("failed_trial") == dead.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params["x"] == dead_x


def test_a_failing_trial_is_replaced_and_endless_failures_stop_the_study(make_job):
    from trainhub.hpo.service import TooManyFailures, open_study

    job = make_job().job
    study = open_study(job.job_id, seed=0)
    calls = []

    def fails_once(trial):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("LightGBM refused")
        return quick_objective(trial)

    assert participant(study, job, 5, fails_once).run(wait_for_others=True, check=lambda: None) == "done"
    assert trials_by_state(study) == {TrialState.COMPLETE: 5, TrialState.FAIL: 1}
    assert study.trials[1].user_attrs["error"] == "RuntimeError: LightGBM refused"

    doomed = open_study(make_job().job.job_id, seed=0)

    def always_fails(trial):
        raise ValueError("bad data")

    with pytest.raises(TooManyFailures, match="ValueError: bad data"):
        participant(doomed, job, 3, always_fails).run(wait_for_others=True, check=lambda: None)
    assert trials_by_state(doomed) == {TrialState.FAIL: 4}


def test_no_trial_starts_once_the_job_is_cancelled_or_ended(make_job):
    from trainhub import tables as t
    from trainhub.db import session_scope
    from trainhub.hpo.service import open_study, reserve_trial

    job = make_job().job
    study = open_study(job.job_id, seed=0)
    assert reserve_trial(study, job_id=job.job_id, attempt=2, n_trials=5).reason == "ended"
    with session_scope() as session:
        session.execute(sa.update(t.jobs).where(t.jobs.c.job_id == job.job_id)
                        .values(cancel_requested_at=sa.func.clock_timestamp()))
    assert reserve_trial(study, job_id=job.job_id, attempt=1, n_trials=5).reason == "cancelled"
    assert participant(study, job, 5).run(wait_for_others=True, check=lambda: None) == "cancelled"
    with session_scope() as session:
        session.execute(sa.update(t.jobs).where(t.jobs.c.job_id == job.job_id)
                        .values(status="failed", completed_at=sa.func.clock_timestamp()))
    assert reserve_trial(study, job_id=job.job_id, attempt=1, n_trials=5).reason == "ended"
    assert study.trials == []


class RecordingMonitor:
    def __init__(self):
        self.progress_calls = []

    def progress(self, fraction, stage):
        self.progress_calls.append((fraction, stage))

    def check_cancelled(self):
        pass

    def record_series(self, *args, **kwargs):
        pass


def test_job_run_and_a_helper_share_one_study_and_record_it_on_the_experiment(make_job, engine):
    from trainhub.hpo.service import open_study, optimise, run_helper

    made = make_job(n_trials=8, n_workers=2, hyperparameters={"n_estimators": 60})
    job, config = made.job, config_for(n_trials=8, n_workers=2, hyperparameters={"n_estimators": 60})
    from trainhub.jobs.config import from_json

    helper = {}
    thread = threading.Thread(target=lambda: helper.update(outcome=run_helper(
        job.job_id, attempt=1, participant=1, worker_id="helper", num_threads=1)))
    thread.start()
    monitor = RecordingMonitor()
    found = optimise(job, from_json(config), made.frame, monitor=monitor, experiment_id=made.experiment_id,
                     worker_id="main", num_threads=1)
    thread.join(60)

    study = open_study(job.job_id, seed=0)
    states = trials_by_state(study)
    assert states.get(TrialState.COMPLETE, 0) + states.get(TrialState.PRUNED, 0) == 8
    assert TrialState.RUNNING not in states and TrialState.FAIL not in states
    assert helper["outcome"].status in ("budget", "done")
    participants = {trial.user_attrs["ran_on"]["participant"] for trial in study.trials}
    assert participants <= {0, 1}

    assert found.best_value == study.best_value and found.best_trial == study.best_trial.number
    assert found.hyperparameters == {"n_estimators": 60, **study.best_params}
    assert found.metrics["hpo_trials_complete"] + found.metrics["hpo_trials_pruned"] == 8
    fractions = [fraction for fraction, stage in monitor.progress_calls if stage == "hpo"]
    assert fractions[0] == 0.40 and fractions[-1] == pytest.approx(0.70)
    assert fractions == sorted(fractions)

    with engine.connect() as conn:
        params = conn.execute(sa.text("SELECT get_experiment_params_json(:e)"),
                              {"e": made.experiment_id}).scalar()
        values = dict(conn.execute(sa.text(
            "SELECT step, value FROM ai_experiment_metrics WHERE experiment_id = :e AND metric_name = 'trial_value'"),
            {"e": made.experiment_id}).all())
    best = study.best_trial
    assert params["hpo.best_trial"] == best.number and params["hpo.best_value"] == best.value
    assert params[f"trial.{best.number}.state"] == "complete"
    assert params[f"trial.{best.number}.learning_rate"] == best.params["learning_rate"]
    assert values == {t.number: t.value for t in study.trials if t.state == TrialState.COMPLETE}
    for trial in study.trials:
        if trial.state == TrialState.PRUNED:
            assert params[f"trial.{trial.number}.pruned_at_round"] == trial.last_step


def test_helpers_are_sent_after_commit_at_the_jobs_priority(db, tenants, redis_client, training_queue):
    import json

    from trainhub.hpo.service import send_helpers
    from trainhub.jobs.config import from_json
    from trainhub.jobs.lifecycle import claim_job
    from trainhub.jobs.model import JobPriority
    from trainhub.jobs.service import create_job
    from trainhub.queue import REDIS_PRIORITY

    def messages(task):
        found = []
        for key in redis_client.scan_iter(match=f"{training_queue}*"):
            if redis_client.type(key) == b"list":
                found += [json.loads(raw) for raw in redis_client.lrange(key, 0, -1)]
        return [m for m in found if m["headers"]["task"] == task]

    tenant_id, _ = tenants()
    config = from_json(config_for(n_workers=3, n_trials=10))
    queued = create_job(db, tenant_id=tenant_id, model_type="forecast", model_name="m", config=config,
                        priority=JobPriority.HIGH)
    db.commit()
    job = claim_job(db, job_id=queued.job_id, worker_id="test")
    assert send_helpers(db, job=job, config=config) == 2
    db.flush()
    assert messages("trainhub.run_trial") == []
    db.commit()
    sent = messages("trainhub.run_trial")
    assert sorted(m["headers"]["argsrepr"] for m in sent) == [
        repr([str(job.job_id), 1, 1]), repr([str(job.job_id), 1, 2])]
    assert {m["properties"]["priority"] for m in sent} == {REDIS_PRIORITY[JobPriority.HIGH]}

    # Never more participants than trials, and none with one worker.
    assert send_helpers(db, job=job, config={**config, "n_workers": 8, "n_trials": 2}) == 1
    assert send_helpers(db, job=job, config={**config, "n_workers": 1}) == 0
    db.rollback()
    assert len(messages("trainhub.run_trial")) == 2
