"""Retention: completed jobs 90 days, failed and cancelled 30 days, logs 7 days;
experiment metrics are kept. The rules live in SQL (cleanup_old_training_data)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session


def cleanup_old_training_data(session: Session) -> dict[str, int]:
    row = session.execute(sa.text("SELECT * FROM cleanup_old_training_data()")).one()
    return dict(row._mapping)
