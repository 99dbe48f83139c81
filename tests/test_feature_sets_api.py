"""/ai/training/feature-sets: upload (raw body or multipart), list, get, redefine, delete."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

BASE = "/ai/training/feature-sets"


def csv_bytes(start: str = "2024-01-01", hours: int = 48, **columns) -> bytes:
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    frame = pd.DataFrame({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "load_kw": np.arange(hours, dtype=float), "temperature": 5.0, **columns})
    return frame.to_csv(index=False).encode()


def upload(client, headers, name, body: bytes, **query):
    params = {"target_column": "load_kw", **query}
    return client.post(f"{BASE}/{name}/data", query_string=params, data=body, headers=headers,
                       content_type="text/csv")


def test_upload_creates_then_appends_and_the_set_is_listed_with_its_summary(client, tenants):
    _, headers = tenants()

    created = upload(client, headers, "site-1", csv_bytes("2024-01-01", 48))
    appended = upload(client, headers, "site-1", csv_bytes("2024-01-02", 48), target_column=None)

    assert created.status_code == 201, created.json
    assert created.json["created"] is True and created.json["rows_inserted"] == 48
    assert appended.status_code == 200
    assert (appended.json["rows_inserted"], appended.json["rows_replaced"]) == (24, 24)
    listed = client.get(BASE, headers=headers).json
    assert listed["total"] == 1
    summary = listed["feature_sets"][0]
    assert (summary["name"], summary["rows"], summary["series_count"], summary["frequency"]) == ("site-1", 72, 1, "h")
    assert summary["first_ts"].startswith("2024-01-01T00:00:00") and summary["last_ts"].startswith("2024-01-03T23:00")
    assert "series" not in summary
    one = client.get(f"{BASE}/site-1", headers=headers).json
    assert one["columns"] == ["load_kw", "temperature"] and one["missing_timestamps"] == 0
    assert one["series"][0]["rows"] == 72 and one["series"][0]["gaps"] == []


def test_multipart_parquet_upload_is_read_as_parquet(client, tenants):
    _, headers = tenants()
    buffer = io.BytesIO()
    ts = pd.date_range("2024-01-01", periods=10, freq="D", tz="UTC")
    pq.write_table(pa.table({"date": ts, "visits": np.arange(10.0)}), buffer)

    resp = client.post(f"{BASE}/daily/data", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(buffer.getvalue()), "visits.parquet")})

    assert resp.status_code == 201, resp.json
    fs = resp.json["feature_set"]
    assert (fs["frequency"], fs["target_column"], fs["timestamp_column"], fs["rows"]) == ("D", "visits", "date", 10)


def test_invalid_file_answers_422_naming_rows_and_columns_and_loads_nothing(client, tenants):
    _, headers = tenants()
    body = csv_bytes(hours=10).replace(b"2024-01-01T03:00:00Z,3.0", b"2024-01-01T03:00:00Z,three")

    resp = upload(client, headers, "bad", body)

    assert resp.status_code == 422
    assert resp.json["errors"]["json"]["load_kw"] == ["1 values are not finite numbers: row 4 ('three')"]
    assert client.get(f"{BASE}/bad", headers=headers).status_code == 404


def test_upload_beyond_the_configured_limit_is_413(client, tenants, app, monkeypatch):
    _, headers = tenants()
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 1000)
    body = csv_bytes(hours=200)

    raw = upload(client, headers, "big", body)
    multipart = client.post(f"{BASE}/big/data", headers=headers, content_type="multipart/form-data",
                            data={"file": (io.BytesIO(body), "big.csv")})

    assert raw.status_code == multipart.status_code == 413
    assert "exceeds 1000 bytes" in raw.json["message"]
    assert client.get(f"{BASE}/big", headers=headers).status_code == 404


def test_uploads_may_exceed_the_general_request_limit(client, tenants, app):
    _, headers = tenants()
    body = csv_bytes(hours=40_000)
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]

    resp = upload(client, headers, "long", body)

    assert resp.status_code == 201 and resp.json["rows_inserted"] == 40_000


def test_empty_body_is_422(client, tenants):
    _, headers = tenants()

    resp = upload(client, headers, "empty", b"")

    assert resp.status_code == 422 and "no data" in resp.json["errors"]["json"]["file"][0]


def test_definition_is_set_at_upload_and_replaced_with_patch(client, tenants):
    _, headers = tenants()
    definition = '{"holidays": "GB", "lags": ["1h", "48h"], "rolling": [{"window": "24h", "stats": ["mean", "std"]}]}'
    assert upload(client, headers, "defined", csv_bytes(), definition=definition).status_code == 201

    bad = client.patch(f"{BASE}/defined", headers=headers, json={"definition": {"lags": ["90min"]}})
    good = client.patch(f"{BASE}/defined", headers=headers, json={"definition": {"calendar": ["hour"]}})

    assert bad.status_code == 422 and "90min" in bad.json["errors"]["json"]["definition"][0]
    assert good.status_code == 200 and good.json["definition"] == {"calendar": ["hour"]}


def test_another_tenants_set_is_not_found_and_stays(client, tenants):
    _, owner = tenants()
    _, other = tenants()
    upload(client, owner, "private", csv_bytes())

    assert client.get(f"{BASE}/private", headers=other).status_code == 404
    assert client.delete(f"{BASE}/private", headers=other).status_code == 404
    assert client.patch(f"{BASE}/private", headers=other, json={"definition": {}}).status_code == 404
    assert client.get(BASE, headers=other).json["total"] == 0
    assert client.get(f"{BASE}/private", headers=owner).status_code == 200


def test_delete_then_get_is_404(client, tenants):
    _, headers = tenants()
    upload(client, headers, "gone", csv_bytes())

    assert client.delete(f"{BASE}/gone", headers=headers).status_code == 204
    assert client.get(f"{BASE}/gone", headers=headers).status_code == 404


def test_a_demo_set_reads_like_any_other_set(client, tenants):
    _, headers = tenants()

    resp = client.get(f"{BASE}/forecast_basic", headers=headers)

    assert resp.status_code == 200
    assert resp.json["builtin"] is True and resp.json["rows"] > 90_000
    assert resp.json["columns"] == ["load_kw", "temperature", "humidity"]


def test_admin_key_names_the_tenant(client, tenants):
    tenant_id, headers = tenants()
    admin = tenants.admin()
    upload(client, headers, "site", csv_bytes())

    assert client.get(f"{BASE}/site", headers=admin).status_code == 422
    assert client.get(f"{BASE}/site", headers=admin, query_string={"tenant_id": tenant_id}).json["rows"] == 48
    assert upload(client, admin, "site2", csv_bytes(), tenant_id=tenant_id).status_code == 201
