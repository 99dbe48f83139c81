"""A job trains on a tenant's uploaded series: the runner loads it by date range and series,
engineers the set's declared features, scores the seasonal-naive baseline and records
the lineage. The job runs in this process (run_job is what the worker task calls), on
committed rows, which the test deletes again with its tenant."""
from __future__ import annotations

import uuid

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

BASE = "/ai/training/feature-sets"


@pytest.fixture
def committed_tenant(app, database_url):
    """A committed tenant and a client whose requests commit; both gone afterwards."""
    from trainhub.db import session_scope
    from trainhub.tenants import create_tenant

    tenant_id = f"fs-jobs-{uuid.uuid4().hex[:6]}"
    with session_scope() as session:
        issued = create_tenant(session, tenant_id=tenant_id)
    app.extensions.pop("trainhub.session_factory", None)
    yield tenant_id, {"Authorization": f"Bearer {issued.api_key}"}, app.test_client()
    with session_scope() as session:
        session.execute(sa.text("DELETE FROM tenants WHERE tenant_id = :t"), {"t": tenant_id})


def two_sites_half_hourly(days: int = 35) -> bytes:
    ts = pd.date_range("2024-01-01", periods=days * 48, freq="30min", tz="UTC")
    rng = np.random.default_rng(11)
    daily = np.sin(2 * np.pi * (ts.hour * 60 + ts.minute) / 1440)
    frames = [
        pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "site": site,
                      "demand": level + 20 * daily + rng.normal(0, 2, len(ts)), "temperature": 10 + 5 * daily})
        for site, level in (("north", 300.0), ("south", 120.0))
    ]
    return pd.concat(frames).to_csv(index=False).encode()


def test_a_job_trains_on_one_series_of_an_uploaded_set_and_records_its_lineage(committed_tenant, training_queue):
    from trainhub.jobs.runner import run_job

    tenant_id, headers, api = committed_tenant
    definition = '{"lags": ["30min", "1h", "24h"], "rolling": [{"window": "6h", "stats": ["mean", "std"]}]}'
    upload = api.post(f"{BASE}/demand/data", headers=headers, data=two_sites_half_hourly(),
                      content_type="text/csv",
                      query_string={"target_column": "demand", "series_column": "site", "definition": definition})
    assert upload.status_code == 201, upload.json
    job = api.post("/ai/training/jobs/start", headers=headers, json={
        "model_type": "forecast", "model_name": "demand_12h",
        "config": {"feature_set": "demand", "series_id": "south", "target_variable": "demand", "horizon": 12,
                   "start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z",
                   "hyperparameters": {"n_estimators": 50}},
    }).json

    outcome = run_job(uuid.UUID(job["job_id"]), worker_id="inline-test")

    assert outcome.status == "completed", outcome.detail
    done = api.get(f"/ai/training/jobs/{job['job_id']}", headers=headers).json
    metrics = done["metrics"]
    assert metrics["mae"] < metrics["baseline_mae"] and 0 < metrics["mae_improvement"] < 1
    assert metrics["baseline_season_hours"] == 24
    from trainhub.db import session_scope

    with session_scope() as session:
        lineage = session.execute(sa.text("SELECT lineage FROM ai_experiments WHERE job_id = :j"),
                                  {"j": job["job_id"]}).scalar_one()
    assert (lineage["feature_set"], lineage["series_id"], lineage["frequency"]) == ("demand", "south", "30min")
    assert lineage["rows"] == 31 * 48
    assert lineage["first_ts"].startswith("2024-01-01T00:00") and lineage["last_ts"].startswith("2024-01-31T23:30")
    assert lineage["feature_definition"]["rolling"] == [{"window": "6h", "stats": ["mean", "std"]}]


def test_a_job_on_a_multi_series_set_without_a_series_fails_naming_them(committed_tenant, training_queue):
    from trainhub.jobs.runner import run_job

    tenant_id, headers, api = committed_tenant
    api.post(f"{BASE}/demand/data", headers=headers, data=two_sites_half_hourly(days=10), content_type="text/csv",
             query_string={"target_column": "demand", "series_column": "site"})
    job = api.post("/ai/training/jobs/start", headers=headers, json={
        "model_type": "forecast", "model_name": "demand",
        "config": {"feature_set": "demand", "target_variable": "demand", "horizon": 12,
                   "start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00Z"},
    }).json

    outcome = run_job(uuid.UUID(job["job_id"]), worker_id="inline-test")

    assert outcome.status == "failed"
    assert "has 2 series ('north', 'south'); choose one with config.series_id" in outcome.detail
