"""Plain records built from rows, and pages of them: shared by every service."""
from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

T = TypeVar("T")


def from_row(cls: type[T], row: Any) -> T:
    """The dataclass `cls` filled from the row's columns of the same names."""
    mapping = row._mapping
    return cls(**{name: mapping[name] for name in cls.__dataclass_fields__})


def fetch_page(session: Session, query: sa.Select, *, page: int, page_size: int) -> tuple[list[Any], int]:
    """One page of an ordered query, and the number of rows on all pages."""
    total = session.execute(
        sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    ).scalar_one()
    rows = session.execute(query.limit(page_size).offset((page - 1) * page_size)).all()
    return rows, total
