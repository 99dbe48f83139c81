"""Throughput, latency and CPU cost of TrainHub's REST API next to a minimal Flask app.

Measures requests/s, latency p50/p99 and server CPU per request of

  POST /ai/training/jobs/start   the seed's example body with a tenant's bearer key:
                                 auth lookup, validation, one INSERT, commit, and one
                                 Celery message to Redis after the commit;
  GET  /ai/training/jobs/{id}    auth lookup and one SELECT, cycling over created jobs;

each served by ``gunicorn -w 2`` (sync workers), beside bench/minimal_app.py under the
same gunicorn settings on the same PostgreSQL (one INSERT per POST, one SELECT by
primary key per GET; plus a POST that also publishes one Celery message, the fairer
yardstick for /jobs/start). Same load generator, connections and duration for every
case, run in interleaved rounds (the median round is reported) so that unrelated load
on the machine hits all cases alike. The TrainHub/minimal column is TrainHub's req/s
over the minimal app's; the CPU columns (gunicorn workers, and the app's PostgreSQL
backends) are read from /proc and stay meaningful when other processes share the CPU.
No Celery worker runs: messages pile up in the bench's own queue and are deleted at
the end.

Self-contained: creates a scratch database ``bench_<random>`` on the server of
TRAINHUB_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres),
migrates it, creates a tenant and key, uses the Redis of TRAINHUB_REDIS_URL (default
redis://127.0.0.1:6379/0) with a queue ``bench-<random>``; on exit (also on Ctrl-C,
SIGTERM or an error) stops the servers, deletes the queue's Redis keys and drops the
database. Linux only (/proc).

Run from the repository root:

    .venv/bin/python bench/api_throughput.py [--rounds 3] [--duration 5] [--warmup 1] [--connections 8]

wrk is used when installed (``apt-get install -y wrk``), else a slower Python client;
the output says which. The machine has 2 cores shared by the load generator, gunicorn,
PostgreSQL and Redis, so compare ratios, not absolute numbers, across machines.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from _common import (  # noqa: E402
    CpuMeter, LoadGenerator, LoadResult, LoadSpec, cpu_model, create_database, descendants,
    drop_database, format_table, free_port, machine_busy_seconds, start_process, stopping,
)
from minimal_app import APPLICATION_NAME as MINIMAL_APP_NAME, TABLE_DDL  # noqa: E402
from trainhub.examples import SEED_JOB_REQUEST  # noqa: E402 - the seed's request, verbatim

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
HOST = "127.0.0.1"
GUNICORN_WORKERS = 2
GET_IDS = 1000  # GETs cycle over this many existing rows
# PostgreSQL application_name of each server's connections (trainhub/db.py sets its own).
APP_NAMES = {"trainhub": "trainhub", "minimal": MINIMAL_APP_NAME}
RUNNER_APP_NAME = "bench-runner"
# A case whose slowest round ran below this share of its fastest is flagged as noisy.
NOISY_SPREAD = 0.8

TRAINHUB_POST = "POST /ai/training/jobs/start"
TRAINHUB_GET = "GET /ai/training/jobs/{id}"
MINIMAL_POST = "POST /items (INSERT)"
MINIMAL_POST_SEND = "POST /items?send=1 (INSERT + Celery send)"
MINIMAL_GET = "GET /items/{id} (SELECT by pk)"



@dataclass(frozen=True)
class Case:
    label: str
    server: str  # "trainhub" or "minimal"
    spec: LoadSpec
    baseline_of: str | None = None  # minimal rows: the TrainHub label compared with them


@dataclass(frozen=True)
class Round:
    load: LoadResult
    app_cpu_s: float  # gunicorn master + workers
    db_cpu_s: float  # the server's PostgreSQL backends
    other_cpu_s: float  # everything else on the machine (Redis included)

    def per_request_ms(self, seconds: float) -> float:
        return 1000 * seconds / self.load.requests if self.load.requests else float("nan")


@dataclass
class CaseResult:
    case: Case
    rounds: list[Round] = field(default_factory=list)

    @property
    def median(self) -> LoadResult:
        """The round with the median req/s: its rate and percentiles are reported."""
        return sorted((r.load for r in self.rounds), key=lambda r: r.rps)[(len(self.rounds) - 1) // 2]

    @property
    def requests(self) -> int:
        return sum(r.load.requests for r in self.rounds)

    @property
    def failures(self) -> int:
        return sum(r.load.unexpected + r.load.socket_errors for r in self.rounds)

    @property
    def app_ms(self) -> float:
        return statistics.median(r.per_request_ms(r.app_cpu_s) for r in self.rounds)

    @property
    def db_ms(self) -> float:
        return statistics.median(r.per_request_ms(r.db_cpu_s) for r in self.rounds)

    @property
    def noisy(self) -> bool:
        rates = [r.load.rps for r in self.rounds]
        return min(rates) < NOISY_SPREAD * max(rates)


@dataclass(frozen=True)
class Scratch:
    database_url: str
    redis_url: str
    queue: str
    api_key: str


def main() -> int:
    args = _parse_args()
    signal.signal(signal.SIGTERM, _interrupt)
    server_url = os.environ.get("TRAINHUB_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("TRAINHUB_REDIS_URL") or DEFAULT_REDIS_URL
    tag = uuid.uuid4().hex[:8]
    queue = f"bench-{tag}"
    load = LoadGenerator(connections=args.connections, force_python=args.python_load)
    log_dir = Path(tempfile.mkdtemp(prefix=f"{queue}-"))

    database_url = create_database(server_url, f"bench_{tag}")
    runner = None
    try:
        scratch = _prepare(database_url, redis_url, queue)
        runner = sa.create_engine(database_url, connect_args={"application_name": RUNNER_APP_NAME})
        with stopping([]) as servers:
            ports = {"trainhub": free_port(), "minimal": free_port()}
            servers.append(_gunicorn("trainhub", "api:create_app()", ports["trainhub"],
                                     _trainhub_env(scratch), log_dir))
            servers.append(_gunicorn("minimal", "minimal_app:create_app()", ports["minimal"],
                                     _minimal_env(scratch), log_dir, pythonpath=BENCH_DIR))
            masters = {"trainhub": servers[0].pid, "minimal": servers[1].pid}
            _print_environment(load, args, scratch, runner)
            bench = Bench(load, ports, masters, runner, args)
            results = bench.run_cases(scratch)
        print()
        print(_results_table(results))
        _print_notes(results)
        return 0 if all(r.failures == 0 for r in results) else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if runner is not None:
            runner.dispose()
        _cleanup(database_url, redis_url, queue)
        print(f"(server logs: {log_dir})", file=sys.stderr)


def _interrupt(signum, frame) -> None:
    # A plain `kill` cleans up the way Ctrl-C does.
    raise KeyboardInterrupt


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    parser.add_argument("--duration", type=int, default=5, help="seconds measured per case and round")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load before each")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator even if wrk exists")
    return parser.parse_args()


# --- setup and teardown ------------------------------------------------------------

def _prepare(database_url: str, redis_url: str, queue: str) -> Scratch:
    from trainhub.db import get_engine, session_scope
    from trainhub.migrations import migrate
    from trainhub.tenants import create_tenant

    migrate(database_url)
    with session_scope(database_url) as session:
        issued = create_tenant(session, tenant_id=SEED_JOB_REQUEST["tenant_id"])
        session.execute(sa.text(TABLE_DDL))
    # Its idle connection would pass for one of the server's backends.
    get_engine(database_url).dispose()
    return Scratch(database_url, redis_url, queue, issued.api_key)


def _cleanup(database_url: str, redis_url: str, queue: str) -> None:
    """Best effort, each step on its own, so one failure does not skip the rest."""
    with contextlib.suppress(Exception):
        from trainhub.db import get_engine
        get_engine(database_url).dispose()
    try:
        import redis
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"*{queue}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception as exc:  # noqa: BLE001 - report and go on dropping the database
        print(f"could not delete Redis keys of {queue}: {exc}", file=sys.stderr)
    name = make_url(database_url).database
    try:
        drop_database(database_url)
    except Exception as exc:  # noqa: BLE001
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def _trainhub_env(s: Scratch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHUB_")}
    env.update(TRAINHUB_DATABASE_URL=s.database_url, TRAINHUB_REDIS_URL=s.redis_url,
               TRAINHUB_TRAINING_QUEUE=s.queue,
               TRAINHUB_STATE_DIR=str(Path(tempfile.gettempdir()) / s.queue))
    return env


def _minimal_env(s: Scratch) -> dict[str, str]:
    return {**os.environ, "BENCH_DATABASE_URL": s.database_url,
            "BENCH_REDIS_URL": s.redis_url, "BENCH_QUEUE": f"{s.queue}-minimal"}


def _gunicorn(name: str, app: str, port: int, env: dict[str, str], log_dir: Path,
              pythonpath: Path | None = None):
    import gunicorn

    cmd = [sys.executable, "-m", "gunicorn", "-w", str(GUNICORN_WORKERS), "-b", f"{HOST}:{port}"]
    if gunicorn.version_info >= (25, 1):
        # It opens a control socket at one fixed path per user by default; two servers
        # (or two benches) at once would fight over it, and nothing here uses it.
        cmd.append("--no-control-socket")
    if pythonpath:
        cmd += ["--pythonpath", str(pythonpath)]
    cmd.append(app)
    # Quick shutdown: nothing in flight matters once a case is measured.
    return start_process(name, cmd, port=port, env=env, cwd=ROOT, log_dir=log_dir,
                         stop_signal=signal.SIGINT)


# --- the cases -----------------------------------------------------------------------

@dataclass
class Bench:
    load: LoadGenerator
    ports: dict[str, int]
    masters: dict[str, int]  # gunicorn master pid per server
    runner: sa.Engine
    args: argparse.Namespace

    def run_cases(self, s: Scratch) -> list[CaseResult]:
        json_headers = {"Content-Type": "application/json"}
        auth = {"Authorization": f"Bearer {s.api_key}"}
        body = json.dumps(SEED_JOB_REQUEST)
        results = self.run_rounds([
            Case(TRAINHUB_POST, "trainhub",
                 LoadSpec("POST", ["/ai/training/jobs/start"], {**json_headers, **auth}, body, 201)),
            Case(MINIMAL_POST, "minimal",
                 LoadSpec("POST", ["/items"], json_headers, body, 201), baseline_of=TRAINHUB_POST),
            Case(MINIMAL_POST_SEND, "minimal",
                 LoadSpec("POST", ["/items?send=1"], json_headers, body, 201), baseline_of=TRAINHUB_POST),
        ])
        # GETs cycle over rows the POSTs created.
        with self.runner.connect() as conn:
            job_ids = conn.execute(sa.text("SELECT job_id FROM ai_training_jobs LIMIT :n"),
                                   {"n": GET_IDS}).scalars().all()
            item_ids = conn.execute(sa.text("SELECT id FROM bench_items LIMIT :n"),
                                    {"n": GET_IDS}).scalars().all()
        return results + self.run_rounds([
            Case(TRAINHUB_GET, "trainhub",
                 LoadSpec("GET", [f"/ai/training/jobs/{j}" for j in job_ids], auth, None, 200)),
            Case(MINIMAL_GET, "minimal",
                 LoadSpec("GET", [f"/items/{i}" for i in item_ids], {}, None, 200), baseline_of=TRAINHUB_GET),
        ])

    def run_rounds(self, cases: list[Case]) -> list[CaseResult]:
        """Every case once per round, interleaved, so a burst of unrelated load on the
        machine hits all of them alike instead of skewing one."""
        results = [CaseResult(case) for case in cases]
        for case in cases:
            _preflight(self.ports[case.server], case.spec)
        for n in range(1, self.args.rounds + 1):
            for result in results:
                r = self.measure(result.case)
                result.rounds.append(r)
                print(f"  round {n}/{self.args.rounds}  {result.case.server:8s} "
                      f"{result.case.label:42s} {r.load.rps:7.0f} req/s", file=sys.stderr)
        return results

    def measure(self, case: Case) -> Round:
        port = self.ports[case.server]
        if self.args.warmup:
            self.load.run(HOST, port, case.spec, self.args.warmup)
        master = self.masters[case.server]
        app = CpuMeter(lambda: [master, *descendants(master)])
        db = CpuMeter(self._backends(APP_NAMES[case.server]))
        app.start()
        db.start()
        busy = machine_busy_seconds()
        result = self.load.run(HOST, port, case.spec, self.args.duration)
        busy = machine_busy_seconds() - busy
        app_s, db_s = app.stop(), db.stop()
        return Round(result, app_s, db_s, max(0.0, busy - app_s - db_s - result.client_cpu_s))

    def _backends(self, application_name: str) -> Callable[[], list[int]]:
        def pids() -> list[int]:
            with self.runner.connect() as conn:
                return conn.execute(
                    sa.text("SELECT pid FROM pg_stat_activity "
                            "WHERE datname = current_database() AND application_name = :name"),
                    {"name": application_name},
                ).scalars().all()
        return pids


def _preflight(port: int, spec: LoadSpec) -> None:
    """One request by hand first, so a broken setup fails with its answer, not a table
    full of errors."""
    req = urllib.request.Request(
        f"http://{HOST}:{port}{spec.paths[0]}", method=spec.method, headers=spec.headers,
        data=spec.body.encode() if spec.body is not None else None,
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, text = resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode(errors="replace")
    if status != spec.expected_status:
        raise RuntimeError(f"{spec.method} {spec.paths[0]} answered {status}, "
                           f"expected {spec.expected_status}: {text[:500]}")


# --- output --------------------------------------------------------------------------

def _print_environment(load: LoadGenerator, args: argparse.Namespace, s: Scratch,
                       runner: sa.Engine) -> None:
    import gunicorn
    import redis

    with runner.connect() as conn:
        pg_version = conn.execute(sa.text("SHOW server_version")).scalar()
    client = redis.Redis.from_url(s.redis_url)
    redis_version = client.info("server")["redis_version"]
    client.close()
    load1, load5, _ = os.getloadavg()
    url = make_url(s.database_url)
    facts = [
        ("cores", f"{os.cpu_count()} ({cpu_model()}), shared by load generator and servers"),
        ("load average", f"{load1:.2f} (1 min), {load5:.2f} (5 min) before the run"),
        ("load generator", load.description),
        ("per case", f"{args.rounds} interleaved rounds of {args.warmup} s warm-up + "
                     f"{args.duration} s measured"),
        ("servers", f"gunicorn {gunicorn.__version__}, -w {GUNICORN_WORKERS} sync workers each, "
                    f"Python {platform.python_version()}"),
        ("PostgreSQL", f"{pg_version} at {url.host}:{url.port or 5432}, scratch database {url.database}"),
        ("Redis", f"{redis_version}, queue {s.queue}; no Celery worker consumes it"),
    ]
    width = max(len(k) for k, _ in facts)
    print("API throughput: TrainHub vs a minimal Flask + SQLAlchemy app")
    for key, value in facts:
        print(f"  {key.ljust(width)}  {value}")
    sys.stdout.flush()


def _results_table(results: list[CaseResult]) -> str:
    trainhub = {r.case.label: r for r in results if r.case.server == "trainhub"}
    rows = []
    for result in results:
        m = result.median
        ratio = ""
        if result.case.baseline_of:
            ratio = f"{_paired_ratio(trainhub[result.case.baseline_of], result):.2f}"
        spread = f"{min(r.load.rps for r in result.rounds):.0f}-{max(r.load.rps for r in result.rounds):.0f}"
        rows.append([result.case.label, result.case.server, f"{m.rps:.0f}", spread,
                     f"{m.p50_ms:.1f}", f"{m.p99_ms:.1f}", result.requests, result.failures,
                     f"{result.app_ms:.2f}", f"{result.db_ms:.2f}", ratio])
    return format_table(
        ["case", "server", "req/s", "rounds", "p50 ms", "p99 ms", "requests", "non-2xx",
         "app CPU ms/req", "db CPU ms/req", "TrainHub/minimal"],
        rows, align="ll" + "r" * 9)


def _paired_ratio(trainhub: CaseResult, minimal: CaseResult) -> float:
    """Median over rounds of TrainHub's req/s over the minimal app's in the same round:
    the two ran seconds apart, so load from elsewhere mostly cancels out."""
    ratios = [t.load.rps / m.load.rps for t, m in zip(trainhub.rounds, minimal.rounds) if m.load.rps]
    return statistics.median(ratios) if ratios else float("nan")


def _print_notes(results: list[CaseResult]) -> None:
    by_label = {r.case.label: r for r in results}
    print()
    print("req/s, p50 and p99: the median round; requests and non-2xx (or socket errors): all rounds.")
    print("app CPU: the gunicorn workers; db CPU: the server's PostgreSQL backends (median round).")
    print("TrainHub/minimal: median over rounds of TrainHub's req/s (same method) over this row's.")
    print("By server CPU per request (app + db; what bounds req/s when the cores are saturated):")
    for trainhub, minimal in ((TRAINHUB_POST, MINIMAL_POST), (TRAINHUB_POST, MINIMAL_POST_SEND),
                              (TRAINHUB_GET, MINIMAL_GET)):
        t, m = by_label[trainhub], by_label[minimal]
        print(f"  {trainhub:30s} {t.app_ms + t.db_ms:6.2f} ms  vs  {minimal:42s} "
              f"{m.app_ms + m.db_ms:6.2f} ms  ->  {(m.app_ms + m.db_ms) / (t.app_ms + t.db_ms):.2f}")
    other = sum(r.other_cpu_s for res in results for r in res.rounds)
    measured = sum(r.load.seconds for res in results for r in res.rounds)
    print(f"Everything else (Redis, PostgreSQL's background processes, other programs) used "
          f"{other / measured / (os.cpu_count() or 1):.0%} of the machine's CPU while measuring.")
    noisy = [r for r in results if r.noisy]
    if noisy:
        print(f"! noisy: req/s varied by more than {1 - NOISY_SPREAD:.0%} between rounds of "
              f"{len(noisy)} case(s) (load average now {os.getloadavg()[0]:.2f}); trust the CPU "
              f"columns and ratios more than the rates, or rerun on a quiet machine.")
    for result in results:
        if result.failures:
            print(f"! {result.case.server} {result.case.label}: {result.failures} answers without "
                  f"the expected {result.case.spec.expected_status}, or socket errors")


if __name__ == "__main__":
    sys.exit(main())
