"""The model registry: one row per trained version, pointing at its artifact.

Model ids follow the seed: ``tenant:model_name:YYYYMMDD.HHMMSS``. Two versions of one
model finishing in the same second take consecutive seconds; the unique key, not a
prior read, decides which one gets which.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.orm import Session

from trainhub import tables as t

VERSION_FORMAT = "%Y%m%d.%H%M%S"
_MAX_SAME_SECOND = 120


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
    moment = (at or datetime.now(timezone.utc)).replace(microsecond=0)
    checksum, size = sha256_of(artifact_path), artifact_path.stat().st_size
    for offset in range(_MAX_SAME_SECOND):
        version = (moment + timedelta(seconds=offset)).strftime(VERSION_FORMAT)
        model_id = f"{tenant_id}:{model_name}:{version}"
        with session.begin_nested():
            inserted = session.execute(
                sa.dialects.postgresql.insert(t.models).values(
                    model_id=model_id, tenant_id=tenant_id, model_name=model_name,
                    model_type=model_type, version=version, job_id=job_id,
                    experiment_id=experiment_id, artifact_path=str(artifact_path),
                    artifact_sha256=checksum, artifact_bytes=size, metrics=metrics,
                    hyperparameters=hyperparameters, feature_names=feature_names,
                    lineage=lineage,
                ).on_conflict_do_nothing()
            )
        if inserted.rowcount == 1:
            return ModelVersion(model_id=model_id, version=version, artifact_path=str(artifact_path))
    raise RuntimeError(f"no free version for {tenant_id}:{model_name} near {moment:%Y-%m-%d %H:%M:%S}")
