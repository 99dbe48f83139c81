"""Celery beat's scheduler, plus TrainHub's schedule dispatcher on every minute.

Why the dispatcher runs inside beat rather than as a periodic task: a task goes to a
worker slot, and with every slot busy on hours-long training jobs (prefetch 1,
acks_late) a "dispatch every minute" task would wait in the maintenance queue until a
job ends, so schedules would fire hours late. In the beat process it needs no worker
slot: beat is literally the trigger. The dispatch only reads schedules, writes fire and
job rows and sends run messages, which takes milliseconds.

Several beats may run at once (for availability, or by accident): each dispatches,
and the unique (schedule_id, fire_time) row lets exactly one of them create the job of
a tick. The interval entries of beat_schedule (the daily cleanup) would then be sent by
each beat; they are idempotent.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from celery.beat import PersistentScheduler
from celery.utils.log import get_logger

from trainhub.config import get_settings
from trainhub.db import session_scope
from trainhub.schedules import MISFIRE_GRACE, FireStatus, dispatch_due_schedules

logger = get_logger(__name__)


class DispatchingScheduler(PersistentScheduler):
    """PersistentScheduler that also runs dispatch_due_schedules at every multiple of
    TRAINHUB_SCHEDULE_DISPATCH_SECONDS on the wall clock (every minute's start by
    default), and once right at start-up so ticks missed while beat was down are
    caught up at once (at most one fire per schedule; see the catch_up policy)."""

    def __init__(self, *args, **kwargs):
        self._next_dispatch = 0.0
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        wait = super().tick(*args, **kwargs)
        if time.time() >= self._next_dispatch:
            self.dispatch()
            interval = get_settings().schedule_dispatch_seconds
            self._next_dispatch = (time.time() // interval + 1) * interval
        return min(wait, max(0.0, self._next_dispatch - time.time()))

    def dispatch(self) -> None:
        interval = get_settings().schedule_dispatch_seconds
        grace = max(MISFIRE_GRACE, timedelta(seconds=2 * interval))
        now = datetime.now(timezone.utc)
        try:
            with session_scope() as session:
                fires = dispatch_due_schedules(session, now=now, misfire_grace=grace)
        except Exception:  # noqa: BLE001 - beat must keep ticking for every other schedule
            # The dispatch rolled back as a whole; the next one retries it, and the unique
            # fire rows make the retry harmless.
            logger.exception("schedule dispatch at %s failed; retrying at the next tick", now.isoformat())
            return
        for fire in fires:
            if fire.status == FireStatus.CREATED:
                logger.info("schedule %s fired %s: job %s", fire.schedule_id, fire.fire_time.isoformat(), fire.job_id)
            else:
                logger.info("schedule %s skipped %s: %s (%s)", fire.schedule_id, fire.fire_time.isoformat(),
                            fire.reason, fire.detail)
        logger.debug("schedule dispatch at %s: %d tick(s) handled", now.isoformat(), len(fires))
