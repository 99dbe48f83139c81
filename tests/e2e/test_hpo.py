"""HPO end to end: the API, the real worker (two pool slots), Redis, and the study in
PostgreSQL. A job with n_workers=2 runs in one slot and its helper in the other."""
from __future__ import annotations

import os
import signal
import time
from datetime import datetime

import optuna
import pytest
from optuna.trial import TrialState

from tests.e2e.test_worker_jobs import scalar, submit, wait_until_ended
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(180)
optuna.logging.set_verbosity(optuna.logging.WARNING)

THREE_YEARS = {"start_date": "2023-01-01T00:00:00Z", "end_date": "2026-01-01T00:00:00Z"}
# Every trial boosts 300 rounds unless pruned: long enough to be caught mid-fit.
SLOW_TRIALS = {"hyperparameters": {"n_estimators": 300}, "early_stopping_rounds": 300}


def hpo_config(n_trials, **overrides):
    return {**THREE_YEARS, "enable_hpo": True, "n_trials": n_trials, "n_workers": 2, **overrides}


def study_of(job_id):
    from trainhub.hpo import storage_url, study_name

    return optuna.load_study(study_name=study_name(job_id), storage=storage_url())


def trials(job_id, *states):
    try:
        found = study_of(job_id).get_trials(deepcopy=False)
    except KeyError:  # the study is not created yet
        return []
    return [t for t in found if not states or t.state in states]


def max_overlap(intervals):
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_hpo_job_spreads_trials_over_two_slots_and_registers_the_best(api, worker, e2e_tenant, engine):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, model_name="hpo_forecast", config=hpo_config(12))
    done = wait_until_ended(api, headers, job_id, timeout=150)
    assert done["status"] == "completed", done["error_message"]
    assert done["progress"] == 1.0

    finished = trials(job_id, TrialState.COMPLETE, TrialState.PRUNED)
    assert len(finished) == 12 and len(trials(job_id)) == 12  # one budget, nothing failed
    ran_on = {t.user_attrs["ran_on"]["participant"] for t in finished}
    assert ran_on == {0, 1}, "the helper in the second slot took trials too"
    assert len({t.user_attrs["ran_on"]["pid"] for t in finished}) == 2
    # Two slots, two trials at a time at most — and at some point both at once.
    assert max_overlap([(t.datetime_start, t.datetime_complete) for t in finished]) == 2

    study = study_of(job_id)
    best = study.best_trial
    assert done["metrics"]["hpo_best_value"] == pytest.approx(best.value)
    assert done["metrics"]["hpo_best_trial"] == best.number
    assert done["metrics"]["r2"] > 0.5 and done["metrics"]["mae"] > 0
    # The final model trained with the best trial's parameters and is registered.
    hyperparameters = scalar(engine, "SELECT hyperparameters FROM ai_models WHERE model_id = :m", m=done["model_id"])
    for name, value in best.params.items():
        assert hyperparameters[name] == pytest.approx(value), name

    params = scalar(engine, "SELECT get_experiment_params_json(:e)", e=done["experiment_id"])
    assert params["hpo.best_trial"] == best.number and params["hpo.study"] == f"job-{job_id}"
    assert {f"trial.{t.number}.state" for t in finished} <= set(params)
    n_values = scalar(engine, "SELECT count(*) FROM ai_experiment_metrics WHERE experiment_id = :e "
                      "AND metric_name = 'trial_value'", e=done["experiment_id"])
    assert n_values == sum(t.state == TrialState.COMPLETE for t in finished)
    logs = api.get(f"/ai/training/jobs/{job_id}/logs?tail=1000", headers=headers).json["logs"]
    assert any("HPO helper 1" in line["message"] for line in logs)


def test_trial_of_a_killed_worker_process_is_retried_and_the_study_completes(api, worker, e2e_tenant, engine):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, model_name="hpo_killed", config=hpo_config(6, **SLOW_TRIALS))
    helper_trial = wait_for(
        lambda: next((t for t in trials(job_id, TrialState.RUNNING)
                      if t.user_attrs.get("ran_on", {}).get("participant") == 1), None),
        timeout=90, what="the helper to run a trial")
    # SIGKILL the pool child running the helper: its trial stops heartbeating mid-fit.
    killed = helper_trial.user_attrs["ran_on"]["pid"]
    os.kill(killed, signal.SIGKILL)

    done = wait_until_ended(api, headers, job_id, timeout=150)
    assert done["status"] == "completed", done["error_message"]
    assert done["attempt"] == 1  # the job's own run was never disturbed
    all_trials = trials(job_id)
    died = [t for t in all_trials if t.user_attrs["ran_on"]["pid"] == killed and t.state == TrialState.FAIL]
    assert [t.number for t in died] == [helper_trial.number]
    retries = [t for t in all_trials if t.system_attrs.get("failed_trial") == helper_trial.number]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    # The retry repeats what the dead trial had sampled (it may have died mid-sampling).
    assert died[0].params.items() <= retries[0].params.items()
    finished = [t for t in all_trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 6  # the budget, not the budget plus the retry
    assert done["metrics"]["hpo_trials_failed"] == 1
    assert worker["process"].poll() is None


def test_cancel_stops_the_study_within_one_trial_and_starts_no_new_trial(api, worker, e2e_tenant, engine):
    tenant_id, headers = e2e_tenant
    job_id = submit(api, headers, tenant_id, model_name="hpo_cancelled", config=hpo_config(200, **SLOW_TRIALS))
    wait_for(lambda: len(trials(job_id, TrialState.COMPLETE, TrialState.PRUNED)) >= 2, timeout=90,
             what="two trials to finish")
    asked = time.monotonic()
    resp = api.delete(f"/ai/training/jobs/{job_id}", headers=headers)
    # Optuna stamps trials with this host's naive local time.
    cancelled_at = datetime.now()
    assert resp.status_code == 200 and resp.json["cancel_requested"] is True
    ended = wait_until_ended(api, headers, job_id, timeout=10)
    assert ended["status"] == "cancelled"
    assert time.monotonic() - asked < 5

    # Trials running at the cancel stop mid-fit (LightGBM checks between rounds).
    wait_for(lambda: not trials(job_id, TrialState.RUNNING), timeout=5, what="running trials to stop")
    all_trials = trials(job_id)
    late = [t.number for t in all_trials if (t.datetime_start - cancelled_at).total_seconds() > 0.5]
    assert late == [], "no trial may start after the cancel"
    assert len(all_trials) < 200
    aborted = [t for t in all_trials if t.state == TrialState.FAIL]
    assert all("Cancelled" in t.user_attrs.get("error", "") for t in aborted)
    assert scalar(engine, "SELECT status FROM ai_experiments WHERE job_id = :j", j=job_id) == "cancelled"
    assert scalar(engine, "SELECT count(*) FROM ai_models WHERE job_id = :j", j=job_id) == 0
