"""The smallest honest Flask + SQLAlchemy app, as a yardstick for TrainHub's API.

    POST /items            INSERT one row, commit, answer 201 {"id": ..., "name": ...}
    POST /items?send=1     the same, then publish one Celery message to Redis after the
                           commit (what TrainHub's POST /jobs/start also does)
    GET  /items/<id>       SELECT one row by primary key, answer 200 with it as JSON

No auth, no schemas, no ORM session: one pooled connection per request. Settings come
from the environment: BENCH_DATABASE_URL (required; the table must exist, see
TABLE_DDL), BENCH_REDIS_URL and BENCH_QUEUE (only for ?send=1). Served by gunicorn:

    gunicorn -w 2 --pythonpath bench 'minimal_app:create_app()'
"""
from __future__ import annotations

import functools
import os

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS bench_items (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

APPLICATION_NAME = "bench-minimal"

items = sa.table(
    "bench_items",
    sa.column("id", sa.BigInteger),
    sa.column("name", sa.Text),
    sa.column("payload", sa.JSON),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def create_app() -> Flask:
    # Built per process by gunicorn (no --preload), so no socket crosses a fork.
    engine = sa.create_engine(
        os.environ["BENCH_DATABASE_URL"], pool_size=5,
        # The bench finds this app's PostgreSQL backends by name to meter their CPU.
        connect_args={"application_name": APPLICATION_NAME},
    )
    app = Flask("minimal")

    @functools.cache
    def celery_client():
        from celery import Celery

        return Celery("minimal", broker=os.environ["BENCH_REDIS_URL"])

    @app.post("/items")
    def create_item():
        data = request.get_json()
        with engine.begin() as conn:
            row = conn.execute(
                sa.insert(items).values(name=data.get("model_name", "item"), payload=data)
                .returning(items.c.id, items.c.name, items.c.created_at)
            ).one()
        if request.args.get("send"):
            celery_client().send_task("bench.noop", args=[row.id], queue=os.environ["BENCH_QUEUE"])
        return jsonify(id=row.id, name=row.name, created_at=row.created_at.isoformat()), 201

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int):
        with engine.connect() as conn:
            row = conn.execute(sa.select(items).where(items.c.id == item_id)).first()
        if row is None:
            abort(404)
        return jsonify(id=row.id, name=row.name, payload=row.payload,
                       created_at=row.created_at.isoformat())

    return app
