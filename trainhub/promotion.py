"""The champion/challenger gate: a new version becomes production only when it beats
the current production version on the same holdout.

Both versions are scored now, on the challenger's time-ordered test window: its test
rows are rebuilt from the raw rows the challenger trained on (the same feature
engineering, so the same X_test), and each version scales and predicts them with its
own scaler and model; a champion whose features were built another way gets its own,
rebuilt from the same raw rows at the same timestamps. The champion's numbers from its
own training are never reused: they came from another window. The decision, both scores and the holdout are recorded
in ai_promotion_decisions whatever the outcome, and a promotion's stage changes point
at the decision in the audit history.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from trainhub import experiments, prediction, registry
from trainhub.experiments import LOWER_IS_BETTER
from trainhub.pipeline.artifact import predict as artifact_predict
from trainhub.pipeline.evaluate import anomaly_metrics, regression_metrics
from trainhub.registry import ModelRecord, PromotionDecision

log = logging.getLogger(__name__)

# The metric a job's promotion_metric None stands for.
DEFAULT_METRICS = {"forecast": "mae", "anomaly": "roc_auc"}
METRICS = {
    "forecast": ("mae", "rmse", "mape", "r2"),
    # Each needs the feature set's 0/1 label column (anomaly_basic's is_anomaly).
    "anomaly": ("roc_auc", "f1", "precision", "recall"),
}


class _NoScore(Exception):
    """The gate cannot score; carries the decision to record (refused, skipped, error)."""

    def __init__(self, decision: str, reason: str) -> None:
        super().__init__(reason)
        self.decision, self.reason = decision, reason


@dataclass(frozen=True)
class Holdout:
    X: pd.DataFrame  # every engineered column, unscaled: each version applies its own scaler
    y: np.ndarray | None  # forecast: target at ts + horizon; anomaly: 0/1 labels, None without
    ts: pd.DatetimeIndex


@dataclass(frozen=True)
class Scores:
    challenger: float
    champion: float | None
    holdout: Holdout


def gate_if_requested(session: Session, *, job_config: Mapping[str, Any], job_id: UUID, model_id: str,
                      raw: pd.DataFrame) -> PromotionDecision | None:
    """Run the gate for a just-registered version when its job asked (auto_promote).

    Runs inside the registration transaction, so a run that loses its job rolls the
    decision back with the registration. The gate itself runs in a savepoint: a failure
    of the gate is recorded as an `error` decision and never undoes the trained model.
    """
    if not job_config.get("auto_promote"):
        return None
    metric = job_config.get("promotion_metric")
    margin = float(job_config.get("promotion_margin") or 0.0)
    actor = f"gate (job {job_id})"
    try:
        with session.begin_nested():
            return run_gate(session, challenger_model_id=model_id, raw=raw, metric=metric,
                            margin=margin, actor=actor, job_id=job_id)
    except Exception as exc:  # noqa: BLE001 - recorded below; the model stays registered
        log.exception("champion/challenger gate for %s failed", model_id)
        model = registry.get_model(session, model_id=model_id, tenant_scope=None)
        return registry.record_decision(
            session, tenant_id=model.tenant_id, model_name=model.model_name,
            challenger_model_id=model_id, job_id=job_id, metric=metric, margin=margin,
            decision="error", reason=f"gate failed: {type(exc).__name__}: {exc}", decided_by=actor,
        )


def run_gate(session: Session, *, challenger_model_id: str, raw: pd.DataFrame, metric: str | None,
             margin: float, actor: str, job_id: UUID | None = None) -> PromotionDecision:
    """Score challenger and champion on the challenger's holdout and promote the
    challenger if it is better by `margin` (relative) on `metric`; record the decision.

    Holds the model name's stage lock from reading the champion to swapping, so two
    gates of one model name decide one after the other, each against the champion of
    the moment.
    """
    challenger = registry.get_model(session, model_id=challenger_model_id, tenant_scope=None)
    registry.lock_model_name(session, tenant_id=challenger.tenant_id, model_name=challenger.model_name)
    challenger = registry.get_model(session, model_id=challenger_model_id, tenant_scope=None)
    champion = registry.find_at_stage(session, tenant_id=challenger.tenant_id,
                                      model_name=challenger.model_name, stage="production")
    metric = metric or DEFAULT_METRICS[challenger.model_type]

    def record(decision: str, reason: str, scores: Scores | None = None) -> PromotionDecision:
        holdout = scores.holdout if scores else None
        return registry.record_decision(
            session, tenant_id=challenger.tenant_id, model_name=challenger.model_name,
            challenger_model_id=challenger.model_id,
            champion_model_id=champion.model_id if champion else None, job_id=job_id,
            metric=metric, margin=margin,
            challenger_score=scores.challenger if scores else None,
            champion_score=scores.champion if scores else None,
            holdout_rows=len(holdout.ts) if holdout is not None else None,
            holdout_start=holdout.ts[0].to_pydatetime() if holdout is not None and len(holdout.ts) else None,
            holdout_end=holdout.ts[-1].to_pydatetime() if holdout is not None and len(holdout.ts) else None,
            decision=decision, reason=reason, decided_by=actor,
        )

    if challenger.stage not in ("none", "staging"):
        return record("skipped", f"the challenger is already {challenger.stage}")
    try:
        scores = score(session, challenger=challenger, champion=champion, raw=raw, metric=metric)
    except _NoScore as exc:
        return record(exc.decision, exc.reason)

    rows = len(scores.holdout.ts)
    if champion is None:
        reason = (f"no production version yet: first champion "
                  f"({metric} {scores.challenger:.6g} on {rows} holdout rows)")
    else:
        gain = relative_improvement(metric, challenger=scores.challenger, champion=scores.champion)
        verdict = (f"{metric} {scores.challenger:.6g} vs champion {champion.version}'s "
                   f"{scores.champion:.6g} on {rows} holdout rows: {gain:+.2%} "
                   f"(margin {margin:.2%})")
        if not (gain > 0 and gain >= margin):
            return record("refused", f"not better by the margin: {verdict}", scores)
        reason = f"beats the champion: {verdict}"
    decision = record("promoted", reason, scores)
    if champion is not None:
        registry.move_stage(session, champion, "archived", actor=actor, decision_id=decision.decision_id,
                            reason=f"replaced by {challenger.version} (champion/challenger gate)")
    registry.move_stage(session, challenger, "production", actor=actor, decision_id=decision.decision_id,
                        reason=f"champion/challenger gate: {reason}")
    log.info("gate promoted %s: %s", challenger.model_id, reason)
    return decision


def score(session: Session, *, challenger: ModelRecord, champion: ModelRecord | None,
          raw: pd.DataFrame, metric: str) -> Scores:
    """Both versions' `metric` on the challenger's holdout, rebuilt from `raw`."""
    if metric not in METRICS[challenger.model_type]:
        raise _NoScore("refused", f"{metric!r} cannot rank {challenger.model_type} models; use one of "
                                  f"{', '.join(METRICS[challenger.model_type])}")
    challenger_artifact = prediction.load_model(challenger)
    if challenger.experiment_id is None:
        raise _NoScore("error", "the challenger has no experiment, so its test window is unknown")
    window = experiments.get_test_window(session, experiment_id=challenger.experiment_id, tenant_scope=None)
    holdout = rebuild_holdout(raw, challenger_artifact, window.ts)
    if challenger.model_type == "anomaly" and holdout.y is None:
        raise _NoScore("skipped", "the feature set has no label column, so anomaly models cannot be "
                                  "scored against each other; promote by hand if wanted")
    challenger_score = _metric(challenger_artifact, holdout, metric)
    if challenger_score is None:
        raise _NoScore("skipped", f"{metric} is undefined on this holdout (e.g. one class only)")
    if champion is None:
        return Scores(challenger_score, None, holdout)

    champion_artifact = prediction.load_model(champion)
    mismatch = [f"{what} {champion_artifact[key]!r} vs {challenger_artifact[key]!r}"
                for what, key in (("model type", "model_type"), ("target", "target"), ("horizon", "horizon"))
                if champion_artifact[key] != challenger_artifact[key]]
    if mismatch:
        raise _NoScore("refused", f"the champion predicts something else ({'; '.join(mismatch)})")
    champion_holdout = holdout
    if _feature_recipe(champion_artifact) != _feature_recipe(challenger_artifact):
        # Built another way (another definition or feature list): the champion gets its
        # own features, rebuilt from the same raw rows for the same test timestamps.
        try:
            champion_holdout = rebuild_holdout(raw, champion_artifact, window.ts)
        except (ValueError, _NoScore) as exc:
            raise _NoScore("refused", f"the champion's features cannot be built from the challenger's "
                                      f"data: {exc}") from None
        missing = [c for c in champion_artifact["feature_names"] if c not in champion_holdout.X.columns]
        if missing:
            raise _NoScore("refused", f"the champion needs features the challenger's data lacks: {missing}")
    champion_score = _metric(champion_artifact, champion_holdout, metric)
    if champion_score is None:
        raise _NoScore("skipped", f"{metric} of the champion is undefined on this holdout")
    return Scores(challenger_score, champion_score, holdout)


def rebuild_holdout(raw: pd.DataFrame, artifact: Mapping[str, Any], window_ts: list) -> Holdout:
    """The test rows of the window, rebuilt from the raw rows with the pipeline's own
    feature engineering (unscaled, every column)."""
    X, y, ts = prediction.engineer(raw, artifact=artifact)
    stamps = pd.DatetimeIndex(pd.to_datetime(ts, utc=True))
    wanted = pd.DatetimeIndex(pd.to_datetime(window_ts, utc=True))
    mask = stamps.isin(wanted)
    if mask.sum() != len(wanted):
        raise _NoScore("error", f"only {int(mask.sum())} of the {len(wanted)} test rows could be "
                                "rebuilt from the training data")
    X_hold, held = X[mask].reset_index(drop=True), stamps[mask]
    if artifact["model_type"] == "forecast":
        return Holdout(X_hold, y.to_numpy(dtype=float)[mask], held)
    label = prediction.label_column(raw, artifact)
    if label is None:
        return Holdout(X_hold, None, held)
    by_time = raw.set_index(pd.DatetimeIndex(pd.to_datetime(raw["ts"], utc=True)))[label]
    labels = by_time.reindex(held)
    if labels.isna().any():
        raise _NoScore("error", f"label column {label!r} has gaps in the holdout")
    return Holdout(X_hold, labels.to_numpy(dtype=float), held)


def _feature_recipe(artifact: Mapping[str, Any]) -> tuple:
    metadata = artifact.get("metadata") or {}
    return (artifact.get("feature_definition", metadata.get("feature_definition")),
            artifact.get("frequency", metadata.get("frequency")), list(artifact["feature_names"]))


def _metric(artifact: Mapping[str, Any], holdout: Holdout, metric: str) -> float | None:
    X = holdout.X[artifact["feature_names"]]
    if artifact["model_type"] == "forecast":
        value = regression_metrics(holdout.y, artifact_predict(artifact, X))[metric]
    else:
        scaled = artifact["scaler"].transform(X.to_numpy(dtype=float))
        value = anomaly_metrics(artifact["model"], scaled, holdout.y)[metric]
    return None if value is None or not math.isfinite(value) else float(value)


def relative_improvement(metric: str, *, challenger: float, champion: float) -> float:
    """How much better the challenger is, as a fraction of the champion's score
    (positive is better; +0.05 = 5 % better), whichever way the metric points."""
    gain = champion - challenger if metric in LOWER_IS_BETTER else challenger - champion
    if champion == 0:
        return math.inf if gain > 0 else (0.0 if gain == 0 else -math.inf)
    return gain / abs(champion)
