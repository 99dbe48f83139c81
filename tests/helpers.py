"""Waiting on conditions with a deadline and backoff, never a fixed sleep."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T], *, timeout: float, what: str, first_delay: float = 0.02,
             max_delay: float = 0.5) -> T:
    """Call `probe` until it returns something truthy; return that, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    delay = first_delay
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, max_delay)


def race(engine, *actions, commits=None, send_messages: bool = False, timeout: float = 60) -> list:
    """Run each action(session) in its own session and connection, all released at the
    same instant by a barrier; return each action's result, or the exception it raised.

    `commits` says per action whether to commit (default: all do). Unless
    `send_messages`, run messages the actions queued for after commit are dropped:
    races over jobs need no worker to see them.
    """
    from sqlalchemy.orm import Session

    commits = [True] * len(actions) if commits is None else list(commits)
    barrier = threading.Barrier(len(actions))
    results: list = [None] * len(actions)

    def run(i: int) -> None:
        with Session(engine) as session:
            barrier.wait()
            try:
                results[i] = actions[i](session)
                if not send_messages:
                    session.info.clear()
                session.commit() if commits[i] else session.rollback()
            except Exception as exc:  # noqa: BLE001 - the race's loser is the result
                session.rollback()
                results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=timeout)
    return results
