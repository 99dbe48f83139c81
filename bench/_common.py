"""Helpers shared by the bench scripts: ports, managed server processes, an HTTP load
generator (wrk when installed, a Python fallback otherwise), per-process CPU accounting
from /proc (which, unlike req/s, does not care what else the machine is doing),
percentiles and tables.

Nothing here knows about TrainHub; a bench script composes these pieces.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path


# --- ports and processes -------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the usual bind-to-0 trick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class ManagedProcess:
    """A child process in its own session (so a terminal's Ctrl-C reaches only the
    bench script, which then stops it in order), with its output in a log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Send ``stop_signal`` (a gunicorn master then stops its workers), and SIGKILL
        to the process group if that does not end it within ``timeout``."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(self.stop_signal)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def start_process(
    name: str,
    cmd: Sequence[str],
    *,
    port: int,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    log_dir: str | Path | None = None,
    ready_path: str | None = None,
    timeout: float = 30.0,
    stop_signal: int = signal.SIGTERM,
) -> ManagedProcess:
    """Start ``cmd`` and return once ``host:port`` accepts connections (and, with
    ``ready_path``, once a GET of it answers 2xx). Raises with the log tail when the
    process exits or the deadline passes first. :meth:`ManagedProcess.stop` sends
    ``stop_signal`` (gunicorn: SIGTERM waits for requests in flight, SIGINT does not)."""
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="bench-logs-"))
    log_path = log_dir / f"{name}.log"
    log_file = open(log_path, "wb")  # noqa: SIM115 - the child keeps writing to it
    try:
        popen = subprocess.Popen(
            list(cmd), env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    finally:
        log_file.close()
    proc = ManagedProcess(name, popen, log_path, stop_signal)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if popen.poll() is not None:
            raise RuntimeError(f"{name} exited with {popen.returncode}:\n{proc.log_tail()}")
        if port_answers(host, port) and (ready_path is None or _http_ok(host, port, ready_path)):
            return proc
        if time.monotonic() > deadline:
            proc.stop()
            raise RuntimeError(f"{name} did not answer on {host}:{port} within {timeout}s:\n"
                               f"{proc.log_tail()}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _http_ok(host: str, port: int, path: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


# --- CPU accounting (Linux /proc) ----------------------------------------------------

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int | str) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may hold spaces: split after it.
    return raw.rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(entry)):
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (0.0 once it is gone)."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS if fields else 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle since boot (from /proc/stat)."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, stat.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _CLOCK_TICKS


class CpuMeter:
    """CPU seconds used by a changing set of processes (``pids()`` is asked at start and
    at stop) between :meth:`start` and :meth:`stop`. A process that starts in between
    counts from zero; one that ends in between is missed."""

    def __init__(self, pids):
        self._pids = pids
        self._base: dict[int, float] = {}

    def start(self) -> None:
        self._base = {pid: cpu_seconds(pid) for pid in self._pids()}

    def stop(self) -> float:
        return sum(max(0.0, cpu_seconds(pid) - self._base.get(pid, 0.0)) for pid in self._pids())


def children_cpu_seconds() -> float:
    """CPU time of this process's waited-for children (e.g. a finished wrk run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- statistics and output -----------------------------------------------------------

def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of unsorted values; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]],
                 align: str | None = None) -> str:
    """A plain-text table; ``align`` is one of 'l'/'r' per column (default: first
    column left, the rest right). Floats are printed as given; format them first."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for raw in Path("/proc/cpuinfo").read_text().splitlines():
            if raw.startswith("model name"):
                return raw.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# --- HTTP load -----------------------------------------------------------------------

@dataclass(frozen=True)
class LoadSpec:
    """One kind of request, sent over and over. With several paths the generator
    cycles through them (each connection starting at a different offset)."""

    method: str
    paths: Sequence[str]
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    expected_status: int = 200


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    unexpected: int  # answered, but not with the expected status
    socket_errors: int  # connect/read/write errors and timeouts
    client_cpu_s: float = 0.0  # CPU the load generator itself used

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadGenerator:
    """Sends a :class:`LoadSpec` at ``host:port`` over ``connections`` keep-alive
    connections for ``duration`` seconds. Uses wrk when it is on PATH (its latency
    histogram and a Lua script for method, body and headers), else a threaded Python
    client, which is much slower: compare only numbers taken with the same one."""

    def __init__(self, *, connections: int = 8, threads: int = 1, force_python: bool = False):
        self.connections = connections
        self.threads = threads
        self.wrk = None if force_python else shutil.which("wrk")
        self._why_python = "forced" if force_python else "wrk not found"

    @property
    def description(self) -> str:
        if self.wrk:
            return f"{self.version} ({self.threads} thread, {self.connections} keep-alive connections)"
        return f"{self.version} ({self.connections} threads, one keep-alive connection each)"

    @property
    def version(self) -> str:
        if not self.wrk:
            return f"Python http.client ({self._why_python}) on Python {platform.python_version()}"
        out = subprocess.run([self.wrk, "--version"], capture_output=True, text=True)
        first = (out.stdout or out.stderr).splitlines()[0]
        return " ".join(first.split()[:2])

    def run(self, host: str, port: int, spec: LoadSpec, duration: float) -> LoadResult:
        if self.wrk:
            return self._run_wrk(host, port, spec, duration)
        return _python_load(host, port, spec, duration, self.connections)

    # wrk ----------------------------------------------------------------------------

    def _run_wrk(self, host: str, port: int, spec: LoadSpec, duration: float) -> LoadResult:
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(_wrk_script(spec))
        cpu_before = children_cpu_seconds()
        try:
            out = subprocess.run(
                [self.wrk, f"-t{self.threads}", f"-c{self.connections}",
                 f"-d{max(1, round(duration))}s", "--timeout", "10s",
                 "-s", script.name, f"http://{host}:{port}"],
                capture_output=True, text=True, check=True,
            )
        finally:
            os.unlink(script.name)
        for raw in out.stdout.splitlines():
            if raw.startswith("BENCH_JSON "):
                data = json.loads(raw[len("BENCH_JSON "):])
                return LoadResult(
                    requests=data["requests"], seconds=data["duration_us"] / 1e6,
                    p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
                    unexpected=data["unexpected"], socket_errors=data["socket_errors"],
                    client_cpu_s=children_cpu_seconds() - cpu_before,
                )
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def _lua_string(text: str) -> str:
    escaped = (text.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r"))
    return f'"{escaped}"'


def _wrk_script(spec: LoadSpec) -> str:
    paths = ",\n  ".join(_lua_string(p) for p in spec.paths)
    headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in spec.headers.items())
    body = "nil" if spec.body is None else _lua_string(spec.body)
    # request() builds each request (cheap: a string format) so several paths can be
    # cycled; response() counts answers with an unexpected status per thread, and
    # done() sums the threads and prints one JSON line for the caller to parse.
    return f"""\
local paths = {{
  {paths}
}}
local method = {_lua_string(spec.method)}
local headers = {{ {headers} }}
local body = {body}
local expected = {int(spec.expected_status)}
local threads = {{}}
unexpected = 0
local i = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  i = math.random(#paths) - 1
end

function request()
  i = i % #paths + 1
  return wrk.format(method, paths[i], headers, body)
end

function response(status, hdrs, resp_body)
  if status ~= expected then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + t:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"unexpected": %d, "socket_errors": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


# Python fallback ------------------------------------------------------------------------

def _python_load(host: str, port: int, spec: LoadSpec, duration: float, connections: int) -> LoadResult:
    body = spec.body.encode() if spec.body is not None else None
    headers = dict(spec.headers)
    if body is not None:
        headers.setdefault("Content-Length", str(len(body)))
    latencies: list[list[float]] = [[] for _ in range(connections)]
    unexpected = [0] * connections
    errors = [0] * connections
    start_gate = threading.Barrier(connections + 1)
    stop_at = [0.0]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        index = n
        start_gate.wait()
        while time.perf_counter() < stop_at[0]:
            path = spec.paths[index % len(spec.paths)]
            index += 1
            began = time.perf_counter()
            try:
                conn.request(spec.method, path, body=body, headers=headers)
                resp = conn.getresponse()
                resp.read()
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                continue
            latencies[n].append(time.perf_counter() - began)
            if resp.status != spec.expected_status:
                unexpected[n] += 1
        conn.close()

    cpu_before = self_cpu_seconds()
    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(connections)]
    for w in workers:
        w.start()
    began = time.perf_counter()
    stop_at[0] = began + duration
    start_gate.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return LoadResult(
        requests=len(flat) + sum(errors), seconds=elapsed,
        p50_ms=percentile(flat, 50) * 1000, p99_ms=percentile(flat, 99) * 1000,
        unexpected=sum(unexpected), socket_errors=sum(errors),
        client_cpu_s=self_cpu_seconds() - cpu_before,
    )


@contextlib.contextmanager
def stopping(processes: list[ManagedProcess]) -> Iterator[list[ManagedProcess]]:
    """Stop every process appended to the list on the way out, newest first."""
    try:
        yield processes
    finally:
        for proc in reversed(processes):
            proc.stop()


# --- scratch databases ---------------------------------------------------------------

def create_database(server_url: str, name: str) -> str:
    """CREATE DATABASE `name` on the server of `server_url`; returns its URL."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin = sa.create_engine(make_url(server_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """DROP DATABASE … WITH (FORCE): connections still open (a crashed server's) go too."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    admin.dispose()
