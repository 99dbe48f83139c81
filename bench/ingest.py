"""Feature-set ingest: a million-row CSV through the API and the CLI vs a plain COPY.

Writes one CSV of ``--rows`` hourly rows (default 1,000,000: ``--series`` sites of
forecast_basic demo data, columns ts, site, load_kw, temperature, humidity, about
53 MB), then loads the same file:

  plain COPY         psycopg2 ``copy_expert`` of the file into a bare 5-column table
                     (no index), and into one with a (site, ts) primary key: what the
                     database alone costs.
  CLI                ``trainhub features load FILE --name … --series-column site``, a
                     fresh process: start-up, parse, validation, binary COPY, summary.
  API                the file POSTed as the raw body to
                     ``/ai/training/feature-sets/<name>/data`` of ``gunicorn -w 1``,
                     streamed by ``requests``: upload, parse, validate, COPY, summary.
  API re-send 10 %   the last tenth of every series again with new values: those
                     timestamps are replaced (deleted and re-inserted), none duplicated.

Self-contained: a scratch database ``bench_<random>`` on the server of
TRAINHUB_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres),
migrated, with a tenant and key; dropped again on exit, with the temp dir.

    .venv/bin/python bench/ingest.py [--rows 1000000] [--series 10]

Target (the issue): a million rows load "well under a minute".
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from _common import cpu_model, format_table, free_port, start_process, stopping  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
HOST = "127.0.0.1"
TENANT = "bench"
START = datetime(2000, 1, 1, tzinfo=timezone.utc)


def write_csv(path: Path, rows: int, series: int) -> None:
    from trainhub.demo_data import generate_demo_frame

    if rows % series:
        raise SystemExit("--rows must be a multiple of --series")
    per_series = rows // series
    end = START + timedelta(hours=per_series)
    with open(path, "w") as out:
        for i in range(series):
            frame = generate_demo_frame("forecast_basic", START, end, seed=7 + i)
            frame.insert(1, "site", f"site-{i:02d}")
            frame["ts"] = frame["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            frame.to_csv(out, index=False, header=i == 0, float_format="%.4f")


def resend_csv(source: Path, target: Path, fraction: float) -> int:
    """The last `fraction` of every series' rows, values changed: a re-sent range."""
    import pandas as pd

    frame = pd.read_csv(source, engine="pyarrow")
    per_series = frame.groupby("site")["ts"].transform("size")
    tail = frame[frame.groupby("site").cumcount(ascending=False) < (per_series * fraction).astype(int)]
    tail = tail.assign(load_kw=tail["load_kw"] + 1.0)
    tail.to_csv(target, index=False, float_format="%.4f")
    return len(tail)


def plain_copy(dsn: str, path: Path, *, primary_key: bool) -> float:
    import psycopg2

    key = ", PRIMARY KEY (site, ts)" if primary_key else ""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS plain_copy")
        cursor.execute("CREATE TABLE plain_copy (ts timestamptz NOT NULL, site text NOT NULL, "
                       f"load_kw float8, temperature float8, humidity float8{key})")
        conn.commit()
        started = time.perf_counter()
        with open(path) as file:
            cursor.copy_expert("COPY plain_copy FROM STDIN WITH (FORMAT csv, HEADER true)", file)
        conn.commit()
        elapsed = time.perf_counter() - started
        cursor.execute("DROP TABLE plain_copy")
    return elapsed


def cli_load(env: dict[str, str], path: Path, name: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "trainhub", "features", "load", str(path), "--name", name, "--tenant", TENANT,
         "--series-column", "site", "--target", "load_kw"],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"CLI load failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout.strip().splitlines()[0]


def api_load(port: int, key: str, path: Path, name: str, **query) -> tuple[float, dict]:
    import requests

    started = time.perf_counter()
    with open(path, "rb") as file:
        resp = requests.post(f"http://{HOST}:{port}/ai/training/feature-sets/{name}/data",
                             params=query, data=file, timeout=600,
                             headers={"Authorization": f"Bearer {key}", "Content-Type": "text/csv"})
    elapsed = time.perf_counter() - started
    if resp.status_code not in (200, 201):
        raise RuntimeError(f"API load failed: {resp.status_code} {resp.text[:2000]}")
    return elapsed, resp.json()


def stored_rows(database_url: str, name: str) -> int:
    from trainhub.db import get_engine

    with get_engine(database_url).connect() as conn:
        return conn.execute(sa.text(
            "SELECT count(*) FROM feature_rows r JOIN feature_sets s USING (feature_set_id) "
            "WHERE s.tenant_id = :t AND s.name = :n"), {"t": TENANT, "n": name}).scalar_one()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--series", type=int, default=10)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    server_url = os.environ.get("TRAINHUB_DATABASE_URL") or DEFAULT_DATABASE_URL
    db_name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    database_url = make_url(server_url).set(database=db_name).render_as_string(hide_password=False)
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHUB_")}
    env.update(TRAINHUB_DATABASE_URL=database_url, TRAINHUB_STATE_DIR=str(work / "state"),
               TRAINHUB_REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"))
    try:
        from trainhub.db import session_scope
        from trainhub.migrations import migrate
        from trainhub.tenants import create_tenant

        migrate(database_url)
        with session_scope(database_url) as session:
            key = create_tenant(session, tenant_id=TENANT).api_key
        csv_path = work / "rows.csv"
        began = time.perf_counter()
        write_csv(csv_path, args.rows, args.series)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"wrote {args.rows:,} rows ({args.series} series, {size_mb:.1f} MB) in "
              f"{time.perf_counter() - began:.1f} s; PostgreSQL {_server_version(database_url)}, "
              f"{os.cpu_count()} cores ({cpu_model()})", flush=True)

        results: list[tuple[str, int, float, str]] = []
        plain = plain_copy(dsn, csv_path, primary_key=False)
        results.append(("plain psycopg2 COPY (no index)", args.rows, plain, ""))
        keyed = plain_copy(dsn, csv_path, primary_key=True)
        results.append(("plain psycopg2 COPY (primary key)", args.rows, keyed, ""))

        cli_seconds, cli_line = cli_load(env, csv_path, "cli-set")
        assert stored_rows(database_url, "cli-set") == args.rows
        results.append(("CLI trainhub features load", args.rows, cli_seconds, cli_line.split("; ", 1)[-1]))

        port = free_port()
        with stopping([]) as procs:
            procs.append(start_process(
                "gunicorn", [sys.executable, "-m", "gunicorn", "-w", "1", "-t", "600", "-b", f"{HOST}:{port}",
                             "api:create_app()"],
                port=port, env=env, cwd=ROOT, log_dir=work, ready_path="/healthz", timeout=60))
            api_seconds, report = api_load(port, key, csv_path, "api-set", target_column="load_kw",
                                           series_column="site")
            assert stored_rows(database_url, "api-set") == args.rows == report["rows_inserted"]
            results.append(("API POST raw body", args.rows, api_seconds,
                            f"server {report['seconds']:.1f} s"))
            resent = work / "resent.csv"
            n_resent = resend_csv(csv_path, resent, 0.1)
            again_seconds, again = api_load(port, key, resent, "api-set")
            assert stored_rows(database_url, "api-set") == args.rows
            assert again["rows_replaced"] == n_resent and again["rows_inserted"] == 0
            results.append(("API re-send last 10 % (replace)", n_resent, again_seconds,
                            f"{again['rows_replaced']:,} replaced, 0 duplicated"))

        rows = [(name, f"{n:,}", f"{seconds:.2f}", f"{n / seconds:,.0f}",
                 f"{seconds / plain:.1f}x", note) for name, n, seconds, note in results]
        print()
        print(format_table(["path", "rows", "wall s", "rows/s", "vs plain COPY", "note"], rows,
                           align="lrrrrl"))
        worst = max(seconds for name, n, seconds, _ in results if n == args.rows)
        print(f"\nslowest full load: {worst:.1f} s for {args.rows:,} rows (target: well under 60 s)")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        from trainhub.db import get_engine

        get_engine(database_url).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


def _server_version(database_url: str) -> str:
    from trainhub.db import get_engine

    with get_engine(database_url).connect() as conn:
        return conn.execute(sa.text("SHOW server_version")).scalar_one().split()[0]


if __name__ == "__main__":
    sys.exit(main())
