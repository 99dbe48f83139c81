"""Concurrent stage changes on committed rows: one production version, decided in order."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.helpers import race
from tests.test_registry_support import WEAK, demo_frame, register
from trainhub import promotion, registry

YEAR_2024 = ("forecast_basic", "2024-01-01", "2025-01-01")


@pytest.fixture
def committed_versions(engine, tmp_path):
    """A committed tenant with a weak production version and two better challengers."""
    from trainhub.tenants import ensure_tenant
    tenant_id = f"race-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        ensure_tenant(session, tenant_id=tenant_id)
        made = [register(session, tenant_id=tenant_id, model_name="m", frame=demo_frame(*YEAR_2024),
                         artifact_dir=tmp_path, hyperparameters=hp).model_id for hp in (WEAK, None, None)]
        champion = registry.get_model(session, model_id=made[0], tenant_scope=None)
        registry.lock_model_name(session, tenant_id=tenant_id, model_name="m")
        registry.move_stage(session, champion, "production", actor="test", reason="setup")
        session.commit()
    yield tenant_id, made
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tenants WHERE tenant_id = :t"), {"t": tenant_id})


def _production(engine, tenant_id):
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT model_id FROM ai_models WHERE tenant_id = :t AND stage = 'production'"),
                            {"t": tenant_id}).scalars().all()


def test_two_gates_at_once_decide_one_after_the_other(engine, committed_versions):
    tenant_id, (champion, first, second) = committed_versions
    raw = demo_frame(*YEAR_2024)

    def gate(model_id):
        return lambda s: promotion.run_gate(s, challenger_model_id=model_id, raw=raw, metric=None,
                                            margin=0.0, actor="gate (race)")

    results = race(engine, gate(first), gate(second))
    assert not [r for r in results if isinstance(r, Exception)], results
    promoted, = [r for r in results if r.decision == "promoted"]
    refused, = [r for r in results if r.decision == "refused"]
    assert promoted.champion_model_id == champion
    # The later gate saw the earlier one's winner as the champion, not the old one;
    # the two challengers are the same fit, so it is not better and is refused.
    assert refused.champion_model_id == promoted.challenger_model_id
    assert refused.challenger_score == pytest.approx(refused.champion_score)
    assert _production(engine, tenant_id) == [promoted.challenger_model_id]


def test_two_promotions_at_once_leave_one_production_version(engine, committed_versions):
    tenant_id, (champion, first, second) = committed_versions
    with Session(engine) as session:
        for model_id in (first, second):
            registry.change_stage(session, model_id=model_id, tenant_scope=tenant_id, stage="staging",
                                  reason="setup", actor="test")
        session.commit()

    def promote(model_id):
        return lambda s: registry.change_stage(s, model_id=model_id, tenant_scope=tenant_id,
                                               stage="production", reason="race", actor="test")

    results = race(engine, promote(first), promote(second))
    assert not [r for r in results if isinstance(r, Exception)], results
    production = _production(engine, tenant_id)
    assert len(production) == 1
    # The later promotion archived the earlier one: the audit tells the same order.
    later = production[0]
    earlier = first if later == second else second
    with Session(engine) as session:
        changes = registry.version_history(session, model_id=earlier, tenant_scope=None).changes
    assert [(c.from_stage, c.to_stage) for c in changes][:2] == [("production", "archived"), ("staging", "production")]
    assert changes[0].reason == f"replaced by {later}: race"


def test_a_burst_of_registrations_of_one_model_gets_consecutive_versions(db, tenants, tmp_path):
    """More than one version a second: each takes the second after the latest, without
    probing, so a burst never runs out of versions."""
    from datetime import datetime, timezone

    from trainhub.registry import register_model

    tenant_id, _ = tenants()
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"weights")
    at = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    versions = [
        register_model(db, tenant_id=tenant_id, model_name="burst", model_type="forecast",
                       job_id=None, experiment_id=None, artifact_path=artifact, metrics={},
                       hyperparameters={}, feature_names=[], lineage={}, at=at).version
        for _ in range(150)
    ]
    assert versions[0] == "20260101.120000"
    assert versions[-1] == "20260101.120229"  # 149 s later
    assert len(set(versions)) == 150


def test_versions_ignore_the_session_time_zone(db, tenants, tmp_path):
    """Versions are UTC seconds whatever the session's TimeZone, also across a local
    daylight-saving gap (02:30 on 8 March 2026 does not exist in New York)."""
    from datetime import datetime, timezone

    import sqlalchemy as sa

    from trainhub.registry import register_model

    tenant_id, _ = tenants()
    artifact = tmp_path / "model.joblib"
    artifact.write_bytes(b"weights")
    db.execute(sa.text("SET LOCAL TIME ZONE 'America/New_York'"))
    at = datetime(2026, 3, 8, 2, 30, 0, tzinfo=timezone.utc)
    versions = [register_model(db, tenant_id=tenant_id, model_name="dst", model_type="forecast", job_id=None,
                               experiment_id=None, artifact_path=artifact, metrics={}, hyperparameters={},
                               feature_names=[], lineage={}, at=at).version for _ in range(2)]
    assert versions == ["20260308.023000", "20260308.023001"]
