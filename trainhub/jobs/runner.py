"""Run one claimed job through the pipeline: the worker-side orchestrator.

load features (0→0.20) → preprocess, train, evaluate (pure pipeline, 0.20→0.85) →
register (0.85→1.00). Whatever happens, the job ends in exactly one terminal state
written by this run, or is left alone because another run owns it now.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from trainhub import experiments, hpo, promotion, registry
from trainhub.config import get_settings
from trainhub.db import session_scope
from trainhub.features import TrainingSource, load_training_rows, resolve_training_source
from trainhub.jobs import config as job_config
from trainhub.jobs import lifecycle
from trainhub.jobs.joblog import JobLogHandler
from trainhub.jobs.model import Job
from trainhub.jobs.monitor import JobMonitor, RunLost
from trainhub.pipeline import Cancelled, TrainingResult, save_artifact, train_model

log = logging.getLogger("trainhub.job")


@dataclass(frozen=True)
class Outcome:
    job_id: UUID
    status: str  # completed | failed | cancelled | dropped (not ours to run) | lost
    detail: str = ""


def run_job(job_id: UUID, *, worker_id: str, num_threads: int = 1) -> Outcome:
    with session_scope() as session:
        job = lifecycle.claim_job(session, job_id=job_id, worker_id=worker_id)
    if job is None:
        # A duplicate or late message: the job already ran, runs elsewhere, or was cancelled.
        log.info("job %s is not queued; message dropped", job_id)
        return Outcome(job_id, "dropped")
    with JobLogHandler(job.job_id) as logs, JobMonitor(job.job_id, job.attempt, logs) as monitor:
        return _run_claimed(job, monitor, logs, worker_id=worker_id, num_threads=num_threads)


def _run_claimed(job: Job, monitor: JobMonitor, logs: JobLogHandler, *, worker_id: str,
                 num_threads: int) -> Outcome:
    run = {"job_id": job.job_id, "attempt": job.attempt}
    config = job_config.from_json(job.config)
    log.info("job %s (%s/%s, attempt %d) started on %s", job.job_id, job.tenant_id,
             job.model_name, job.attempt, worker_id)
    experiment_id: UUID | None = None
    # What was loaded: known once the rows are, recorded on the experiment when it ends.
    loaded: dict[str, Any] = {}
    try:
        with session_scope() as session:
            source = resolve_training_source(session, tenant_id=job.tenant_id, name=config["feature_set"],
                                             series_id=config.get("series_id", ""))
            lineage = {**source.lineage(), "data_start": config["start_date"].isoformat(),
                       "data_end": config["end_date"].isoformat()}
            experiment_id = experiments.start_experiment(
                session, tenant_id=job.tenant_id, job_id=job.job_id, model_type=job.model_type,
                model_name=job.model_name, name=f"{job.model_name} {job.job_id}",
                params=_experiment_params(config), lineage={"job_id": str(job.job_id), **lineage},
            )
            lifecycle.set_experiment(session, experiment_id=experiment_id, **run)
            if config["enable_hpo"]:
                # Sent on commit, so the helpers load their data while this run loads its own.
                hpo.send_helpers(session, job=job, config=config)
        frame = _load_rows(source, config)
        loaded = {"rows": len(frame), "first_ts": frame["ts"].iloc[0].isoformat(),
                  "last_ts": frame["ts"].iloc[-1].isoformat()}
        lineage.update(loaded)
        monitor.check_cancelled()
        hyperparameters, hpo_metrics = config["hyperparameters"], {}
        if config["enable_hpo"]:
            # The study (0.40→0.70) finds the parameters the final model trains with below.
            found = hpo.optimise(job, config, frame, monitor=monitor, experiment_id=experiment_id,
                                 worker_id=worker_id, num_threads=num_threads,
                                 feature_definition=source.definition, frequency=source.feature_set.frequency)
            hyperparameters, hpo_metrics = found.hyperparameters, found.metrics
        result = train_model(
            frame, model_type=job.model_type, target=config["target_variable"],
            horizon=config["horizon"], validation_split=config["validation_split"],
            test_split=config["test_split"], hyperparameters=hyperparameters,
            early_stopping_rounds=config["early_stopping_rounds"], num_threads=num_threads,
            hooks=monitor, feature_definition=source.definition, frequency=source.feature_set.frequency,
        )
        result.metrics.update(hpo_metrics)
        monitor.progress(0.85, "register")
        monitor.check_cancelled()
        model_id = _register(job, result, monitor, logs, experiment_id, lineage, frame)
    except Cancelled:
        log.info("job %s cancelled at stage %s", job.job_id, monitor.stage)
        _end(job, experiment_id, loaded, "cancelled", lambda s: lifecycle.cancel_running_job(s, **run))
        return Outcome(job.job_id, "cancelled")
    except RunLost as exc:
        log.warning("%s; leaving the job to its new run", exc)
        return Outcome(job.job_id, "lost")
    except Exception as exc:  # noqa: BLE001 - every failure must end the job, never the worker
        message = _readable(exc, monitor.stage)
        log.exception("job %s failed: %s", job.job_id, message)
        _end(job, experiment_id, loaded, "failed",
             lambda s: lifecycle.fail_job(s, error_message=message, **run))
        return Outcome(job.job_id, "failed", message)
    return Outcome(job.job_id, "completed", model_id)


def _load_rows(source: TrainingSource, config: dict[str, Any]):
    """The job's rows: from this process's cache when the set has not changed since it
    last read them (no query at all), otherwise by COPY."""
    start, end = config["start_date"], config["end_date"]
    with session_scope() as session:
        frame = load_training_rows(session, source, start=start, end=end)
    log.info("loaded %d rows of %s%s for [%s, %s)", len(frame), source.feature_set.name,
             f" series {source.series_id}" if source.series_id else "", start, end)
    return frame


def _register(job: Job, result: TrainingResult, monitor: JobMonitor, logs: JobLogHandler,
              experiment_id: UUID, lineage: dict[str, Any], frame) -> str:
    settings = get_settings()
    path = registry.artifact_path_for(settings.artifact_dir, tenant_id=job.tenant_id,
                                      model_name=job.model_name, job_id=job.job_id,
                                      attempt=job.attempt)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_artifact(result, path, metadata={**lineage, "job_id": str(job.job_id),
                                          "tenant_id": job.tenant_id, "model_name": job.model_name})
    metrics = _json_safe(result.metrics)
    with session_scope() as session:
        version = registry.register_model(
            session, tenant_id=job.tenant_id, model_name=job.model_name,
            model_type=job.model_type, job_id=job.job_id, experiment_id=experiment_id,
            artifact_path=path, metrics=metrics, hyperparameters=_json_safe(result.hyperparameters),
            feature_names=result.feature_names, lineage=lineage,
        )
        experiments.record_result(session, experiment_id=experiment_id, result=result, series=monitor.series,
                                  metrics=metrics, model_id=version.model_id,
                                  lineage={k: lineage[k] for k in ("rows", "first_ts", "last_ts")})
        # Champion/challenger gate when the job asked for it; before complete_job, so a
        # run that lost its claim rolls back its promotion with its registration.
        decision = promotion.gate_if_requested(session, job_config=job.config, job_id=job.job_id,
                                               model_id=version.model_id, raw=frame)
        if decision is not None:
            log.info("promotion gate: %s (%s)", decision.decision, decision.reason)
        if not lifecycle.complete_job(session, job_id=job.job_id, attempt=job.attempt,
                                      model_id=version.model_id, metrics=metrics):
            # Rolls back the registration with it: a run that lost its job registers nothing.
            raise RunLost(f"job {job.job_id} attempt {job.attempt} lost its claim before completing")
        log.info("job %s completed: model %s, metrics %s", job.job_id, version.model_id, metrics)
        # The run's log lines commit with its result, not in a transaction of their own.
        logs.flush(session.connection())
    return version.model_id


def _end(job: Job, experiment_id: UUID | None, loaded: dict[str, Any], status: str, transition) -> None:
    with session_scope() as session:
        if transition(session) and experiment_id is not None:
            experiments.finish_experiment(session, experiment_id=experiment_id, status=status, lineage=loaded)


def _experiment_params(config: dict[str, Any]) -> dict[str, Any]:
    params = {k: (v.isoformat() if hasattr(v, "isoformat") else v)
              for k, v in config.items() if k != "hyperparameters"}
    params.update({f"hp.{k}": v for k, v in config["hyperparameters"].items()})
    return params


def _readable(exc: BaseException, stage: str) -> str:
    text = str(exc) or type(exc).__name__
    if not isinstance(exc, ValueError):
        text = f"{type(exc).__name__}: {text}"
    return f"{stage}: {text}"


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars to Python numbers, NaN/inf to None: jsonb takes neither."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out
