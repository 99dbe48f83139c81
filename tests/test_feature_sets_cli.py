"""Loads that commit: `trainhub features load FILE --name NAME` straight into the database,
and two loads racing to create one set."""
from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from click.testing import CliRunner


@pytest.fixture
def cli_tenant(database_url):
    tenant_id = f"cli-{uuid.uuid4().hex[:6]}"
    yield tenant_id
    from trainhub.db import session_scope

    with session_scope() as session:
        session.execute(sa.text("DELETE FROM tenants WHERE tenant_id = :t"), {"t": tenant_id})


def test_features_load_creates_then_appends_and_reports(cli_tenant, tmp_path):
    from trainhub.cli import main
    from trainhub.db import session_scope
    from trainhub.features import describe_feature_set

    first = tmp_path / "a.csv"
    first.write_text("timestamp,kw\n2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n2024-01-01T03:00:00Z,\n")
    second = tmp_path / "b.csv"
    second.write_text("timestamp,kw\n2024-01-01T03:00:00Z,4\n2024-01-01T04:00:00Z,5\n")
    runner = CliRunner()

    created = runner.invoke(main, ["features", "load", str(first), "--name", "meter", "--tenant", cli_tenant,
                                   "--definition", '{"lags": ["1h"]}'])
    appended = runner.invoke(main, ["features", "load", str(second), "--name", "meter", "--tenant", cli_tenant])

    assert created.exit_code == 0, created.output
    assert "meter: created; 3 rows read, 3 new, 0 replaced" in created.output
    assert "1 missing timestamps in 1 gaps; missing values {'kw': 1}" in created.output
    assert "meter: appended; 2 rows read, 1 new, 1 replaced" in appended.output
    with session_scope() as session:
        details = describe_feature_set(session, tenant_id=cli_tenant, name="meter")
    assert (details.rows, details.missing_values, details.definition) == (4, {"kw": 0}, {"lags": ["1h"]})


def test_features_load_of_an_invalid_file_fails_with_the_report(cli_tenant, tmp_path):
    from trainhub.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("ts,kw\n2024-01-01T00:00:00Z,1\nnot a time,2\n")

    result = CliRunner().invoke(main, ["features", "load", str(bad), "--name", "meter", "--tenant", cli_tenant])

    assert result.exit_code == 1
    assert "ts: 1 unparseable or missing timestamps: row 2 ('not a time')" in result.output


def test_two_concurrent_first_loads_of_one_set_create_it_once_and_both_land(cli_tenant, tmp_path):
    """The set's advisory lock orders the loads: one creates, the other appends after it."""
    from concurrent.futures import ThreadPoolExecutor

    import pandas as pd

    from trainhub.db import session_scope
    from trainhub.features import describe_feature_set
    from trainhub.ingest import load_file
    from trainhub.tenants import ensure_tenant

    with session_scope() as session:
        ensure_tenant(session, tenant_id=cli_tenant)
    paths = []
    for i, start in enumerate(("2024-01-01", "2024-01-03")):
        ts = pd.date_range(start, periods=72, freq="h", tz="UTC")  # the two files share 24 hours
        path = tmp_path / f"{i}.csv"
        pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "kw": float(i)}).to_csv(path, index=False)
        paths.append(path)

    def load(path):
        with session_scope() as session:
            report = load_file(session, tenant_id=cli_tenant, name="shared", path=path)
            return report.created, report.rows_inserted, report.rows_replaced

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(load, paths))

    assert outcomes == [(False, 48, 24), (True, 72, 0)]
    with session_scope() as session:
        assert describe_feature_set(session, tenant_id=cli_tenant, name="shared").rows == 120
