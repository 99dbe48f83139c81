"""Bearer API keys. Every /ai call names its key; the principal scopes every query."""
from __future__ import annotations

from flask import g, request
from flask_smorest import abort

from api.db import session
from trainhub.errors import Unauthorized
from trainhub.tenants import Principal, authenticate


def require_principal() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    try:
        g.principal = authenticate(session(), key.strip() if scheme.lower() == "bearer" else None)
    except Unauthorized as exc:
        abort(401, message=str(exc), headers={"WWW-Authenticate": 'Bearer realm="trainhub"'})


def principal() -> Principal:
    return g.principal


def tenant_scope() -> str | None:
    """The tenant every query is limited to; None for an admin key."""
    p = g.principal
    return None if p.is_admin else p.tenant_id
