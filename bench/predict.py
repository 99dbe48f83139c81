"""Latency of POST /ai/training/models/…/predict on a warm process.

A 24-row request (one day of hourly feature rows) to a LightGBM forecast version with
the default hyperparameters, trained on one year of the forecast_basic demo series,
served by ``gunicorn -w 1`` (sync) after a warm-up that loads the artifact into the
process's model cache. Requests are sent one at a time over one keep-alive connection
and timed at the client, so each figure is the whole round trip: HTTP, bearer-key
lookup, the indexed query that resolves the model (and enforces tenancy), validation
of the rows against the stored feature list, scaling and LightGBM.

Cases:
  by model id          POST /models/{tenant:name:version}/predict  {"rows": [24 rows]}
  by name (production) POST /models/{name}/predict                 {"rows": [24 rows]}
  by name, horizon 24  POST /models/{name}/predict                 {"horizon": 24}
                       (features built from the feature set's last 35 days in PostgreSQL)
and, for scale, the same 24-row prediction in-process without HTTP (CPU ms/req: the
server process's for HTTP cases, this process's for the others):
  service call         trainhub.prediction.predict(session, …) on a warm cache
  model only           scaler + LightGBM on the 24 rows (pipeline.artifact.predict)

Self-contained: creates a scratch database ``bench_predict_<random>`` on the server of
TRAINHUB_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres),
an artifact directory under /tmp, and drops both on exit.

    .venv/bin/python bench/predict.py [--requests 1000] [--warmup 100]
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path


BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from _common import (  # noqa: E402
    CpuMeter, cpu_model, create_database, descendants, drop_database, format_table, free_port, percentile,
    start_process, stopping,
)

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
TENANT = "bench-tenant"
MODEL = "load_forecast"
ROWS = 24


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="timed requests per case")
    parser.add_argument("--warmup", type=int, default=100, help="untimed requests per case first")
    args = parser.parse_args()

    server_url = os.environ.get("TRAINHUB_DATABASE_URL") or DEFAULT_DATABASE_URL
    tag = uuid.uuid4().hex[:8]
    database_url = create_database(server_url, f"bench_predict_{tag}")
    state_dir = Path(tempfile.mkdtemp(prefix=f"bench-predict-{tag}-"))
    os.environ.update(TRAINHUB_DATABASE_URL=database_url, TRAINHUB_STATE_DIR=str(state_dir),
                      TRAINHUB_ARTIFACT_DIR=str(state_dir / "artifacts"))
    os.environ.setdefault("TRAINHUB_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        api_key, model_id, rows = _prepare(database_url, state_dir / "artifacts")
        print(_environment(args), file=sys.stderr)
        port = free_port()
        env = {**os.environ}
        with stopping([]) as servers:
            servers.append(start_process(
                "gunicorn", [sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"{HOST}:{port}", "api:create_app()"],
                port=port, env=env, cwd=ROOT, log_dir=state_dir))
            master = servers[0].pid
            results = _http_cases(port, api_key, model_id, rows, args,
                                  CpuMeter(lambda: [master, *descendants(master)]))
        results += _in_process_cases(model_id, rows, args)
        print(_table(results))
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        from trainhub.db import get_engine
        with contextlib.suppress(Exception):
            get_engine(database_url).dispose()
        drop_database(database_url)
        shutil.rmtree(state_dir, ignore_errors=True)


def _prepare(database_url: str, artifact_dir: Path) -> tuple[str, str, list[dict]]:
    """A tenant, its demo feature set, and one forecast version in production."""
    from trainhub import experiments, prediction, registry
    from trainhub.db import session_scope
    from trainhub.demo_data import generate_demo_frame
    from trainhub.features import ensure_demo_feature_set
    from trainhub.migrations import migrate
    from trainhub.pipeline import PipelineHooks, save_artifact, train_model
    from trainhub.tenants import create_tenant

    migrate(database_url)
    frame = generate_demo_frame("forecast_basic", datetime(2024, 1, 1, tzinfo=timezone.utc),
                                datetime(2025, 1, 1, tzinfo=timezone.utc))
    result = train_model(frame, model_type="forecast", target="load_kw", horizon=24, validation_split=0.2,
                         test_split=0.1, hyperparameters={}, early_stopping_rounds=10, num_threads=1,
                         hooks=PipelineHooks())
    path = artifact_dir / TENANT / MODEL / "bench.joblib"
    save_artifact(result, path, metadata={"feature_set": "forecast_basic"})
    with session_scope() as session:
        issued = create_tenant(session, tenant_id=TENANT)
        ensure_demo_feature_set(session, tenant_id=TENANT, name="forecast_basic")
        lineage = {"feature_set": "forecast_basic", "series_id": ""}
        experiment_id = experiments.start_experiment(
            session, tenant_id=TENANT, job_id=None, model_type="forecast", model_name=MODEL,
            name="bench", params={}, lineage=lineage)
        version = registry.register_model(
            session, tenant_id=TENANT, model_name=MODEL, model_type="forecast", job_id=None,
            experiment_id=experiment_id, artifact_path=path, metrics={}, hyperparameters={},
            feature_names=result.feature_names, lineage=lineage)
        for stage in ("staging", "production"):
            registry.change_stage(session, model_id=version.model_id, tenant_scope=TENANT, stage=stage,
                                  reason="bench", actor="bench")
    X, _, _ = prediction.engineer(frame, artifact={"target": "load_kw", "horizon": 24})
    rows = X[result.feature_names].tail(ROWS).to_dict(orient="records")
    return issued.api_key, version.model_id, rows


def _http_cases(port: int, api_key: str, model_id: str, rows: list[dict], args: argparse.Namespace,
                server_cpu: CpuMeter) -> list[tuple[str, list[float], float]]:
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    cases = [
        ("HTTP, by model id, 24 rows", f"/ai/training/models/{model_id}/predict", {"rows": rows}),
        ("HTTP, by name (production), 24 rows", f"/ai/training/models/{MODEL}/predict", {"rows": rows}),
        ("HTTP, by name, horizon 24 (features from DB)", f"/ai/training/models/{MODEL}/predict", {"horizon": 24}),
    ]
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    results = []
    for label, path, body in cases:
        payload = json.dumps(body)

        def call() -> None:
            connection.request("POST", path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"{label}: {response.status} {data[:300]!r}")
            if json.loads(data)["count"] != ROWS:
                raise RuntimeError(f"{label}: expected {ROWS} predictions")

        results.append((label, *_timed(call, args, server_cpu)))
        print(f"  measured {label}", file=sys.stderr)
    connection.close()
    return results


def _in_process_cases(model_id: str, rows: list[dict],
                      args: argparse.Namespace) -> list[tuple[str, list[float], float]]:
    import pandas as pd

    from trainhub import prediction, registry
    from trainhub.db import session_scope
    from trainhub.pipeline.artifact import predict as artifact_predict

    with session_scope() as session:
        def service() -> None:
            prediction.predict(session, tenant_scope=TENANT, model_ref=model_id, rows=rows)

        timed_service = _timed(service, args, None)
        artifact = prediction.load_model(registry.get_model(session, model_id=model_id, tenant_scope=TENANT))
    frame = pd.DataFrame(rows)
    timed_model = _timed(lambda: artifact_predict(artifact, frame), args, None)
    return [("in-process service call, 24 rows", *timed_service),
            ("model only (scaler + LightGBM), 24 rows", *timed_model)]


def _timed(call, args: argparse.Namespace, server_cpu: CpuMeter | None) -> tuple[list[float], float]:
    """Wall milliseconds per call, and CPU milliseconds per call: of the server process
    for HTTP cases, of this process otherwise. CPU time does not grow when other work
    shares the cores, so it stays comparable on a busy machine where latency does not."""
    for _ in range(args.warmup):
        call()
    samples = []
    if server_cpu is not None:
        server_cpu.start()
    cpu_started = time.process_time()
    for _ in range(args.requests):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    cpu = server_cpu.stop() if server_cpu is not None else time.process_time() - cpu_started
    return samples, 1000 * cpu / args.requests


def _table(results: list[tuple[str, list[float], float]]) -> str:
    rows = [(label, len(s), f"{percentile(s, 50):.2f}", f"{percentile(s, 90):.2f}", f"{percentile(s, 99):.2f}",
             f"{max(s):.2f}", f"{cpu:.2f}") for label, s, cpu in results]
    return format_table(["case", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU ms/req"], rows)


def _environment(args: argparse.Namespace) -> str:
    load1, load5, _ = os.getloadavg()
    return (f"cores: {os.cpu_count()} ({cpu_model()}); load average {load1:.2f} (1 min), {load5:.2f} (5 min)\n"
            f"per case: {args.warmup} warm-up + {args.requests} timed requests, one at a time")


if __name__ == "__main__":
    sys.exit(main())
