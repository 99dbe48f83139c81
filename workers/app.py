"""The Celery application the worker, beat and Flower processes run.

`celery -A workers.app worker` finds `app` here. Creating a Celery app opens no
connection, so building it at import is safe for forking; everything that touches
PostgreSQL happens per process in the signal handlers of workers.process.
"""
from __future__ import annotations

from celery import Celery

from workers.heartbeat import WorkerHeartbeat


def create_celery() -> Celery:
    celery = Celery("trainhub")
    celery.config_from_object("celeryconfig")
    celery.conf.include = ["workers.tasks"]
    celery.steps["worker"].add(WorkerHeartbeat)
    import workers.process  # noqa: F401 - registers the per-process signal handlers

    return celery


app = create_celery()
