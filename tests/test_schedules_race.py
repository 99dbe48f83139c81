"""Concurrent dispatchers over the same committed schedules: one job per schedule and
tick, whoever wins, however many dispatchers run or roll back."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.helpers import race
from trainhub import schedules
from trainhub.tenants import ensure_tenant

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
N_SCHEDULES = 3
N_TICKS = 6


@pytest.fixture
def committed_schedules(engine, database_url):
    tenant_id = f"race-{uuid.uuid4().hex[:6]}"
    with Session(engine) as session:
        ensure_tenant(session, tenant_id=tenant_id)
        ids = [schedules.create_schedule(
            session, tenant_id=tenant_id, model_type="forecast", model_name=f"m{i}",
            config={"feature_set": "forecast_basic"}, cron="*/5 * * * *", window=timedelta(days=7),
        ).schedule_id for i in range(N_SCHEDULES)]
        session.execute(sa.text("UPDATE ai_training_schedules SET handled_through = :t WHERE tenant_id = :tenant"),
                        {"t": T0, "tenant": tenant_id})
        session.commit()
    yield tenant_id, ids
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM tenants WHERE tenant_id = :t"), {"t": tenant_id})


def _race(engine, dispatchers: list[tuple[datetime, bool]]) -> list[object]:
    """Each dispatcher in its own session, released at once; (now, commit?) each."""
    return race(engine, *(lambda session, now=now: schedules.dispatch_due_schedules(session, now=now)
                          for now, _ in dispatchers),
                commits=[commit for _, commit in dispatchers], send_messages=True)


def _run_messages(redis_client, queue: str) -> list[str]:
    ids = []
    for key in redis_client.scan_iter(match=f"{queue}*"):
        if redis_client.type(key) == b"list":
            ids += [json.loads(raw)["headers"]["argsrepr"] for raw in redis_client.lrange(key, 0, -1)]
    return ids


def test_racing_dispatchers_create_exactly_one_job_per_schedule_and_tick(
        engine, committed_schedules, redis_client, training_queue):
    tenant_id, ids = committed_schedules
    ticks = [T0 + timedelta(minutes=5 * k) for k in range(1, N_TICKS + 1)]
    for tick in ticks:
        # Two beats a few seconds apart, plus a dispatch that fails and rolls back.
        results = _race(engine, [(tick + timedelta(seconds=1), True), (tick + timedelta(seconds=4), True),
                                 (tick + timedelta(seconds=2), False)])
        assert not [r for r in results if isinstance(r, Exception)], results
        committed = [f for r in results[:2] for f in r if f.schedule_id in ids]
        assert sorted((f.schedule_id, f.fire_time) for f in committed) == sorted((s, tick) for s in ids)

    # A dispatcher retried after everything committed changes nothing.
    retried = _race(engine, [(ticks[-1] + timedelta(seconds=30), True)] * 2)
    assert [f for r in retried for f in r if f.schedule_id in ids] == []

    with engine.connect() as conn:
        fires = conn.execute(sa.text(
            "SELECT f.schedule_id, f.fire_time, f.status, j.job_id, j.config->>'end_date' AS end_date "
            "FROM ai_schedule_fires f JOIN ai_training_jobs j USING (job_id) "
            "WHERE f.schedule_id = ANY(:ids)"), {"ids": ids}).all()
        jobs = conn.execute(sa.text("SELECT job_id FROM ai_training_jobs WHERE tenant_id = :t"),
                            {"t": tenant_id}).scalars().all()
    assert len(fires) == len(jobs) == N_SCHEDULES * N_TICKS
    assert {(f.schedule_id, f.fire_time) for f in fires} == {(s, t) for s in ids for t in ticks}
    assert all(f.status == "created" and datetime.fromisoformat(f.end_date) == f.fire_time for f in fires)
    # One run message per job: the rolled-back dispatches sent nothing.
    assert sorted(_run_messages(redis_client, training_queue)) == sorted(repr([str(j)]) for j in jobs)


def test_a_second_dispatcher_waits_on_the_first_ones_fire_rows_then_creates_nothing(
        engine, committed_schedules, training_queue):
    """The unique fire row decides, not a read: while the first dispatch is uncommitted,
    the second one still reads the tick as due, blocks on the first one's row, and after
    the commit its INSERT … ON CONFLICT DO NOTHING inserts nothing."""
    from tests.helpers import wait_for

    tenant_id, ids = committed_schedules
    now = T0 + timedelta(minutes=5, seconds=1)
    first = Session(engine)
    assert len([f for f in schedules.dispatch_due_schedules(first, now=now) if f.schedule_id in ids]) == N_SCHEDULES
    outcome: dict[str, object] = {}

    def second() -> None:
        with Session(engine) as session:
            session.execute(sa.text("SET application_name = 'second-dispatcher'"))
            outcome["fires"] = schedules.dispatch_due_schedules(session, now=now)
            session.commit()

    def second_is_waiting_on_a_lock() -> bool:
        # A fresh connection per probe: pg_stat_activity is a snapshot per transaction.
        with engine.connect() as conn:
            return conn.execute(sa.text(
                "SELECT wait_event_type FROM pg_stat_activity WHERE application_name = 'second-dispatcher'"
            )).scalar() == "Lock"

    thread = threading.Thread(target=second)
    thread.start()
    try:
        wait_for(second_is_waiting_on_a_lock, timeout=10,
                 what="the second dispatcher to wait on the first one's fire row")
        first.commit()
    finally:
        first.close()
        thread.join(timeout=30)
    assert [f for f in outcome["fires"] if f.schedule_id in ids] == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ai_training_jobs WHERE tenant_id = :t"),
                            {"t": tenant_id}).scalar() == N_SCHEDULES
