"""The embedded PostgreSQL and Redis: real servers, each test in its own state dir."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import psycopg2
import pytest
import redis

from tests.helpers import wait_for
from trainhub import embedded

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[1]
ENSURE_BOTH = (
    "import json, sys; from pathlib import Path; from trainhub import embedded; "
    "d = Path(sys.argv[1]); "
    "print(json.dumps([embedded.ensure_postgres(d), embedded.ensure_redis(d)]))"
)
PR_SET_CHILD_SUBREAPER = 36


@pytest.fixture(scope="module", autouse=True)
def reap_stopped_servers():
    """Make this process the reaper of the daemons the tests start.

    The servers are orphaned on purpose and adopted by init; where PID 1 does not
    reap (some containers and sandboxes) each stopped server would linger as a
    zombie. As subreaper, stop_embedded in this process reaps them itself.
    """
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
    if libc is not None:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    yield
    if libc is not None:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


@pytest.fixture
def state_dir():
    """A fresh state dir per test, deliberately not under pytest's tmp_path.

    Every pytest session re-chmods /tmp/pytest-of-<user> to 0700. Run as root, the
    embedded PostgreSQL runs as its own account, which then loses its way to a data
    dir under tmp_path whenever another pytest session starts meanwhile.
    """
    base = Path(tempfile.mkdtemp(prefix="trainhub-embedded-test-"))
    path = base / "state"
    yield path
    embedded.stop_embedded(path)
    leftovers = _processes_under(base)
    for proc in leftovers:
        proc.kill()
    _reap_children()
    shutil.rmtree(base, ignore_errors=True)
    assert not leftovers, f"servers left running: {leftovers}"


def _reap_children() -> None:
    """Clear zombies of servers a test killed, which were orphaned to this subreaper."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _processes_under(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and Path(proc.cwd()).is_relative_to(path):
                found.append(proc)
        except psutil.Error:
            pass
    return found


def _postmasters(state_dir: Path) -> list[psutil.Process]:
    # Backends retitle themselves ("postgres: checkpointer"); the postmaster keeps -D.
    return [p for p in _processes_under(state_dir / "postgres") if "-D" in p.cmdline()]


def _redis_servers(state_dir: Path) -> list[psutil.Process]:
    return [p for p in _processes_under(state_dir / "redis") if p.name() == "redis-server"]


def _pg(url: str):
    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def _port_open(url: str) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", urlsplit(url).port)) == 0


def _ensure_in_subprocess(state_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", ENSURE_BOTH, str(state_dir)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _urls_from(*procs: subprocess.Popen) -> list[list[str]]:
    # Wait for all before asserting, so none is still starting servers at teardown.
    results = [(proc, *proc.communicate(timeout=60)) for proc in procs]
    for proc, _, err in results:
        assert proc.returncode == 0, err
    return [json.loads(out) for _, out, _ in results]


def test_ensure_starts_real_servers_on_loopback_with_durable_settings(state_dir):
    pg_url = embedded.ensure_postgres(state_dir)
    redis_url = embedded.ensure_redis(state_dir)

    assert pg_url.startswith("postgresql+psycopg2://postgres@127.0.0.1:")
    assert pg_url.endswith("/trainhub")
    with _pg(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1, current_database(), current_setting('max_connections')::int,"
                    " current_setting('fsync'), current_setting('listen_addresses'), version()")
        one, database, max_connections, fsync, listen, version = cur.fetchone()
    conn.close()
    assert (one, database, fsync, listen) == (1, "trainhub", "on", "127.0.0.1")
    assert max_connections >= 200
    assert version.startswith("PostgreSQL 16")

    assert redis_url == f"redis://127.0.0.1:{urlsplit(redis_url).port}/0"
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.ping()
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("bind") == {"bind": "127.0.0.1"}
    assert client.info("server")["redis_version"].startswith("6.2")
    client.close()

    assert (state_dir / "postgres" / "PG_VERSION").is_file()
    assert (state_dir / "redis" / "appendonly.aof").is_file()
    status = embedded.embedded_status(state_dir)
    assert status["postgres"]["running"] and status["postgres"]["url"] == pg_url
    assert status["redis"]["running"] and status["redis"]["url"] == redis_url


def test_second_ensure_reuses_the_server_also_from_another_process(state_dir):
    urls = [embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)]
    pids = [embedded.embedded_status(state_dir)[name]["pid"] for name in ("postgres", "redis")]

    assert [embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)] == urls
    assert _urls_from(_ensure_in_subprocess(state_dir)) == [urls]

    assert [embedded.embedded_status(state_dir)[name]["pid"] for name in ("postgres", "redis")] == pids
    assert [p.pid for p in _postmasters(state_dir)] == pids[:1]
    assert [p.pid for p in _redis_servers(state_dir)] == pids[1:]


def test_concurrent_ensure_from_two_processes_starts_one_server(state_dir):
    first, second = _ensure_in_subprocess(state_dir), _ensure_in_subprocess(state_dir)

    urls, other_urls = _urls_from(first, second)
    assert other_urls == urls
    assert len(_postmasters(state_dir)) == 1
    assert len(_redis_servers(state_dir)) == 1
    with _pg(urls[0]) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()


def test_stop_leaves_no_process_and_a_restart_keeps_data_and_urls(state_dir):
    urls = [embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)]
    with _pg(urls[0]) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)")
    conn.close()
    redis.Redis.from_url(urls[1]).rpush("queue", "message")
    status = embedded.embedded_status(state_dir)
    pids = [status["postgres"]["pid"], status["redis"]["pid"]]

    assert embedded.stop_embedded(state_dir) == ["postgres", "redis"]

    assert not any(psutil.pid_exists(pid) for pid in pids)
    assert _processes_under(state_dir) == []
    assert not any(_port_open(url) for url in urls)
    assert not any(s["running"] for s in embedded.embedded_status(state_dir).values())
    assert embedded.stop_embedded(state_dir) == []

    # The previous port is reused when free, so URLs survive a restart.
    assert [embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)] == urls
    with _pg(urls[0]) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM kept")
        assert cur.fetchall() == [(42,)]
    conn.close()
    assert redis.Redis.from_url(urls[1]).lrange("queue", 0, -1) == [b"message"]


def test_stale_state_file_with_dead_pids_starts_fresh_servers(state_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    state_dir.mkdir()
    (state_dir / "embedded.json").write_text(json.dumps({
        "postgres": {"pid": dead.pid, "port": 1,
                     "url": "postgresql+psycopg2://postgres@127.0.0.1:1/trainhub"},
        "redis": {"pid": dead.pid, "port": 1, "url": "redis://127.0.0.1:1/0"},
    }))

    pg_url, redis_url = embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)

    with _pg(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()
    assert redis.Redis.from_url(redis_url).ping()
    assert dead.pid not in {embedded.embedded_status(state_dir)[n]["pid"] for n in ("postgres", "redis")}


def test_servers_killed_in_a_crash_restart_with_committed_data(state_dir):
    pg_url, redis_url = embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)
    with _pg(pg_url) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE survivors (name text); INSERT INTO survivors VALUES ('row')")
    conn.close()
    redis.Redis.from_url(redis_url).rpush("queue", "message")
    victims = _postmasters(state_dir) + _redis_servers(state_dir)

    for proc in victims:
        proc.send_signal(signal.SIGKILL)
    # Backends follow their postmaster.
    wait_for(lambda: _processes_under(state_dir) == [], timeout=10, what="the server processes to exit")

    pg_url, redis_url = embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)

    with _pg(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM survivors")
        assert cur.fetchall() == [("row",)]
    conn.close()
    assert redis.Redis.from_url(redis_url).lrange("queue", 0, -1) == [b"message"]
    assert not {p.pid for p in victims} & {p.pid for p in _postmasters(state_dir) + _redis_servers(state_dir)}


def test_long_state_dir_puts_the_unix_socket_in_a_short_dir(state_dir):
    deep = state_dir / ("d" * 60) / ("e" * 60)
    try:
        url = embedded.ensure_postgres(deep)
        socket_dir = Path(json.loads((deep / "embedded.json").read_text())["postgres"]["socket_dir"])
        port = urlsplit(url).port
        assert len(str(socket_dir / f".s.PGSQL.{port}")) < 100
        conn = psycopg2.connect(host=str(socket_dir), port=port, user="postgres", dbname="trainhub")
        conn.close()

        assert embedded.stop_embedded(deep) == ["postgres"]
        assert not socket_dir.exists()
    finally:
        embedded.stop_embedded(deep)


def test_start_moves_to_another_port_when_the_chosen_one_is_taken_meanwhile(state_dir, monkeypatch):
    squatter = socket.create_server(("127.0.0.1", 0))
    taken = squatter.getsockname()[1]
    choose_free_port = embedded._free_port
    choices = iter([taken, taken])  # the first pick of each server loses the race
    monkeypatch.setattr(embedded, "_free_port",
                        lambda preferred: next(choices, None) or choose_free_port(preferred))
    try:
        pg_url, redis_url = embedded.ensure_postgres(state_dir), embedded.ensure_redis(state_dir)
    finally:
        squatter.close()

    assert taken not in {urlsplit(pg_url).port, urlsplit(redis_url).port}
    with _pg(pg_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
    conn.close()
    assert redis.Redis.from_url(redis_url).ping()
