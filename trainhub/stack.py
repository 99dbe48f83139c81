"""The whole product on one machine: API, worker, beat and Flower as child processes.

`trainhub up` starts them (after the embedded servers, when no URLs are configured)
and records their pids in the state dir; `trainhub down`, or Ctrl-C on `up`, stops
them and the embedded servers again. Each process logs to state_dir/logs/NAME.log.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from trainhub.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
STACK_FILE = "stack.json"


@dataclass(frozen=True)
class StackConfig:
    api_port: int = 8000
    flower_port: int = 5555
    web_workers: int = 2
    concurrency: int = 2


def process_commands(settings: Settings, config: StackConfig) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "api": [py, "-m", "trainhub", "api", "--workers", str(config.web_workers),
                "--port", str(config.api_port)],
        "worker": [py, "-m", "trainhub", "worker", "--concurrency", str(config.concurrency)],
        "beat": [py, "-m", "trainhub", "beat"],
        "flower": [py, "-m", "trainhub", "flower", "--port", str(config.flower_port)],
    }


def flower_credentials(settings: Settings) -> str:
    """FLOWER_BASIC_AUTH, or for local development a generated user:password kept in
    the state dir. Flower is never served without a password."""
    if settings.flower_basic_auth:
        return settings.flower_basic_auth
    if not settings.is_local:
        raise RuntimeError("FLOWER_BASIC_AUTH must be set (user:password) outside local development")
    path = settings.state_dir / "flower-credentials"
    if not path.exists():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"admin:{secrets.token_urlsafe(12)}")
        path.chmod(0o600)
    return path.read_text().strip()


def start(settings: Settings, config: StackConfig, env: dict[str, str]) -> dict[str, int]:
    logs = settings.state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pids: dict[str, int] = {}
    for name, argv in process_commands(settings, config).items():
        with (logs / f"{name}.log").open("ab") as out:
            # A session of its own: Ctrl-C in the terminal reaches `up`, which then
            # stops the children in order, instead of killing them all mid-write.
            proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        pids[name] = proc.pid
    _save(settings.state_dir, {"pids": pids, "config": config.__dict__})
    return pids


def recorded(settings: Settings) -> bool:
    """Whether a stack is on record here (`trainhub down` removes the record first)."""
    return (settings.state_dir / STACK_FILE).exists()


def running(settings: Settings) -> dict[str, int]:
    """Recorded processes that are still alive."""
    state = _load(settings.state_dir)
    return {name: pid for name, pid in state.get("pids", {}).items() if psutil.pid_exists(pid)}


def exited(pids: dict[str, int]) -> list[str]:
    return [name for name, pid in pids.items()
            if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE]


def stop(settings: Settings, *, timeout: float = 20.0) -> list[str]:
    """Stop every recorded process group (TERM, then KILL after `timeout`)."""
    state = _load(settings.state_dir)
    pids = state.get("pids", {})
    # Forget the stack first: a foreground `trainhub up` watching it then knows the
    # exits that follow were asked for.
    (settings.state_dir / STACK_FILE).unlink(missing_ok=True)
    for pid in pids.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in pids.values():
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
    # Pool children and gunicorn workers share their parent's process group.
    for pid in pids.values():
        _signal_group(pid, signal.SIGKILL)
    return list(pids)


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _load(state_dir: Path) -> dict:
    path = state_dir / STACK_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _save(state_dir: Path, state: dict) -> None:
    path = state_dir / STACK_FILE
    path.write_text(json.dumps(state, indent=2))
