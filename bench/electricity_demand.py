"""A public electricity-demand series, loaded through the API, trained and scored
against the seasonal-naive forecast.

The series: half-hourly electricity demand in England and Wales (MW), Monday 5 June
to Sunday 27 August 2000, 4,032 values, from J. W. Taylor (2003), "Short-term
electricity demand forecasting using double seasonal exponential smoothing",
Journal of the Operational Research Society 54, 799-805 — the `taylor` data set of
R's forecast package. No package of this project's dependencies ships it and this
machine reaches no data hosts, so the script takes it from the PyPI package
pmdarima, whose wheel carries the values in pmdarima/datasets/taylor.py: from an
installed pmdarima if there is one, else from ``pip download --no-deps pmdarima``
into a temp dir. It reads that file as text and imports nothing from it. The data
is not stored in this repository.

Timestamps: the values start at 00:00 local time on 5 June 2000; England kept
summer time (UTC+1) over the whole span, so they are uploaded in UTC, an hour
earlier, and the set's definition computes its calendar in Europe/London.

Two feature sets are loaded through ``POST /ai/training/feature-sets/<name>/data``
of a real ``gunicorn`` API, and one forecast job each runs on a real worker:

  half-hourly   the series as it is; horizon 12 h = 24 steps ahead.
  hourly        each hour the mean of its two half hours (MW); horizon 24 h = 24 steps.

Both jobs report the model's test MAE and that of the seasonal-naive forecast on the
same test rows (the value one day before the predicted time), and mae_improvement.

Self-contained like the other bench scripts: a scratch database ``bench_<random>``
on the server of TRAINHUB_DATABASE_URL (default the local postgres), Redis DB 11 (or
BENCH_REDIS_URL) with its own queues; all removed on exit.

    .venv/bin/python bench/electricity_demand.py
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from _common import ManagedProcess, format_table, free_port, start_process, stopping  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
TENANT = "energy"
TAYLOR_VALUES = 4032
DEFINITION = {
    "description": "Half-hourly demand in England and Wales, June-August 2000 (Taylor 2003), MW",
    "timezone": "Europe/London",
    "holidays": {"country": "GB", "subdivision": "ENG"},
    "calendar": ["hour", "minute", "day_of_week", "is_weekend"],
    # 12h and 36h: the value at the predicted time of day, one and two days earlier,
    # for the 12-hour horizon of the half-hourly job (24 h is that for the hourly one).
    "lags": ["1h", "2h", "12h", "24h", "36h", "48h", "168h"],
    "rolling": [{"window": "3h", "stats": ["mean", "std"]}, {"window": "24h", "stats": ["mean", "std"]}],
}
JOBS = [
    # (feature set, frequency, horizon hours, steps ahead)
    ("taylor_half_hourly", "30min", 12, 24),
    ("taylor_hourly", "h", 24, 24),
]


def taylor_values(work: Path) -> list[int]:
    source = _installed_taylor_source() or _downloaded_taylor_source(work)
    body = re.search(r"np\.array\(\[(.*?)\]", source, re.S)
    if body is None:
        raise RuntimeError("pmdarima's taylor.py no longer holds the values as np.array([...])")
    values = ast.literal_eval("[" + body.group(1) + "]")
    if len(values) != TAYLOR_VALUES:
        raise RuntimeError(f"expected {TAYLOR_VALUES} values, found {len(values)}")
    return values


def _installed_taylor_source() -> str | None:
    spec = importlib.util.find_spec("pmdarima")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "taylor.py"
    return path.read_text() if path.exists() else None


def _downloaded_taylor_source(work: Path) -> str:
    target = work / "wheel"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q",
                           "-d", str(target), "pmdarima"], capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"pip download pmdarima failed:\n{done.stderr}")
    wheel = next(target.glob("pmdarima-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        return archive.read("pmdarima/datasets/taylor.py").decode()


def write_csvs(values: list[int], work: Path) -> dict[str, Path]:
    import pandas as pd

    local = pd.date_range("2000-06-05 00:00", periods=len(values), freq="30min", tz="Europe/London")
    half_hourly = pd.DataFrame({"ts": local.tz_convert("UTC"), "demand_mw": [float(v) for v in values]})
    hourly = half_hourly.set_index("ts").resample("h").mean().reset_index()
    paths = {}
    for name, frame in (("taylor_half_hourly", half_hourly), ("taylor_hourly", hourly)):
        paths[name] = work / f"{name}.csv"
        frame.assign(ts=frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(paths[name], index=False)
    return paths


def main() -> int:
    server_url = os.environ.get("TRAINHUB_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/11"
    run = uuid.uuid4().hex[:8]
    db_name = f"bench_{run}"
    admin = sa.create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    database_url = make_url(server_url).set(database=db_name).render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="bench-energy-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHUB_")}
    env.update(TRAINHUB_DATABASE_URL=database_url, TRAINHUB_REDIS_URL=redis_url,
               TRAINHUB_TRAINING_QUEUE=f"bench-{run}", TRAINHUB_MAINTENANCE_QUEUE=f"bench-maint-{run}",
               TRAINHUB_STATE_DIR=str(work / "state"), TRAINHUB_ARTIFACT_DIR=str(work / "artifacts"),
               PYTHONUNBUFFERED="1")
    try:
        from trainhub.db import session_scope
        from trainhub.migrations import migrate
        from trainhub.tenants import create_tenant

        values = taylor_values(work)
        paths = write_csvs(values, work)
        migrate(database_url)
        with session_scope(database_url) as session:
            key = create_tenant(session, tenant_id=TENANT).api_key
        port = free_port()
        with stopping([]) as procs:
            procs.append(start_process(
                "gunicorn", [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"{HOST}:{port}", "api:create_app()"],
                port=port, env=env, cwd=ROOT, log_dir=work, ready_path="/healthz", timeout=60))
            procs.append(_start_worker(env, database_url, work))
            client = _Client(port, key)
            for name, frequency, horizon, steps in JOBS:
                with open(paths[name], "rb") as file:
                    loaded = client.call("POST", f"/ai/training/feature-sets/{name}/data", body=file.read(),
                                         content_type="text/csv",
                                         query={"target_column": "demand_mw", "definition": json.dumps(DEFINITION)})
                fs = loaded["feature_set"]
                print(f"{name}: {fs['rows']} rows every {fs['frequency']} from {fs['first_ts']} to {fs['last_ts']}, "
                      f"{fs['missing_timestamps']} missing timestamps, missing values {fs['missing_values']}")
                assert fs["frequency"] == frequency
            results = []
            for name, frequency, horizon, steps in JOBS:
                job = client.call("POST", "/ai/training/jobs/start", json_body={
                    "model_type": "forecast", "model_name": f"{name}_{horizon}h",
                    "config": {"feature_set": name, "target_variable": "demand_mw", "horizon": horizon,
                               "start_date": "2000-06-01T00:00:00Z", "end_date": "2000-09-01T00:00:00Z",
                               "validation_split": 0.15, "test_split": 0.15,
                               "hyperparameters": {"n_estimators": 500, "learning_rate": 0.05},
                               "early_stopping_rounds": 30},
                })
                done = client.wait(job["job_id"], timeout=600)
                if done["status"] != "completed":
                    raise RuntimeError(f"{name}: job {done['status']}: {done['error_message']}")
                results.append((name, frequency, horizon, steps, done["metrics"]))
        print()
        print(format_table(
            ["feature set", "step", "horizon", "test rows", "model MAE", "seasonal-naive MAE", "improvement",
             "model RMSE", "naive RMSE", "model MAPE %", "naive MAPE %"],
            [(name, freq, f"{h} h = {steps} steps", m["n_test"], f"{m['mae']:.0f} MW", f"{m['baseline_mae']:.0f} MW",
              f"{m['mae_improvement']:.1%}", f"{m['rmse']:.0f}", f"{m['baseline_rmse']:.0f}",
              f"{m['mape']:.2f}", f"{m['baseline_mape']:.2f}")
             for name, freq, h, steps, m in results],
            align="llrrrrrrrrr"))
        beaten = all(m["mae"] < m["baseline_mae"] for *_, m in results)
        print(f"\nmodel beats seasonal-naive on test MAE: {'yes' if beaten else 'NO'}")
        return 0 if beaten else 1
    finally:
        from trainhub.db import get_engine

        get_engine(database_url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        _purge_queues(redis_url, run)
        shutil.rmtree(work, ignore_errors=True)


class _Client:
    def __init__(self, port: int, key: str) -> None:
        import requests

        self.base = f"http://{HOST}:{port}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def call(self, method: str, path: str, *, body: bytes | None = None, content_type: str | None = None,
             query: dict | None = None, json_body: dict | None = None) -> dict:
        headers = {"Content-Type": content_type} if content_type else {}
        resp = self.session.request(method, self.base + path, data=body, json=json_body, params=query,
                                    headers=headers, timeout=120)
        if resp.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text[:2000]}")
        return resp.json()

    def wait(self, job_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        delay = 0.1
        while True:
            job = self.call("GET", f"/ai/training/jobs/{job_id}")
            if job["status"] in ("completed", "failed", "cancelled"):
                return job
            if time.monotonic() > deadline:
                raise RuntimeError(f"job {job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)


def _start_worker(env: dict[str, str], database_url: str, work: Path, timeout: float = 90) -> ManagedProcess:
    """A real worker; ready once it has heartbeated its row into ai_workers."""
    log_path = work / "worker.log"
    with open(log_path, "wb") as log_file:
        popen = subprocess.Popen(
            [sys.executable, "-m", "trainhub", "worker", "--concurrency", "1", "--hostname", "energy@%h"],
            env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    proc = ManagedProcess("worker", popen, log_path)
    from trainhub.db import get_engine

    deadline = time.monotonic() + timeout
    delay = 0.1
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"worker exited with {popen.returncode}:\n{proc.log_tail()}")
        with get_engine(database_url).connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM ai_workers")).scalar():
                return proc
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"worker did not heartbeat within {timeout}s:\n{proc.log_tail()}")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _purge_queues(redis_url: str, run: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"*bench-*{run}*"))
    if keys:
        client.delete(*keys)
    client.close()


if __name__ == "__main__":
    sys.exit(main())
