"""`trainhub up` on a machine with no configured servers: embedded PostgreSQL and
Redis on free ports, the whole stack, a demo job; `trainhub down` leaves nothing."""
from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import json
import shutil
import tempfile
from pathlib import Path

import psutil
import pytest
import requests

from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(300)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _family(pids) -> set[int]:
    found = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            found |= {pid, *(c.pid for c in proc.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass
    return found


@pytest.fixture
def state_root():
    # Not tmp_path: a root-run PostgreSQL drops to its own account, and pytest resets
    # its base temp dir to 0700 at every session start.
    root = Path(tempfile.mkdtemp(prefix="trainhub-up-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_up_runs_a_demo_job_on_embedded_servers_and_down_leaves_nothing(state_root):
    tmp_path = state_root
    api_port, flower_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"TRAINHUB_DATABASE_URL", "TRAINHUB_REDIS_URL", "FLOWER_BASIC_AUTH",
                        "TRAINHUB_TRAINING_QUEUE", "TRAINHUB_ARTIFACT_DIR"}}
    env.update(TRAINHUB_STATE_DIR=str(tmp_path / "state"), TRAINHUB_ENV="development")
    up = subprocess.Popen([sys.executable, "-m", "trainhub", "up", "--api-port", str(api_port),
                           "--flower-port", str(flower_port)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in up.stdout], daemon=True).start()
    output: list[str] = []

    def up_is_ready():
        while not lines.empty():
            output.append(lines.get())
        if up.poll() is not None:
            raise AssertionError("trainhub up exited:\n" + "".join(output))
        return any("TrainHub is up" in line for line in output)

    try:
        wait_for(up_is_ready, timeout=240, what="trainhub up", max_delay=1)
        text = "".join(output)
        assert "completed" in text and "mae" in text and "model     demo:load_forecast:" in text

        state = tmp_path / "state"
        key = (state / "demo-api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        api = f"http://127.0.0.1:{api_port}"
        body = {"model_type": "anomaly", "model_name": "load_anomaly",
                "config": {"start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z",
                           "feature_set": "anomaly_basic", "horizon": 0}}
        job_id = requests.post(f"{api}/ai/training/jobs/start", json=body, headers=headers, timeout=10).json()["job_id"]
        done = wait_for(lambda: (j := requests.get(f"{api}/ai/training/jobs/{job_id}", headers=headers,
                                                   timeout=10).json())["status"] in {"completed", "failed"} and j,
                        timeout=60, what="the REST job")
        assert done["status"] == "completed", done["error_message"]

        flower = f"http://127.0.0.1:{flower_port}"
        assert requests.get(f"{flower}/api/tasks", timeout=10).status_code == 401
        user, password = (state / "flower-credentials").read_text().strip().split(":", 1)
        tasks = wait_for(lambda: requests.get(f"{flower}/api/tasks", auth=(user, password), timeout=10).json(),
                         timeout=30, what="Flower to list tasks")
        assert any(t["name"].startswith("trainhub.run_job[demo/") for t in tasks.values())

        recorded = json.loads((state / "stack.json").read_text())["pids"]
        embedded = json.loads((state / "embedded.json").read_text())
        ports = [api_port, flower_port, embedded["postgres"]["port"], embedded["redis"]["port"]]
        processes = _family([*recorded.values(), embedded["postgres"]["pid"], embedded["redis"]["pid"]])
        assert len(processes) >= 6
    finally:
        down = subprocess.run([sys.executable, "-m", "trainhub", "down"], env=env,
                              capture_output=True, text=True, timeout=120)
        up.wait(timeout=60)
    assert down.returncode == 0, down.stderr
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                             for p in processes), timeout=30, what="every process to exit")
    assert not [p for p in ports if _port_open(p)]
