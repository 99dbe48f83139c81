"""Job throughput: training jobs through API, queue, worker and database vs a plain loop.

Runs ``--jobs`` (default 200) one-year demo forecast jobs (forecast_basic, the seed's
config defaults: horizon 24, validation 0.2, test 0.1, early stopping 10) two ways:

  orchestrated  POSTed to /ai/training/jobs/start of ``gunicorn -w 2`` by a few client
                threads as fast as the API takes them, run by ONE worker
                (``trainhub worker --concurrency 2``): claim, experiment, feature
                load by COPY, pipeline, artifact, registry, metric and log writes.
                Wall time runs from the first submit to the last ``completed_at``;
                completion is watched by polling PostgreSQL directly (never the API,
                so gunicorn is idle once the last job is submitted). Submit→running
                is ``started_at - created_at`` of each job row.
  plain loop    the same pipeline (``trainhub.pipeline.train_model`` + ``save_artifact``
                to a temp dir) on the same one-year frame, generated once up front, in
                2 forked processes taking run numbers from a shared counter: no API,
                queue or database.

The two paths run in interleaved rounds: plain, then ``--rounds`` times (orchestrated
batch, plain). Each orchestrated batch is compared with the mean of the plain runs just
before and after it, seconds apart, and the median of those round ratios is the result:
on a shared 2-core machine the speed of the plain loop alone drifts by 20 % or more
between runs, which one orchestrated run against one baseline cannot tell from the
cost of orchestration. Before the first batch, ``--warmup`` jobs go through the
orchestrated path one at a time (each waited for): they warm the pool processes and
give submit→running on an idle worker.

Beside the table it prints, per job, where the wall time goes (LightGBM fit, the rest
of the run, the pool slot's idle gap between jobs) and the CPU time of every process
involved, read from /proc: worker pool and main process, gunicorn, the scratch
database's PostgreSQL backends, Redis, this script, and everything else on the machine.
On 2 shared cores the orchestrated path is CPU-bound, so the CPU table says what the
ratio costs, and the "other processes" row says whether someone else disturbed the run.

All jobs use the seed's one model name by default, so every job registers a new version
of one model; ``--model-names distinct`` gives each job its own name.

Self-contained: creates a scratch database ``bench_<random>`` on the server of
TRAINHUB_DATABASE_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres),
migrates it, creates a tenant and key, pre-generates the tenant's forecast_basic rows
(so generation is not on the clock), and uses the Redis of TRAINHUB_REDIS_URL (default
redis://127.0.0.1:6379/11) with queues ``bench-<random>`` / ``bench-maint-<random>``. On exit, also on Ctrl-C, SIGTERM
or an error, it stops gunicorn and the worker, deletes the queues' Redis keys, drops
the database and removes its temp dir.

Run from the repository root:

    .venv/bin/python bench/job_throughput.py [--jobs 200] [--rounds 3] [--concurrency 2] [--clients 4]

Target (the issue): orchestrated jobs/s at least 0.7 of the plain loop's (the median
round). Exits 0 when every job completed and the target is met, 1 otherwise, 130 when
interrupted.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:0] = [str(ROOT), str(BENCH_DIR)]

from _common import (  # noqa: E402
    ManagedProcess, cpu_model, create_database, drop_database, format_table, free_port, percentile,
    start_process, stopping,
)

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
HOST = "127.0.0.1"
GUNICORN_WORKERS = 2
TARGET_RATIO = 0.7
TENANT = "tenant-123"
FEATURE_SET = "forecast_basic"
TERMINAL = ("completed", "failed", "cancelled")
# Completion time comes from completed_at, not from when a poll saw it, so polling can be
# sparse: every poll costs CPU on the same 2 cores the jobs run on.
POLL_SECONDS = 0.2

# Same config the seed's example request sends, over one whole year; every other
# field takes the schema's default (early_stopping_rounds 10, no HPO, default LightGBM).
HORIZON, VALIDATION_SPLIT, TEST_SPLIT, EARLY_STOPPING = 24, 0.2, 0.1, 10


def job_body(start: datetime, end: datetime, model_name: str) -> dict:
    return {
        "tenant_id": TENANT,
        "model_type": "forecast",
        "model_name": model_name,
        "config": {
            "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_date": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "feature_set": FEATURE_SET,
            "target_variable": "load_kw",
            "horizon": HORIZON,
            "enable_hpo": False,
            "validation_split": VALIDATION_SPLIT,
            "test_split": TEST_SPLIT,
        },
        "priority": "normal",
    }


# --- plain loop --------------------------------------------------------------------

@dataclass
class PlainResult:
    jobs: int
    wall: float
    run_seconds: list[float]  # train_model + save_artifact, per run
    fit_seconds: list[float]  # training_time_seconds as the pipeline reports it
    save_seconds: list[float]
    cpu: float = 0.0  # CPU seconds of the pipeline processes on the clock
    machine: float = 0.0  # busy CPU seconds of the whole machine meanwhile

    @property
    def rate(self) -> float:
        return self.jobs / self.wall


def _plain_child(frame, n_jobs, num_threads, counter, barrier, out_dir, results) -> None:
    from trainhub.pipeline import PipelineHooks, save_artifact, train_model

    def one(path: Path | None):
        began = time.perf_counter()
        result = train_model(
            frame, model_type="forecast", target="load_kw", horizon=HORIZON,
            validation_split=VALIDATION_SPLIT, test_split=TEST_SPLIT, hyperparameters={},
            early_stopping_rounds=EARLY_STOPPING, num_threads=num_threads, hooks=PipelineHooks(),
        )
        fitted = time.perf_counter()
        if path is not None:
            save_artifact(result, path, metadata={"rows": len(frame), "run": path.stem})
        done = time.perf_counter()
        return done - began, result.metrics["training_time_seconds"], done - fitted

    one(Path(out_dir) / f"warmup-{os.getpid()}.joblib")  # first fit of this process: off the clock
    mine = []
    barrier.wait()
    cpu = time.process_time()
    while True:
        with counter.get_lock():
            n = counter.value
            counter.value += 1
        if n >= n_jobs:
            break
        mine.append(one(Path(out_dir) / f"{n}.joblib"))
    results.put((time.time(), mine, time.process_time() - cpu))


def run_plain(frame, *, n_jobs: int, processes: int, num_threads: int, work_dir: Path) -> PlainResult:
    """`processes` forked processes share a counter of runs; each trains and saves the
    artifact of the next run until `n_jobs` ran. The clock starts when every process
    has done one warm-up run and ends when the last run is saved."""
    ctx = multiprocessing.get_context("fork")
    out_dir = Path(tempfile.mkdtemp(prefix="plain-", dir=work_dir))
    counter, barrier, results = ctx.Value("i", 0), ctx.Barrier(processes + 1), ctx.Queue()
    children = [ctx.Process(target=_plain_child, daemon=True,
                            args=(frame, n_jobs, num_threads, counter, barrier, out_dir, results))
                for _ in range(processes)]
    try:
        for child in children:
            child.start()
        barrier.wait(timeout=120)
        began, machine = time.time(), _machine_busy()
        ended, runs, cpu = began, [], 0.0
        for _ in children:
            finished, mine, used = results.get(timeout=3600)
            ended, runs, cpu = max(ended, finished), runs + mine, cpu + used
        machine = _machine_busy() - machine
        for child in children:
            child.join(10)
    finally:
        for child in children:
            if child.is_alive():
                child.kill()
        shutil.rmtree(out_dir, ignore_errors=True)
    if len(runs) != n_jobs:
        raise RuntimeError(f"plain loop ran {len(runs)} of {n_jobs} runs")
    return PlainResult(n_jobs, ended - began, [r[0] for r in runs], [r[1] for r in runs],
                       [r[2] for r in runs], cpu, machine)


# --- scratch database, servers -------------------------------------------------------

@dataclass(frozen=True)
class Scratch:
    tag: str
    database_url: str
    redis_url: str
    queue: str
    maintenance_queue: str
    state_dir: Path
    api_key: str = ""


def _prepare(s: Scratch, frame, start: datetime, end: datetime) -> tuple[Scratch, float]:
    from trainhub.db import session_scope
    from trainhub.features import ensure_demo_feature_set, get_feature_set, load_frame
    from trainhub.migrations import migrate
    from trainhub.tenants import create_tenant

    migrate(s.database_url)
    with session_scope(s.database_url) as session:
        issued = create_tenant(session, tenant_id=TENANT)
    began = time.perf_counter()
    with session_scope(s.database_url) as session:
        ensure_demo_feature_set(session, tenant_id=TENANT, name=FEATURE_SET)
    generated = time.perf_counter() - began
    with session_scope(s.database_url) as session:
        feature_set = get_feature_set(session, tenant_id=TENANT, name=FEATURE_SET)
        stored = load_frame(session, feature_set=feature_set, start=start, end=end)
    # Both paths must train on the same rows, or the ratio compares different work.
    if stored.shape != frame.shape or not (stored["load_kw"].to_numpy() == frame["load_kw"].to_numpy()).all():
        raise RuntimeError(f"the stored window differs from the generated frame: {stored.shape} vs {frame.shape}")
    return Scratch(**{**s.__dict__, "api_key": issued.api_key}), generated


def _cleanup(s: Scratch) -> None:
    """Best effort, each step on its own, so one failure does not skip the rest."""
    with contextlib.suppress(Exception):
        from trainhub.db import get_engine
        get_engine(s.database_url).dispose()
    try:
        import redis
        client = redis.Redis.from_url(s.redis_url)
        keys = list(client.scan_iter(match=f"*{s.tag}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except Exception as exc:  # noqa: BLE001 - report and go on dropping the database
        print(f"could not delete Redis keys of {s.queue}: {exc}", file=sys.stderr)
    try:
        drop_database(s.database_url)
    except Exception as exc:  # noqa: BLE001
        print(f"could not drop {make_url(s.database_url).database}: {exc}", file=sys.stderr)
    shutil.rmtree(s.state_dir, ignore_errors=True)


def _env(s: Scratch) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINHUB_")}
    env.update(TRAINHUB_DATABASE_URL=s.database_url, TRAINHUB_REDIS_URL=s.redis_url,
               TRAINHUB_TRAINING_QUEUE=s.queue, TRAINHUB_MAINTENANCE_QUEUE=s.maintenance_queue,
               TRAINHUB_STATE_DIR=str(s.state_dir), PYTHONUNBUFFERED="1")
    return env


def _start_worker(s: Scratch, concurrency: int, log_dir: Path, timeout: float = 90) -> ManagedProcess:
    """One worker; ready once its bootstep has heartbeated a row into ai_workers,
    which it does only after the consumer takes messages."""
    log_path = log_dir / "worker.log"
    with open(log_path, "wb") as log_file:
        popen = subprocess.Popen(
            [sys.executable, "-m", "trainhub", "worker", "--concurrency", str(concurrency),
             "--hostname", "bench@%h"],
            env=_env(s), cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    proc = ManagedProcess("worker", popen, log_path)
    from trainhub.db import get_engine
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"worker exited with {popen.returncode}:\n{proc.log_tail()}")
        with get_engine(s.database_url).connect() as conn:
            if conn.execute(sa.text("SELECT count(*) FROM ai_workers WHERE worker_id LIKE 'bench@%'")).scalar():
                return proc
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"worker did not heartbeat within {timeout}s:\n{proc.log_tail()}")
        time.sleep(0.2)


# --- CPU accounting ------------------------------------------------------------------
# Wall time on 2 shared cores is noisy; CPU seconds per job by process group show where
# the orchestrated path spends what the plain loop does not. Read from /proc (Linux).

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[int, list[str]] | None:
    """(ppid, fields after the command) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), fields


def _cpu_of(fields: list[str], with_children: bool = True) -> float:
    # utime, stime, cutime, cstime are fields 14-17 of stat; here indices 11-14. Children
    # reaped by a process in the group count through its cutime/cstime, so a pooled
    # connection or pool child that exits mid-window is not lost.
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds of each process group between two snapshots, plus the machine total."""

    def __init__(self, groups: dict[str, "callable"]) -> None:
        self.groups = groups  # name -> predicate(pid, ppid, cmdline) -> True | "self" | False

    def snapshot(self) -> dict[str, float]:
        totals = {name: 0.0 for name in self.groups}
        procs = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _proc_stat(int(entry))
                if stat is not None:
                    procs[int(entry)] = stat
        for pid, (ppid, fields) in procs.items():
            cmd = None
            for name, wanted in self.groups.items():
                if cmd is None:
                    cmd = _cmdline(pid)
                verdict = wanted(pid, ppid, cmd)
                if verdict:
                    # "self": not what it reaped (a postmaster reaps every database's backends).
                    totals[name] += _cpu_of(fields, with_children=verdict is True and pid != os.getpid())
                    break
        totals["machine"] = _machine_busy()
        return totals

    @staticmethod
    def diff(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        return {k: after[k] - before.get(k, 0.0) for k in after}


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all but idle and iowait; steal included,
    since another VM's use of our cores is time we could not run)."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (parts + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / _TICK


_CLIENT_BACKEND = re.compile(r"\(\d+\)|\[local\]")


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def make_cpu_meter(s: Scratch, gunicorn_pid: int, worker_pid: int) -> CpuMeter:
    from trainhub.db import get_engine
    import redis

    with get_engine(s.database_url).connect() as conn:
        backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    postmaster = (_proc_stat(backend) or (0, []))[0]
    client = redis.Redis.from_url(s.redis_url)
    redis_pid = int(client.info("server")["process_id"])
    client.close()
    database = make_url(s.database_url).database
    gunicorn = _descendants(gunicorn_pid)
    me = os.getpid()
    return CpuMeter({
        # Pool children run the jobs; the main process consumes, acks and heartbeats.
        "worker pool processes (run the jobs)": lambda pid, ppid, cmd: ppid == worker_pid,
        "worker main process (Celery consumer, heartbeat)": lambda pid, ppid, cmd: pid == worker_pid,
        "gunicorn (master + 2 workers)": lambda pid, ppid, cmd: pid in gunicorn,
        f"PostgreSQL backends of {database}": lambda pid, ppid, cmd: ppid == postmaster and f" {database} " in cmd,
        # Backends of other databases belong to other users of the server: not ours.
        "PostgreSQL shared (postmaster, WAL writer, checkpointer, ...)": (
            lambda pid, ppid, cmd: "self" if pid == postmaster or (
                ppid == postmaster and not _CLIENT_BACKEND.search(cmd)) else False),
        "Redis": lambda pid, ppid, cmd: pid == redis_pid,
        "this bench (HTTP clients, DB polling)": lambda pid, ppid, cmd: pid == me,
    })


# --- orchestrated run ---------------------------------------------------------------

@dataclass
class JobRow:
    job_id: str
    status: str
    created: float
    started: float | None
    completed: float | None
    fit_seconds: float | None
    error: str | None


@dataclass
class OrchestratedResult:
    jobs: int
    first_submit: float
    last_submit: float
    submit_latencies: list[float]
    rows: list[JobRow] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process group

    @property
    def last_completed(self) -> float:
        return max(r.completed for r in self.rows if r.completed is not None)

    @property
    def wall(self) -> float:
        return self.last_completed - self.first_submit

    @property
    def rate(self) -> float:
        """Jobs completed per second: a failed job is not throughput."""
        return self.completed / self.wall

    @property
    def completed(self) -> int:
        return sum(r.status == "completed" for r in self.rows)

    def queue_latencies(self) -> list[float]:
        return [r.started - r.created for r in self.rows if r.started is not None]

    def run_seconds(self) -> list[float]:
        return [r.completed - r.started for r in self.rows if r.started and r.completed]


class Submitter:
    """POSTs job bodies over one keep-alive connection per client thread."""

    def __init__(self, port: int, api_key: str) -> None:
        self.port = port
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
        self._local = threading.local()

    def submit(self, body: dict) -> tuple[str, float]:
        payload = json.dumps(body)
        for attempt in range(2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            began = time.perf_counter()
            try:
                conn.request("POST", "/ai/training/jobs/start", body=payload, headers=self.headers)
                resp = conn.getresponse()
                text = resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
                continue
            if resp.status != 201:
                raise RuntimeError(f"POST /jobs/start answered {resp.status}: {text[:500]!r}")
            return json.loads(text)["job_id"], time.perf_counter() - began
        raise AssertionError("unreachable")


def _fetch_rows(database_url: str, ids: list[str]) -> list[JobRow]:
    from trainhub.db import get_engine
    with get_engine(database_url).connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT job_id::text, status, extract(epoch FROM created_at) AS created, "
            "extract(epoch FROM started_at) AS started, extract(epoch FROM completed_at) AS completed, "
            "(metrics->>'training_time_seconds')::float AS fit, error_message "
            "FROM ai_training_jobs WHERE job_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids}).all()
    return [JobRow(r.job_id, r.status, float(r.created), _f(r.started), _f(r.completed), r.fit,
                   r.error_message) for r in rows]


def _f(value) -> float | None:
    return None if value is None else float(value)


def _wait_terminal(database_url: str, ids: list[str], timeout: float) -> None:
    """Poll PostgreSQL (not the API) until every job has ended."""
    from trainhub.db import get_engine
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT count(*) FROM ai_training_jobs WHERE job_id = ANY(CAST(:ids AS uuid[])) "
                    "AND status IN ('completed', 'failed', 'cancelled')")
    with get_engine(database_url).connect() as conn:
        while True:
            done = conn.execute(query, {"ids": ids}).scalar()
            conn.commit()  # end the snapshot so the next poll sees new commits
            if done == len(ids):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {len(ids)} jobs ended within {timeout:.0f}s")
            time.sleep(POLL_SECONDS)


def run_warmup(s: Scratch, submitter: Submitter, bodies: list[dict], timeout: float) -> list[JobRow]:
    """One job at a time on an idle worker: warms every pool process and measures
    submit→running without a backlog."""
    ids = []
    for body in bodies:
        job_id, _ = submitter.submit(body)
        _wait_terminal(s.database_url, [job_id], timeout)
        ids.append(job_id)
    return _fetch_rows(s.database_url, ids)


def run_orchestrated(s: Scratch, submitter: Submitter, bodies: list[dict], clients: int,
                     timeout: float, meter: CpuMeter) -> OrchestratedResult:
    latencies: list[float] = []
    ids: list[str] = []
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda _: None, range(clients)))  # threads exist before the clock starts
        cpu = meter.snapshot()
        first = time.time()
        for job_id, latency in pool.map(submitter.submit, bodies):
            ids.append(job_id)
            latencies.append(latency)
        last = time.time()
    _wait_terminal(s.database_url, ids, timeout)
    cpu = CpuMeter.diff(cpu, meter.snapshot())
    result = OrchestratedResult(len(bodies), first, last, latencies, cpu=cpu)
    result.rows = _fetch_rows(s.database_url, ids)
    return result


def slot_gaps(rows: list[JobRow], slots: int) -> list[float]:
    """Idle time of a pool slot between finishing one job and starting its next,
    rebuilt from the rows: each start goes to the slot that freed up last before it.
    This is the per-job dispatch overhead outside the runner (ack, Celery, fetch)."""
    free_at: list[float] = []
    gaps = []
    for row in sorted((r for r in rows if r.started and r.completed), key=lambda r: r.started):
        ready = [t for t in free_at if t <= row.started]
        if ready and len(free_at) >= slots:
            latest = max(ready)
            free_at.remove(latest)
            gaps.append(row.started - latest)
        elif len(free_at) >= slots:
            free_at.remove(min(free_at))  # overlapping clocks; should not happen
        free_at.append(row.completed)
    return gaps


# --- output -------------------------------------------------------------------------

def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def _round_ratios(plains: list[PlainResult], orchs: list[OrchestratedResult]) -> list[float]:
    """Each batch against the mean rate of the plain runs just before and after it."""
    return [o.rate / _mean([plains[i].rate, plains[i + 1].rate]) for i, o in enumerate(orchs)]


def _idle_api_rate(orch: OrchestratedResult) -> float | None:
    """Jobs/s completed after the last submit, when the API is idle (completion is
    polled from PostgreSQL)."""
    after = sorted(r.completed for r in orch.rows if r.status == "completed" and r.completed > orch.last_submit)
    return (len(after) - 1) / (after[-1] - after[0]) if len(after) >= 2 else None


def print_report(args, plains: list[PlainResult], orchs: list[OrchestratedResult], warm: list[JobRow],
                 cores: int) -> float:
    ratios = _round_ratios(plains, orchs)
    ratio = statistics.median(ratios)
    rows = []
    for n, (orch, round_ratio) in enumerate(zip(orchs, ratios), 1):
        queue = orch.queue_latencies()
        rows.append([f"orchestrated, round {n} (API + Redis + 1 worker + PostgreSQL)", orch.completed,
                     f"{orch.wall:.2f}", f"{orch.rate:.2f}", _ms(percentile(queue, 50)),
                     _ms(percentile(queue, 99)), f"{round_ratio:.2f}"])
    for n, p in enumerate(plains):
        rows.append([f"plain loop #{n} ({args.concurrency} forked processes)", p.jobs, f"{p.wall:.2f}",
                     f"{p.rate:.2f}", "", "", ""])
    print()
    print(format_table(["path", "jobs done", "wall s", "jobs/s", "submit→running p50 ms", "p99 ms",
                        "orchestrated / mean of the plain runs around it"], rows, align="lrrrrrr"))
    completed = all(o.completed == o.jobs for o in orchs)
    verdict = "meets" if ratio >= TARGET_RATIO and completed else "MISSES"
    print(f"\norchestrated / plain = {ratio:.2f}, the median of {len(ratios)} rounds "
          f"({', '.join(f'{r:.2f}' for r in ratios)}); {verdict} the target of {TARGET_RATIO}")
    idle = [(rate, _mean([plains[i].rate, plains[i + 1].rate]))
            for i, rate in enumerate(_idle_api_rate(o) for o in orchs) if rate is not None]
    if idle:
        print(f"after each batch's last submit (gunicorn idle): median "
              f"{statistics.median(r / base for r, base in idle):.2f} of plain "
              f"({', '.join(f'{r:.2f} jobs/s' for r, _ in idle)})")
    for orch in orchs:
        failed = [r for r in orch.rows if r.status != "completed"]
        if failed:
            print(f"! {len(failed)} of {orch.jobs} jobs did not complete; first error: "
                  f"{next((r.error for r in failed if r.error), '?')}")

    # Per job, over every round: where the time and the CPU go.
    jobs = sum(o.jobs for o in orchs)
    orch_wall = sum(o.wall for o in orchs)
    all_rows = [r for o in orchs for r in o.rows]
    run = [r.completed - r.started for r in all_rows if r.started and r.completed]
    fits = [r.fit_seconds for r in all_rows if r.fit_seconds is not None]
    gaps = [g for o in orchs for g in slot_gaps(o.rows, args.concurrency)]
    plain_jobs = sum(p.jobs for p in plains)
    plain_wall = sum(p.wall for p in plains)
    plain_run = _mean([x for p in plains for x in p.run_seconds])
    plain_fit = _mean([x for p in plains for x in p.fit_seconds])
    plain_save = _mean([x for p in plains for x in p.save_seconds])
    print(f"\nper job, wall clock (ms, mean over all {len(plains)} plain runs and {len(orchs)} batches)")
    print(format_table(
        ["", "plain loop", "orchestrated"],
        [
            ["LightGBM fit (training_time_seconds)", _ms(plain_fit), _ms(_mean(fits))],
            ["rest of the run (plain: features, split, evaluate, save; orch.: runner around it)",
             _ms(plain_run - plain_fit), _ms(_mean(run) - _mean(fits))],
            ["  of which save_artifact", _ms(plain_save), ""],
            ["run (orch.: started_at → completed_at)", _ms(plain_run), _ms(_mean(run))],
            ["slot idle between runs (orch.: completed_at → next started_at, p50)", "",
             _ms(percentile(gaps, 50))],
            [f"wall / jobs x {args.concurrency} slots", _ms(plain_wall / plain_jobs * args.concurrency),
             _ms(orch_wall / jobs * args.concurrency)],
        ], align="lrr"))

    cpu: dict[str, float] = {}
    for orch in orchs:
        for name, seconds in orch.cpu.items():
            cpu[name] = cpu.get(name, 0.0) + seconds
    busy_orch = cpu.pop("machine", 0.0)
    ours = sum(cpu.values())
    plain_cpu = sum(p.cpu for p in plains) / plain_jobs
    plain_other = sum(max(0.0, p.machine - p.cpu) for p in plains) / plain_jobs
    cpu_rows = [[name, "", _ms(seconds / jobs)] for name, seconds in cpu.items()]
    cpu_rows[0][1] = _ms(plain_cpu)  # the pool processes are the plain loop's processes
    cpu_rows += [
        ["sum of the above", _ms(plain_cpu), _ms(ours / jobs)],
        ["other processes on the machine (not this bench)", _ms(plain_other),
         _ms(max(0.0, busy_orch - ours) / jobs)],
        [f"capacity: {cores} cores x wall / jobs", _ms(cores * plain_wall / plain_jobs),
         _ms(cores * orch_wall / jobs)],
    ]
    print("\nper job, CPU time by process (ms)")
    print(format_table(["", "plain loop", "orchestrated"], cpu_rows, align="lrr"))

    latencies = [x for o in orchs for x in o.submit_latencies]
    submit_seconds = _mean([o.last_submit - o.first_submit for o in orchs])
    print(f"\nsubmissions: {args.jobs} POSTs per batch in {submit_seconds:.2f} s (mean) by {args.clients} "
          f"client threads, POST latency p50 {_ms(percentile(latencies, 50))} ms, "
          f"p99 {_ms(percentile(latencies, 99))} ms; jobs run meanwhile, so a batch's "
          "submit→running is mostly queue wait behind the 2 slots")
    idle_q = [r.started - r.created for r in warm if r.started]
    if idle_q:
        print(f"submit→running on an idle worker ({len(idle_q)} warm-up jobs, one at a time): "
              f"p50 {_ms(percentile(idle_q, 50))} ms, max {_ms(max(idle_q))} ms")
    spread = min(p.rate for p in plains) / max(p.rate for p in plains)
    if spread < 0.85:
        print(f"! noisy: the plain loop's runs differ by up to {1 - spread:.0%}; other processes were busy "
              f"(see 'other processes' above). The median round and the CPU table are the steadier numbers.")
    return ratio


def print_environment(args, s: Scratch, cores: int, num_threads: int, start: datetime, end: datetime,
                      rows: int, generated: float) -> None:
    from trainhub.db import get_engine
    import celery
    import gunicorn
    import lightgbm
    import redis

    with get_engine(s.database_url).connect() as conn:
        pg_version = conn.execute(sa.text("SHOW server_version")).scalar()
    client = redis.Redis.from_url(s.redis_url)
    redis_version = client.info("server")["redis_version"]
    client.close()
    load1, load5, _ = os.getloadavg()
    facts = [
        ("cores", f"{cores} ({cpu_model()}), shared by everything below"),
        ("load average", f"{load1:.2f} (1 min), {load5:.2f} (5 min) before the run"),
        ("jobs", f"{args.jobs} forecast jobs on {FEATURE_SET} [{start:%Y-%m-%d}, {end:%Y-%m-%d}) "
                 f"= {rows} hourly rows, horizon {HORIZON}, split {VALIDATION_SPLIT}/{TEST_SPLIT}, "
                 f"early stopping {EARLY_STOPPING}, model name(s) {args.model_names}"),
        ("worker", f"1 x `trainhub worker --concurrency {args.concurrency}` (Celery {celery.__version__} "
                   f"prefork), LightGBM {lightgbm.__version__} num_threads {num_threads}"),
        ("API", f"gunicorn {gunicorn.__version__} -w {GUNICORN_WORKERS} sync; {args.clients} client "
                f"threads submit; completion polled from PostgreSQL every {POLL_SECONDS * 1000:.0f} ms"),
        ("plain loop", f"{args.concurrency} forked processes, num_threads {num_threads}, "
                       f"train_model + save_artifact per run"),
        ("rounds", f"plain, then {args.rounds} x (orchestrated batch, plain); each batch against the "
                   f"mean of the plain runs around it, median of the rounds"),
        ("warm-up", f"{args.warmup} orchestrated jobs one at a time before the first batch; "
                    f"plain processes fit once before the clock starts"),
        ("PostgreSQL", f"{pg_version} (scratch db {make_url(s.database_url).database}; demo rows "
                       f"generated in {generated:.1f} s, off the clock)"),
        ("Redis", f"{redis_version} at {s.redis_url}, queue {s.queue}"),
        ("Python", platform.python_version()),
    ]
    width = max(len(k) for k, _ in facts)
    print("Job throughput: orchestrated training jobs vs the same pipeline in a plain loop")
    for key, value in facts:
        print(f"  {key.ljust(width)}  {value}")
    sys.stdout.flush()


# --- main ---------------------------------------------------------------------------

def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobs per orchestrated batch and per plain run")
    parser.add_argument("--rounds", type=int, default=3, help="orchestrated batches, each followed by a plain run")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool slots = plain processes")
    parser.add_argument("--clients", type=int, default=4, help="client threads submitting jobs")
    parser.add_argument("--warmup", type=int, default=10, help="orchestrated jobs run one at a time first")
    parser.add_argument("--start", default="2025-01-01", help="first day of the one-year window")
    parser.add_argument("--model-names", choices=("same", "distinct"), default="same",
                        help="one model name for all jobs (the seed's), or one per job")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the batch")
    parser.add_argument("--keep-logs", action="store_true", help="keep the server logs after the run")
    return parser.parse_args()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = _parse_args()
    # A plain `kill`, or SIGINT even where a shell started us with it ignored, cleans up
    # the way Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    start = datetime.fromisoformat(args.start).replace(tzinfo=timezone.utc)
    end = start.replace(year=start.year + 1)
    cores = os.cpu_count() or 1
    num_threads = max(1, cores // args.concurrency)  # what the worker's bootstep sets

    from trainhub.demo_data import generate_demo_frame
    frame = generate_demo_frame(FEATURE_SET, start, end)

    tag = uuid.uuid4().hex[:8]
    server_url = os.environ.get("TRAINHUB_DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("TRAINHUB_REDIS_URL") or DEFAULT_REDIS_URL
    work_dir = Path(tempfile.mkdtemp(prefix=f"bench-jobs-{tag}-"))
    log_dir = work_dir / "logs"
    log_dir.mkdir()
    scratch = Scratch(tag, "", redis_url, f"bench-{tag}", f"bench-maint-{tag}", work_dir / "state")
    try:
        scratch = Scratch(**{**scratch.__dict__,
                             "database_url": create_database(server_url, f"bench_{tag}")})
        scratch, generated = _prepare(scratch, frame, start, end)
        with stopping([]) as procs:
            port = free_port()
            procs.append(start_process(
                "gunicorn", [sys.executable, "-m", "gunicorn", "-w", str(GUNICORN_WORKERS),
                             "-b", f"{HOST}:{port}", "api:create_app()"],
                port=port, env=_env(scratch), cwd=ROOT, log_dir=log_dir, ready_path="/readyz", timeout=60))
            procs.append(_start_worker(scratch, args.concurrency, log_dir))
            print_environment(args, scratch, cores, num_threads, start, end, len(frame), generated)

            def plain_run(n: int) -> PlainResult:
                result = run_plain(frame, n_jobs=args.jobs, processes=args.concurrency,
                                   num_threads=num_threads, work_dir=work_dir)
                print(f"  plain loop #{n}: {result.rate:.2f} jobs/s", file=sys.stderr)
                return result

            plains = [plain_run(0)]
            submitter = Submitter(port, scratch.api_key)
            name = lambda i: "load_forecast" if args.model_names == "same" else f"load_forecast_{i}"  # noqa: E731
            warm = run_warmup(scratch, submitter, [job_body(start, end, name(f"w{i}")) for i in range(args.warmup)],
                              timeout=120)
            meter = make_cpu_meter(scratch, procs[0].pid, procs[1].pid)
            orchs = []
            for n in range(1, args.rounds + 1):
                bodies = [job_body(start, end, name(f"{n}-{i}")) for i in range(args.jobs)]
                orchs.append(run_orchestrated(scratch, submitter, bodies, args.clients, args.timeout, meter))
                print(f"  orchestrated, round {n}: {orchs[-1].rate:.2f} jobs/s", file=sys.stderr)
                plains.append(plain_run(n))
        ratio = print_report(args, plains, orchs, warm, cores)
        return 0 if all(o.completed == args.jobs for o in orchs) and ratio >= TARGET_RATIO else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if scratch.database_url:
            _cleanup(scratch)
        if args.keep_logs:
            print(f"(server logs: {log_dir})", file=sys.stderr)
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
