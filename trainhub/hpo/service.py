"""One Optuna study per HPO job, shared by the job's run and its helper tasks.

How a job with ``enable_hpo`` and ``n_workers = k`` runs:

* The job's own run (trainhub.jobs.runner, participant 0) sends k-1
  ``trainhub.run_trial`` helper messages as it starts, loads the data, and takes
  trials itself. Each helper (participant 1..k-1) loads the same rows, opens the same
  study and takes trials until the budget is spent. So the job holds at most k pool
  slots, and a worker with one slot never deadlocks: nobody waits for a helper; if no
  helper ever runs, participant 0 runs every trial alone.
* ``n_trials`` is one budget for the whole study. A participant reserves a trial under
  a PostgreSQL advisory lock on the study, counting the trials that are running,
  complete or pruned; only when fewer than n_trials it asks Optuna for the next trial.
  Failed trials do not count, so a failure is retried within the budget.
* Every running trial heartbeats (Optuna's RDBStorage heartbeat). A trial whose
  process died (SIGKILL, OOM, a lost host) stops heartbeating; after the job stale
  window any participant marks it FAIL, and RetryHeartbeatStaleTrialCallback queues a
  copy with the same parameters, which the next reservation picks up.
* Participant 0 waits until n_trials trials are complete or pruned, records every
  trial on the job's experiment, and returns the best trial's parameters, on which
  the runner trains, evaluates and registers the final model like any job.
* A cancel reaches participant 0 through its JobMonitor and the helpers through a
  JobWatch (both read the job row every second); LightGBM checks between rounds, so
  running trials stop at once, and the reservation re-reads the job row under the
  lock, so no trial starts after the cancel is committed.

The study is named ``job-<job_id>`` and outlives attempts: when a dead worker's job
is handed to a new run, that run continues the study instead of starting over.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

import optuna
import pandas as pd
import sqlalchemy as sa
from optuna.storages._heartbeat import get_heartbeat_thread
from optuna.trial import TrialState
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from trainhub import experiments
from trainhub import tables as t
from trainhub.config import get_settings
from trainhub.db import get_engine, session_scope
from trainhub.errors import JobNotFound
from trainhub.features import load_training_rows, resolve_training_source
from trainhub.hpo.search import SEED, Objective, TrialHooks, make_pruner, make_sampler, prepare_split
from trainhub.hyperparams import search_space
from trainhub.jobs import config as job_config
from trainhub.jobs.joblog import JobLogHandler
from trainhub.jobs.model import Job, JobStatus
from trainhub.jobs.monitor import RunLost
from trainhub.jobs.service import get_job
from trainhub.pipeline.hooks import Cancelled, PipelineHooks
from trainhub.queue import PendingTrials, enqueue_trials_after_commit

log = logging.getLogger("trainhub.hpo")
# Optuna prints to stderr through a handler of its own (which Celery turns into WARNING
# lines); sent through logging like every other library, its few INFO lines land in
# the worker log and the job's log at their real level.
optuna.logging.disable_default_handler()
optuna.logging.enable_propagation()

OPTUNA_SCHEMA = "optuna"  # created by sql/008_hpo_studies.sql
# Any int4 constant: keeps these advisory locks apart from other users of the lock space.
_LOCK_NAMESPACE = 0x68706F74
_STORAGE_INIT_LOCK = 0
# Trials that use up the budget. FAIL is not among them (a failure is retried within
# the budget) nor WAITING (a queued retry is taken by the next reservation).
BUDGET_STATES = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)
FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
# Optuna's heartbeat period, in whole seconds (its unit). Each running trial writes one
# row per period; a trial is presumed dead after the job stale window without one.
HEARTBEAT_SECONDS = 1
# How often retries of a trial whose process died are queued before it counts as failed.
MAX_RETRIES = 3
# Participant 0 polls the study this often while the last trials run elsewhere.
WAIT_SECONDS = 0.1
# Progress of the whole job while the study runs: 0.40 → 0.70 as trials finish.
PROGRESS_START, PROGRESS_END = 0.40, 0.70


class TooManyFailures(RuntimeError):
    """More trials failed than the study's budget: something is wrong beyond one trial."""


# --- storage ----------------------------------------------------------------------------

def storage_url(database_url: str | None = None) -> str:
    """TrainHub's database URL with search_path=optuna: the URL for optuna-dashboard."""
    url = make_url(database_url or get_settings().database_url)
    options = " ".join(filter(None, [url.query.get("options"), f"-csearch_path={OPTUNA_SCHEMA}"]))
    return url.update_query_dict({"options": options}).render_as_string(hide_password=False)


_storages: dict[tuple[str, int], optuna.storages.RDBStorage] = {}


def get_storage(database_url: str | None = None) -> optuna.storages.RDBStorage:
    """This process's RDBStorage (one engine per process: pool children never share
    sockets with the parent they forked from)."""
    key = (storage_url(database_url), os.getpid())
    if key not in _storages:
        with get_engine(database_url).begin() as conn, warnings.catch_warnings():
            # RDBStorage creates Optuna's tables on first use; two processes doing that at
            # once race on CREATE TABLE, so the first use is serialised.
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_NAMESPACE, _STORAGE_INIT_LOCK)))
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            _storages[key] = optuna.storages.RDBStorage(
                key[0],
                # No pool_pre_ping: Optuna opens a session per storage call, and a ping on
                # each checkout was a seventh of a trial's round trips.
                engine_kwargs={"connect_args": {"application_name": "trainhub-optuna"}},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=max(2 * HEARTBEAT_SECONDS, get_settings().job_stale_after),
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=MAX_RETRIES),
            )
    return _storages[key]


def study_name(job_id: UUID) -> str:
    return f"job-{job_id}"


def open_study(job_id: UUID, *, seed: int, database_url: str | None = None) -> optuna.Study:
    """The job's study, created by whichever participant comes first."""
    return optuna.create_study(
        study_name=study_name(job_id), storage=get_storage(database_url), direction="minimize",
        sampler=make_sampler(seed), pruner=make_pruner(), load_if_exists=True,
    )


def participant_seed(participant: int, attempt: int, joined_at: int = 0) -> int:
    # Every participant samples its own random startup trials: with one seed for all,
    # two helpers would draw the same first parameters, and so would a helper whose
    # message was redelivered after its process died (hence the trials it found on
    # joining). Participant 0 of attempt 1 joins an empty study and keeps SEED, so a
    # one-worker study repeats exactly.
    return SEED + participant + 1000 * (attempt - 1) + 100_000 * joined_at


# --- the budget -------------------------------------------------------------------------

@dataclass(frozen=True)
class Reservation:
    trial: optuna.Trial | None
    # Why no trial: "budget" (every trial is taken), "failing" (more trials failed than
    # the budget), "cancelled" or "ended" (the job no longer runs this attempt).
    reason: str = ""
    finished: int = 0  # complete or pruned trials when the reservation was made
    failed: int = 0


_COUNT_TRIALS = sa.text(
    f"SELECT t.state::text, count(*) FROM {OPTUNA_SCHEMA}.trials t "
    f"JOIN {OPTUNA_SCHEMA}.studies s ON s.study_id = t.study_id "
    "WHERE s.study_name = :name GROUP BY t.state")


def reserve_trial(study: optuna.Study, *, job_id: UUID, attempt: int, n_trials: int) -> Reservation:
    """Start the study's next trial if the job still runs this attempt and the budget
    allows. The advisory lock makes count-then-create atomic across processes: two
    participants can never both take the last trial. One read of the trials serves the
    budget, the progress and the failure count."""
    with get_engine().begin() as conn:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
            _LOCK_NAMESPACE, sa.func.hashtext(study.study_name))))
        row = conn.execute(
            sa.select(t.jobs.c.status, t.jobs.c.attempt, t.jobs.c.cancel_requested_at)
            .where(t.jobs.c.job_id == job_id)
        ).first()
        if row is None or row.status != JobStatus.RUNNING.value or row.attempt != attempt:
            return Reservation(None, "ended")
        if row.cancel_requested_at is not None:
            return Reservation(None, "cancelled")
        # One GROUP BY on Optuna's trials table, where study.get_trials would take seven
        # queries (a trial's params, values and attributes come with it).
        states = Counter({TrialState[state]: n for state, n in conn.execute(_COUNT_TRIALS,
                                                                            {"name": study.study_name})})
        finished = sum(states[state] for state in FINISHED_STATES)
        counts = {"finished": finished, "failed": states[TrialState.FAIL]}
        if states[TrialState.FAIL] > n_trials:
            return Reservation(None, "failing", **counts)
        if sum(states[state] for state in BUDGET_STATES) >= n_trials:
            return Reservation(None, "budget", **counts)
        # Creates the trial RUNNING and commits it before the lock is released (or takes
        # a queued retry of a trial whose process died).
        with warnings.catch_warnings():
            # Optuna suggests heartbeats with Study.optimize; Participant does what
            # optimize does (fail stale trials, heartbeat thread, tell) around its own ask.
            warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed")
            return Reservation(study.ask(), **counts)


def fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


# --- running trials ---------------------------------------------------------------------

class Participant:
    """One process's share of a study: reserve, run, tell, until there is nothing left."""

    def __init__(self, study: optuna.Study, *, job: Job, attempt: int, number: int, n_trials: int,
                 objective: Objective, worker_id: str) -> None:
        self.study, self.job, self.attempt, self.number = study, job, attempt, number
        self.n_trials, self.objective = n_trials, objective
        self.ran_on = {"participant": number, "worker": worker_id, "pid": os.getpid()}
        self._stale_checked = 0.0

    def run(self, *, wait_for_others: bool, check: Callable[[], None],
            on_finished: Callable[[int], None] = lambda _: None) -> str:
        """Take trials until the study is done (wait_for_others: participant 0 also
        waits for trials still running elsewhere) or this participant must stop.
        Returns why it stopped: "done", "budget", "cancelled" or "ended"."""
        while True:
            check()
            self._fail_stale_trials()
            reservation = reserve_trial(self.study, job_id=self.job.job_id, attempt=self.attempt,
                                        n_trials=self.n_trials)
            if reservation.reason in ("cancelled", "ended"):
                return reservation.reason
            on_finished(reservation.finished)
            if reservation.trial is not None:
                self._run_one(reservation.trial)
            elif reservation.reason == "failing":
                raise TooManyFailures(
                    f"{reservation.failed} trials failed, more than the budget of {self.n_trials}; "
                    f"last error: {self._last_error()}")
            elif reservation.finished >= self.n_trials:
                return "done"
            elif not wait_for_others:
                return "budget"
            else:
                # Every trial left is running in another participant: wait for them (or
                # for one of them to go stale and come back as a queued retry).
                time.sleep(WAIT_SECONDS)

    def _fail_stale_trials(self) -> None:
        # A trial goes stale only after the grace period without a heartbeat, so looking
        # more often than once a heartbeat period finds nothing new.
        if time.monotonic() - self._stale_checked >= HEARTBEAT_SECONDS:
            fail_stale_trials(self.study)
            self._stale_checked = time.monotonic()

    def _run_one(self, trial: optuna.Trial) -> None:
        trial.set_user_attr("ran_on", self.ran_on)
        state, value = TrialState.FAIL, None
        # Optuna's own heartbeat thread, the one Study.optimize runs around a trial (not
        # exported, hence the private import): a row now and every HEARTBEAT_SECONDS.
        with get_heartbeat_thread(trial._trial_id, self.study._storage):
            try:
                value = self.objective(trial)
                state = TrialState.COMPLETE
            except optuna.TrialPruned as pruned:
                state = TrialState.PRUNED
                log.info("trial %d pruned (%s)", trial.number, pruned)
            except Exception as exc:
                # Cancelled and RunLost end this participant; anything else fails only
                # this trial, and the budget lets another take its place.
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:1000])
                self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
                if isinstance(exc, (Cancelled, RunLost)):
                    raise
                log.warning("trial %d failed: %s: %s", trial.number, type(exc).__name__, exc,
                            exc_info=True)
                return
        # skip_if_finished: a trial presumed dead (its heartbeat late) was already failed
        # and queued again; this late result is dropped rather than raising.
        frozen = self.study.tell(trial, value, state=state, skip_if_finished=True)
        if frozen.state == TrialState.COMPLETE:
            log.info("trial %d: validation RMSE %.6g with %s", trial.number, value, frozen.params)

    def _last_error(self) -> str:
        failed = self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return next((f.user_attrs["error"] for f in reversed(failed) if "error" in f.user_attrs),
                    "no error recorded (their processes died)")


# --- participant 0: the job's own run ----------------------------------------------------

@dataclass(frozen=True)
class Found:
    """What the study found, for the final model and the job's metrics."""

    hyperparameters: dict[str, Any]  # fixed values with the best trial's parameters
    best_value: float
    best_trial: int
    metrics: dict[str, Any]


def send_helpers(session: Session, *, job: Job, config: dict[str, Any]) -> int:
    """Queue the job's helper trial tasks, sent when the session commits. Returns how
    many: n_workers - 1, but never more helpers than trials."""
    helpers = tuple(range(1, min(config["n_workers"], config["n_trials"])))
    if helpers:
        enqueue_trials_after_commit(session, PendingTrials(
            job_id=job.job_id, attempt=job.attempt, priority=job.priority, participants=helpers,
            label=f"{job.tenant_id}/{job.model_name} {job.priority_name}"))
    return len(helpers)


def optimise(job: Job, config: dict[str, Any], frame: pd.DataFrame, *, monitor: PipelineHooks,
             experiment_id: UUID, worker_id: str, num_threads: int,
             feature_definition: dict[str, Any] | None = None, frequency: str = "h") -> Found:
    """Run the job's study to n_trials finished trials with whatever helpers join.
    `frame`, `feature_definition` and `frequency` are what the run loaded (the final
    model's inputs). `monitor` is the job's JobMonitor: its progress shows finished
    trials, its check_cancelled stops the study (raising Cancelled, or RunLost)."""
    if job.model_type != "forecast":
        raise ValueError("hyperparameter optimisation is for forecast models")
    fixed, space = search_space(config["hyperparameters"])
    n_trials = config["n_trials"]
    monitor.progress(0.30, "preprocess")
    split = prepare_split(frame, target=config["target_variable"], horizon=config["horizon"],
                          validation_split=config["validation_split"], test_split=config["test_split"],
                          feature_definition=feature_definition, frequency=frequency)
    monitor.progress(PROGRESS_START, "hpo")
    monitor.check_cancelled()
    study = open_study(job.job_id, seed=participant_seed(0, job.attempt))
    study.set_user_attr("trainhub", {
        "job_id": str(job.job_id), "tenant_id": job.tenant_id, "model_name": job.model_name,
        "n_trials": n_trials, "n_workers": config["n_workers"], "search_space": space,
        "fixed": fixed, "objective": "validation RMSE at the best round"})
    log.info("HPO study %s: %d trials over %d participant(s), searching %s", study.study_name,
             n_trials, min(config["n_workers"], n_trials), ", ".join(space))
    objective = Objective(split, fixed=fixed, space=space,
                          early_stopping_rounds=config["early_stopping_rounds"],
                          num_threads=num_threads, hooks=TrialHooks(monitor.check_cancelled))
    participant = Participant(study, job=job, attempt=job.attempt, number=0, n_trials=n_trials,
                              objective=objective, worker_id=worker_id)

    def on_finished(finished: int) -> None:
        share = min(finished, n_trials) / n_trials
        monitor.progress(PROGRESS_START + (PROGRESS_END - PROGRESS_START) * share, "hpo")

    try:
        stopped = participant.run(wait_for_others=True, check=monitor.check_cancelled,
                                  on_finished=on_finished)
        if stopped == "cancelled":
            raise Cancelled(f"job {job.job_id} was cancelled")
        if stopped == "ended":
            raise RunLost(f"job {job.job_id} attempt {job.attempt} is no longer running")
    finally:
        # Trials finished so far go on the experiment whatever happens, so a cancelled
        # or failed study still shows what it tried.
        try:
            with session_scope() as session:
                record_trials(session, experiment_id=experiment_id, study=study)
        except Exception:  # noqa: BLE001 - never hide the exception that ended the study
            log.warning("could not record the trials of %s", study.study_name, exc_info=True)
    best = study.best_trial
    counts = Counter(trial.state for trial in study.get_trials(deepcopy=False))
    log.info("HPO study %s done: best trial %d, validation RMSE %.6g, %s", study.study_name,
             best.number, best.value, best.params)
    return Found(
        hyperparameters={**fixed, **best.params}, best_value=best.value, best_trial=best.number,
        metrics={"hpo_best_value": best.value, "hpo_best_trial": best.number,
                 "hpo_trials_complete": counts[TrialState.COMPLETE],
                 "hpo_trials_pruned": counts[TrialState.PRUNED],
                 "hpo_trials_failed": counts[TrialState.FAIL]},
    )


def record_trials(session: Session, *, experiment_id: UUID, study: optuna.Study) -> None:
    """Each finished trial on the experiment: params ``trial.<n>.<name>`` and
    ``trial.<n>.state``, metric ``trial_value`` (validation RMSE) at step n for complete
    trials, the round a pruned trial stopped at, and the study's summary as ``hpo.*``.

    The experiment's own params and metrics tables rather than a table of ours: the
    experiments API, compare and get_experiment_params_json show them as they are, and
    the full detail (intermediate values, timings, heartbeats) stays in Optuna's tables
    for optuna-dashboard."""
    trials = [trial for trial in study.get_trials(deepcopy=False)
              if trial.state in (*FINISHED_STATES, TrialState.FAIL)]
    params: dict[str, Any] = {}
    values: list[tuple[str, list[float], int]] = []
    for trial in trials:
        prefix = f"trial.{trial.number}"
        params[f"{prefix}.state"] = trial.state.name.lower()
        params.update({f"{prefix}.{name}": value for name, value in trial.params.items()})
        if trial.state == TrialState.COMPLETE:
            values.append(("trial_value", [trial.value], trial.number))
        elif trial.state == TrialState.PRUNED and trial.last_step is not None:
            params[f"{prefix}.pruned_at_round"] = trial.last_step
    counts = Counter(trial.state for trial in trials)
    params.update({"hpo.study": study.study_name, "hpo.trials_complete": counts[TrialState.COMPLETE],
                   "hpo.trials_pruned": counts[TrialState.PRUNED],
                   "hpo.trials_failed": counts[TrialState.FAIL]})
    if counts[TrialState.COMPLETE]:
        best = study.best_trial
        params.update({"hpo.best_trial": best.number, "hpo.best_value": best.value})
    experiments.record_params(session, experiment_id=experiment_id, params=params)
    experiments.record_metric_series(session, experiment_id=experiment_id, series=values)


# --- participants 1..k-1: helper tasks ---------------------------------------------------

class JobWatch:
    """A helper's view of its job: a thread reads the job row every second and flushes
    the helper's log lines; check() raises Cancelled once the job is cancelled, ended,
    or handed to another attempt. Reads only: the job row is participant 0's to write."""

    def __init__(self, job_id: UUID, attempt: int, logs: JobLogHandler, *, interval: float = 1.0) -> None:
        self.job_id, self.attempt, self.logs, self.interval = job_id, attempt, logs, interval
        self.reason = ""
        self._stopped, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"hpo-watch-{job_id}", daemon=True)

    def check(self) -> None:
        if self._stopped.is_set():
            raise Cancelled(f"job {self.job_id} {self.reason}")

    def __enter__(self) -> "JobWatch":
        self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            try:
                self._read()
                self.logs.flush()
            except Exception:  # noqa: BLE001 - a blip must not end the helper; next tick retries
                log.warning("watching job %s failed; retrying", self.job_id, exc_info=True)

    def _read(self) -> None:
        with get_engine().connect() as conn:
            row = conn.execute(
                sa.select(t.jobs.c.status, t.jobs.c.attempt, t.jobs.c.cancel_requested_at)
                .where(t.jobs.c.job_id == self.job_id)
            ).first()
        if row is None or row.status != JobStatus.RUNNING.value or row.attempt != self.attempt:
            self.reason = "is no longer running this attempt"
            self._stopped.set()
        elif row.cancel_requested_at is not None:
            self.reason = "was cancelled"
            self._stopped.set()


@dataclass(frozen=True)
class HelperOutcome:
    job_id: UUID
    participant: int
    status: str  # done | budget | cancelled | ended | dropped (job not running) | failed
    detail: str = ""


def run_helper(job_id: UUID, *, attempt: int, participant: int, worker_id: str,
               num_threads: int) -> HelperOutcome:
    """Participant `participant` of the job's study: load the job's rows, take trials
    until the budget is spent or the job stops. A helper never changes the job row; if
    it fails, the job's run and the other helpers carry the study on without it."""
    try:
        with session_scope() as session:
            job = get_job(session, job_id=job_id, tenant_scope=None)
    except JobNotFound:
        return HelperOutcome(job_id, participant, "dropped", "no such job")
    if job.status != JobStatus.RUNNING.value or job.attempt != attempt or job.cancel_requested:
        log.info("HPO helper %d of job %s: job is %s (attempt %d); nothing to do",
                 participant, job_id, job.status, job.attempt)
        return HelperOutcome(job_id, participant, "dropped")
    config = job_config.from_json(job.config)
    with JobLogHandler(job_id) as logs, JobWatch(job_id, attempt, logs) as watch:
        try:
            study = open_study(job_id, seed=participant_seed(participant, attempt))
            existing = study.get_trials(deepcopy=False)
            # A helper that comes late (its slot was busy) skips loading the data.
            if sum(t.state in BUDGET_STATES for t in existing) >= config["n_trials"]:
                return HelperOutcome(job_id, participant, "budget")
            study.sampler = make_sampler(participant_seed(participant, attempt, len(existing)))
            frame, definition, frequency = load_job_data(job, config)
            watch.check()
            split = prepare_split(frame, target=config["target_variable"], horizon=config["horizon"],
                                  validation_split=config["validation_split"],
                                  test_split=config["test_split"], feature_definition=definition,
                                  frequency=frequency)
            fixed, space = search_space(config["hyperparameters"])
            objective = Objective(split, fixed=fixed, space=space,
                                  early_stopping_rounds=config["early_stopping_rounds"],
                                  num_threads=num_threads, hooks=TrialHooks(watch.check))
            log.info("HPO helper %d of job %s joined study %s on %s", participant, job_id,
                     study.study_name, worker_id)
            stopped = Participant(study, job=job, attempt=attempt, number=participant,
                                  n_trials=config["n_trials"], objective=objective,
                                  worker_id=worker_id).run(wait_for_others=False, check=watch.check)
        except Cancelled as exc:
            return HelperOutcome(job_id, participant, "cancelled", str(exc))
        except Exception as exc:  # noqa: BLE001 - the study goes on without this helper
            log.warning("HPO helper %d of job %s stopped: %s: %s", participant, job_id,
                        type(exc).__name__, exc, exc_info=True)
            return HelperOutcome(job_id, participant, "failed", f"{type(exc).__name__}: {exc}")
    return HelperOutcome(job_id, participant, stopped)


def load_job_data(job: Job, config: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any], str]:
    """What the job's run loads: its series over [start_date, end_date), the set's
    feature definition with defaults filled in, and its frequency."""
    with session_scope() as session:
        source = resolve_training_source(session, tenant_id=job.tenant_id, name=config["feature_set"],
                                         series_id=config.get("series_id", ""))
        frame = load_training_rows(session, source, start=config["start_date"], end=config["end_date"])
    return frame, source.definition, source.feature_set.frequency
