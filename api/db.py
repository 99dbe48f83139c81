"""One database session per request, committed when the response is a success.

Views call services with :func:`session`; they never commit themselves.
"""
from __future__ import annotations

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from trainhub.db import new_session


def session() -> Session:
    if "db_session" not in g:
        # Tests swap the factory to join their rolled-back transaction.
        factory = current_app.extensions.get("trainhub.session_factory", new_session)
        g.db_session = factory()
    return g.db_session


def _finish(response: Response) -> Response:
    db = g.pop("db_session", None)
    if db is not None:
        try:
            if response.status_code < 400:
                db.commit()
            else:
                db.rollback()
        finally:
            db.close()
    return response


def _close(_exc: BaseException | None) -> None:
    # Reached without _finish when the view raised: nothing is committed.
    db = g.pop("db_session", None)
    if db is not None:
        db.rollback()
        db.close()


def init_app(app: Flask) -> None:
    app.after_request(_finish)
    app.teardown_request(_close)
