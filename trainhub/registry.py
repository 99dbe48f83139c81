"""The model registry: one row per trained version, pointing at its artifact, and the
stages versions move through.

Model ids follow the seed: ``tenant:model_name:YYYYMMDD.HHMMSS``. Two versions of one
model finishing in the same second take consecutive seconds; the unique key, not a
prior read, decides which one gets which.

Stages: none → staging → production → archived (see TRANSITIONS). At most one version
of a tenant's model name is in production: the partial unique index
ai_models_one_production says so, and every stage change of a model name takes a
transaction-scoped advisory lock first, so changes (the champion/challenger gate's
read-score-swap included) happen one at a time. Every change writes an audit row
(who, when, why) in the same transaction.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.config import PROJECT_ROOT
from trainhub.errors import Conflict, InvalidTransition, NotFound
from trainhub.records import from_row

# Concurrent registrations of one model retry on the unique key this often at most.
_MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class ModelVersion:
    model_id: str
    version: str
    artifact_path: str


def artifact_path_for(artifact_dir: Path, *, tenant_id: str, model_name: str, job_id: UUID,
                      attempt: int) -> Path:
    """Where a job run writes its artifact; unique per run, so no two runs collide."""
    return artifact_dir / tenant_id / model_name / f"{job_id}-{attempt}.joblib"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def register_model(session: Session, *, tenant_id: str, model_name: str, model_type: str,
                   job_id: UUID, experiment_id: UUID, artifact_path: Path,
                   metrics: dict[str, Any], hyperparameters: dict[str, Any],
                   feature_names: list[str], lineage: dict[str, Any],
                   at: datetime | None = None) -> ModelVersion:
    """Register a version named by its registration second, or the second after the
    model's latest version when that is later: a burst of retrains of one model (more
    than one a second) gets consecutive seconds instead of probing for a free one."""
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0, tzinfo=None)
    values = {
        "tenant_id": tenant_id, "model_name": model_name, "model_type": model_type, "moment": moment,
        "job_id": job_id, "experiment_id": experiment_id, "artifact_path": str(artifact_path),
        "artifact_sha256": sha256_of(artifact_path), "artifact_bytes": artifact_path.stat().st_size,
        "metrics": metrics, "hyperparameters": hyperparameters, "feature_names": feature_names,
        "lineage": {**lineage, "code_version": code_version()},
    }
    for _ in range(_MAX_ATTEMPTS):
        # ON CONFLICT DO NOTHING never raises on a taken version, so no savepoint is needed.
        row = session.execute(_INSERT_NEXT_VERSION, values).first()
        # A concurrent registration took that second: read the latest again and retry.
        if row is not None:
            return ModelVersion(model_id=row.model_id, version=row.version, artifact_path=str(artifact_path))
    raise RuntimeError(f"no free version for {tenant_id}:{model_name} after {_MAX_ATTEMPTS} attempts")


# The next version and its row in one statement. Versions (YYYYMMDD.HHMMSS) read as ISO
# 8601 basic timestamps once the dot is a 'T'; timestamp without time zone keeps the
# arithmetic free of the session's time zone.
_INSERT_NEXT_VERSION = sa.text("""
    WITH next AS (
        SELECT to_char(greatest(CAST(:moment AS timestamp),
                                CAST(replace(max(version), '.', 'T') AS timestamp) + interval '1 second'),
                       'YYYYMMDD.HH24MISS') AS version
        FROM ai_models WHERE tenant_id = :tenant_id AND model_name = :model_name
    )
    INSERT INTO ai_models (model_id, tenant_id, model_name, model_type, version, job_id, experiment_id,
                           artifact_path, artifact_sha256, artifact_bytes, metrics, hyperparameters,
                           feature_names, lineage)
    SELECT :tenant_id || ':' || :model_name || ':' || version, :tenant_id, :model_name, :model_type,
           version, :job_id, :experiment_id, :artifact_path, :artifact_sha256, :artifact_bytes, :metrics,
           :hyperparameters, :feature_names, :lineage
    FROM next
    ON CONFLICT DO NOTHING
    RETURNING model_id, version
""").bindparams(*(sa.bindparam(name, type_=t.models.c[name].type)
                  for name in ("job_id", "experiment_id", "metrics", "hyperparameters", "feature_names", "lineage")))


@functools.cache
def code_version() -> str:
    """The package version, plus the git commit when running from a checkout
    ("0.1.0+g1a2b3c4d5e6f", "+dirty" with uncommitted changes). Read once per process."""
    try:
        version = importlib.metadata.version("trainhub")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    if not (PROJECT_ROOT / ".git").exists():
        return version
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True,
                                  text=True, timeout=5, check=True).stdout.strip()
        commit = git("rev-parse", "--short=12", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{commit}{'.dirty' if dirty else ''}"


# --- reading the registry --------------------------------------------------------------

STAGES = ("none", "staging", "production", "archived")
# Moves a person may ask for. A version reaches production from staging only; the two
# other ways in are the champion/challenger gate (from none or staging) and rollback
# (from archived), and both record why. Production is left by archiving, which a
# promotion of another version does to the old champion in the same transaction.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "none": ("staging", "archived"),
    "staging": ("production", "archived"),
    "production": ("archived",),
    "archived": ("staging",),
}
# Any int4 constant: keeps these advisory locks apart from other users of the lock space.
_LOCK_NAMESPACE = 0x6D6F646C


class ModelNotFound(NotFound):
    def __init__(self, model_ref: object, stage: str | None = None) -> None:
        where = f" with a {stage} version" if stage else ""
        super().__init__(f"Model {model_ref}{where} not found")


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    tenant_id: str
    model_name: str
    model_type: str
    version: str
    stage: str
    job_id: UUID | None
    experiment_id: UUID | None
    artifact_path: str
    artifact_sha256: str
    artifact_bytes: int
    metrics: dict[str, Any]
    hyperparameters: dict[str, Any]
    feature_names: list[str]
    lineage: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "ModelRecord":
        return from_row(cls, row)


@dataclass(frozen=True)
class ModelGroup:
    """One model name of a tenant with its versions, newest first."""

    tenant_id: str
    model_name: str
    model_type: str
    version_count: int
    latest_version: str
    production_model_id: str | None
    versions: list[ModelRecord]


@dataclass(frozen=True)
class ModelPage:
    models: list[ModelGroup]
    total: int
    page: int
    page_size: int


@dataclass(frozen=True)
class StageChange:
    history_id: int
    model_id: str
    tenant_id: str
    model_name: str
    from_stage: str
    to_stage: str
    changed_by: str
    reason: str
    decision_id: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "StageChange":
        return from_row(cls, row)


@dataclass(frozen=True)
class PromotionDecision:
    decision_id: int
    tenant_id: str
    model_name: str
    challenger_model_id: str
    champion_model_id: str | None
    job_id: UUID | None
    metric: str | None
    margin: float
    challenger_score: float | None
    champion_score: float | None
    holdout_rows: int | None
    holdout_start: datetime | None
    holdout_end: datetime | None
    decision: str  # promoted | refused | skipped | error (see sql/007)
    reason: str
    decided_by: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> "PromotionDecision":
        return from_row(cls, row)


@dataclass(frozen=True)
class ModelDetail(ModelRecord):
    # The gate's latest decision on this version as challenger, if a gate ran.
    promotion: PromotionDecision | None = None


@dataclass(frozen=True)
class StageChangeResult:
    model: ModelRecord
    changes: list[StageChange]


@dataclass(frozen=True)
class VersionHistory:
    model: ModelRecord
    changes: list[StageChange]
    # Gate decisions this version took part in, as challenger or as champion.
    decisions: list[PromotionDecision]


@dataclass(frozen=True)
class ArtifactFile:
    path: Path
    sha256: str
    size: int
    download_name: str


def _scope(tenant_scope: str | None) -> tuple[sa.ColumnElement[bool], ...]:
    return () if tenant_scope is None else (t.models.c.tenant_id == tenant_scope,)


def get_model(session: Session, *, model_id: str, tenant_scope: str | None) -> ModelRecord:
    row = session.execute(
        sa.select(t.models).where(t.models.c.model_id == model_id, *_scope(tenant_scope))
    ).first()
    if row is None:
        raise ModelNotFound(model_id)
    return ModelRecord.from_row(row)


def get_model_detail(session: Session, *, model_id: str, tenant_scope: str | None) -> ModelDetail:
    model = get_model(session, model_id=model_id, tenant_scope=tenant_scope)
    fields = {name: getattr(model, name) for name in ModelRecord.__dataclass_fields__}
    return ModelDetail(**fields, promotion=latest_decision(session, challenger_model_id=model_id))


def find_at_stage(session: Session, *, tenant_id: str, model_name: str, stage: str) -> ModelRecord | None:
    """The newest version of a model name at `stage` (the only one, for production)."""
    m = t.models.c
    row = session.execute(
        sa.select(t.models).where(m.tenant_id == tenant_id, m.model_name == model_name, m.stage == stage)
        .order_by(m.created_at.desc(), m.version.desc()).limit(1)
    ).first()
    return None if row is None else ModelRecord.from_row(row)


def list_models(session: Session, *, tenant_scope: str | None, tenant_id: str | None = None,
                model_name: str | None = None, stage: str | None = None, page: int = 1,
                page_size: int = 20, versions_per_model: int = 20) -> ModelPage:
    """Model names (most recently trained first), each with up to `versions_per_model`
    versions newest first; `stage` filters the versions listed and the names shown."""
    m = t.models.c
    filters = list(_scope(tenant_scope))
    for column, value in (("tenant_id", tenant_id), ("model_name", model_name), ("stage", stage)):
        if value is not None:
            filters.append(m[column] == value)
    grouped = (
        sa.select(
            m.tenant_id, m.model_name,
            sa.func.count().label("version_count"),
            sa.func.max(m.created_at).label("last_created"),
            sa.func.max(m.version).label("latest_version"),
            sa.type_coerce(sa.func.array_agg(aggregate_order_by(m.model_type, m.created_at.desc())),
                           sa.ARRAY(sa.Text))[1].label("model_type"),
        )
        .where(*filters).group_by(m.tenant_id, m.model_name)
    )
    total = session.execute(sa.select(sa.func.count()).select_from(grouped.subquery())).scalar_one()
    groups = session.execute(
        grouped.order_by(sa.desc("last_created"), m.tenant_id, m.model_name)
        .limit(page_size).offset((page - 1) * page_size)
    ).all()
    if not groups:
        return ModelPage([], total, page, page_size)
    ranked = (
        sa.select(t.models, sa.func.row_number().over(
            partition_by=(m.tenant_id, m.model_name),
            order_by=(m.created_at.desc(), m.version.desc())).label("rank"))
        .where(*filters, sa.tuple_(m.tenant_id, m.model_name).in_([(g.tenant_id, g.model_name) for g in groups]))
        .subquery()
    )
    versions: dict[tuple[str, str], list[ModelRecord]] = {}
    for row in session.execute(
        sa.select(ranked).where(ranked.c.rank <= versions_per_model).order_by(ranked.c.rank)
    ):
        versions.setdefault((row.tenant_id, row.model_name), []).append(ModelRecord.from_row(row))
    production = _production_ids(session, [(g.tenant_id, g.model_name) for g in groups])
    return ModelPage([
        ModelGroup(g.tenant_id, g.model_name, g.model_type, g.version_count, g.latest_version,
                   production.get((g.tenant_id, g.model_name)),
                   versions.get((g.tenant_id, g.model_name), []))
        for g in groups
    ], total, page, page_size)


def _production_ids(session: Session, names: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    m = t.models.c
    rows = session.execute(
        sa.select(m.tenant_id, m.model_name, m.model_id)
        .where(m.stage == "production", sa.tuple_(m.tenant_id, m.model_name).in_(names))
    ).all()
    return {(r.tenant_id, r.model_name): r.model_id for r in rows}


def version_history(session: Session, *, model_id: str, tenant_scope: str | None) -> VersionHistory:
    model = get_model(session, model_id=model_id, tenant_scope=tenant_scope)
    h, d = t.model_stage_history, t.promotion_decisions
    changes = session.execute(
        sa.select(h).where(h.c.model_id == model_id).order_by(h.c.history_id.desc())
    ).all()
    decisions = session.execute(
        sa.select(d).where(sa.or_(d.c.challenger_model_id == model_id, d.c.champion_model_id == model_id))
        .order_by(d.c.decision_id.desc())
    ).all()
    return VersionHistory(model, [StageChange.from_row(r) for r in changes],
                          [PromotionDecision.from_row(r) for r in decisions])


def latest_decision(session: Session, *, challenger_model_id: str) -> PromotionDecision | None:
    d = t.promotion_decisions
    row = session.execute(
        sa.select(d).where(d.c.challenger_model_id == challenger_model_id)
        .order_by(d.c.decision_id.desc()).limit(1)
    ).first()
    return None if row is None else PromotionDecision.from_row(row)


def artifact_file(session: Session, *, model_id: str, tenant_scope: str | None) -> ArtifactFile:
    model = get_model(session, model_id=model_id, tenant_scope=tenant_scope)
    path = Path(model.artifact_path)
    if not path.is_file():
        raise NotFound(f"The artifact of model {model_id} is missing from the artifact store")
    return ArtifactFile(path, model.artifact_sha256, model.artifact_bytes,
                        f"{model.tenant_id}_{model.model_name}_{model.version}.joblib")


# --- stage changes ---------------------------------------------------------------------

# Called with the ids of versions just archived, which no stage serves any more (the
# prediction cache drops them).
_archive_listeners: list[Callable[[Iterable[str]], None]] = []


def on_archive(listener: Callable[[Iterable[str]], None]) -> None:
    if listener not in _archive_listeners:
        _archive_listeners.append(listener)


def lock_model_name(session: Session, *, tenant_id: str, model_name: str) -> None:
    """Serialise stage changes of one model name until the transaction ends."""
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(
        _LOCK_NAMESPACE, sa.func.hashtext(f"{tenant_id}:{model_name}"))))


def move_stage(session: Session, model: ModelRecord, to_stage: str, *, actor: str, reason: str,
               decision_id: int | None = None) -> StageChange:
    """Move one version from the stage it was read at to `to_stage` and audit it.

    Callers hold lock_model_name and have checked the move is allowed. The UPDATE is
    conditional on the stage read, so a change made behind the lock's back is a
    Conflict rather than a silent overwrite; the unique index refuses a second
    production version the same way.
    """
    try:
        with session.begin_nested():
            moved = session.execute(
                sa.update(t.models)
                .where(t.models.c.model_id == model.model_id, t.models.c.stage == model.stage)
                .values(stage=to_stage).returning(t.models.c.model_id)
            ).first()
    except IntegrityError as exc:
        raise Conflict(f"{model.tenant_id}:{model.model_name} already has a production version") from exc
    if moved is None:
        raise Conflict(f"Model {model.model_id} is no longer {model.stage}; reload and try again")
    row = session.execute(
        sa.insert(t.model_stage_history).values(
            model_id=model.model_id, tenant_id=model.tenant_id, model_name=model.model_name,
            from_stage=model.stage, to_stage=to_stage, changed_by=actor, reason=reason,
            decision_id=decision_id,
        ).returning(t.model_stage_history)
    ).one()
    if to_stage == "archived":
        for listener in _archive_listeners:
            listener([model.model_id])
    return StageChange.from_row(row)


def change_stage(session: Session, *, model_id: str, tenant_scope: str | None, stage: str,
                 reason: str, actor: str) -> StageChangeResult:
    """A person moves a version along TRANSITIONS; promoting it to production archives
    the current production version in the same transaction."""
    model = get_model(session, model_id=model_id, tenant_scope=tenant_scope)
    lock_model_name(session, tenant_id=model.tenant_id, model_name=model.model_name)
    model = get_model(session, model_id=model_id, tenant_scope=tenant_scope)  # as of the lock
    if stage == model.stage:
        raise InvalidTransition(f"Model {model_id} is already {stage}")
    if stage not in TRANSITIONS[model.stage]:
        raise InvalidTransition(
            f"Model {model_id} is {model.stage}; from {model.stage} it can move to "
            f"{' or '.join(TRANSITIONS[model.stage])}, not {stage}")
    changes = []
    if stage == "production":
        champion = find_at_stage(session, tenant_id=model.tenant_id, model_name=model.model_name,
                                 stage="production")
        if champion is not None:
            changes.append(move_stage(session, champion, "archived", actor=actor,
                                      reason=f"replaced by {model_id}: {reason}"))
    changes.append(move_stage(session, model, stage, actor=actor, reason=reason))
    return StageChangeResult(get_model(session, model_id=model_id, tenant_scope=tenant_scope), changes)


def rollback(session: Session, *, tenant_id: str, model_name: str, reason: str,
             actor: str) -> StageChangeResult:
    """Put the previous production version back: the version most recently moved into
    production that is not production now. The current one, if any, is archived."""
    lock_model_name(session, tenant_id=tenant_id, model_name=model_name)
    m, h = t.models.c, t.model_stage_history.c
    exists = session.execute(
        sa.select(m.model_id).where(m.tenant_id == tenant_id, m.model_name == model_name).limit(1)
    ).first()
    if exists is None:
        raise ModelNotFound(model_name)
    current = find_at_stage(session, tenant_id=tenant_id, model_name=model_name, stage="production")
    previous = session.execute(
        sa.select(t.models).join(t.model_stage_history, h.model_id == m.model_id)
        .where(h.tenant_id == tenant_id, h.model_name == model_name, h.to_stage == "production",
               m.stage.in_(("archived", "staging")))
        .order_by(h.history_id.desc()).limit(1)
    ).first()
    if previous is None:
        raise InvalidTransition(f"Model {model_name} has no earlier production version to roll back to")
    restored = ModelRecord.from_row(previous)
    changes = []
    if current is not None:
        changes.append(move_stage(session, current, "archived", actor=actor,
                                  reason=f"rolled back to {restored.model_id}: {reason}"))
    changes.append(move_stage(session, restored, "production", actor=actor, reason=f"rollback: {reason}"))
    return StageChangeResult(get_model(session, model_id=restored.model_id, tenant_scope=tenant_id), changes)


def record_decision(session: Session, **values: Any) -> PromotionDecision:
    row = session.execute(
        sa.insert(t.promotion_decisions).values(**values).returning(t.promotion_decisions)
    ).one()
    return PromotionDecision.from_row(row)
