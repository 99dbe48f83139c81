"""Tenants and API keys.

A key is 256 random bits shown once at creation; only its SHA-256 is stored. A key
belongs to one tenant, or is an admin key that may act for any tenant.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from trainhub import tables as t
from trainhub.config import get_settings
from trainhub.errors import Conflict, InvalidInput, NotFound, Unauthorized

KEY_PREFIX = "th_"
TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant's key, or an admin key (tenant_id None)."""

    tenant_id: str | None
    is_admin: bool

    def can_see(self, tenant_id: str) -> bool:
        return self.is_admin or self.tenant_id == tenant_id


@dataclass(frozen=True)
class IssuedKey:
    tenant_id: str | None
    api_key: str  # the only time the plain key exists outside the caller's hands


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_tenant(session: Session, *, tenant_id: str) -> IssuedKey:
    """Create a tenant and its first API key."""
    if not re.match(TENANT_ID_PATTERN, tenant_id):
        raise InvalidInput({"tenant_id": [
            "Use 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit."
        ]})
    if not _insert_tenant(session, tenant_id):
        raise Conflict(f"Tenant {tenant_id} already exists")
    return issue_key(session, tenant_id=tenant_id)


def issue_key(session: Session, *, tenant_id: str | None, is_admin: bool = False) -> IssuedKey:
    if tenant_id is not None and not _tenant_exists(session, tenant_id):
        raise NotFound(f"Tenant {tenant_id} not found")
    api_key = _new_key()
    session.execute(sa.insert(t.api_keys).values(
        tenant_id=tenant_id, is_admin=is_admin,
        key_hash=hash_key(api_key), key_prefix=api_key[:10],
    ))
    return IssuedKey(tenant_id=tenant_id, api_key=api_key)


def ensure_tenant(session: Session, *, tenant_id: str) -> None:
    """Create the tenant if missing (for admin-submitted work and demo setup)."""
    _insert_tenant(session, tenant_id)


def _insert_tenant(session: Session, tenant_id: str) -> bool:
    # The primary key decides who creates a tenant; no read-then-write check.
    inserted = session.execute(
        pg_insert(t.tenants).values(tenant_id=tenant_id).on_conflict_do_nothing()
    )
    return inserted.rowcount == 1


def _tenant_exists(session: Session, tenant_id: str) -> bool:
    return session.execute(
        sa.select(sa.literal(True)).where(t.tenants.c.tenant_id == tenant_id)
    ).scalar() is not None


# Every request runs it: built once with a bind parameter (see trainhub.jobs.lifecycle).
_KEY = (sa.select(t.api_keys.c.tenant_id, t.api_keys.c.is_admin)
        .where(t.api_keys.c.key_hash == sa.bindparam("key_hash"), t.api_keys.c.revoked_at.is_(None)))


def authenticate(session: Session, api_key: str | None) -> Principal:
    if not api_key:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'")
    admin_key = get_settings().admin_key
    if admin_key and hmac.compare_digest(api_key.encode(), admin_key.encode()):
        return Principal(tenant_id=None, is_admin=True)
    row = session.execute(_KEY, {"key_hash": hash_key(api_key)}).first()
    if row is None:
        raise Unauthorized("Invalid or revoked API key")
    return Principal(tenant_id=row.tenant_id, is_admin=row.is_admin)


def resolve_tenant(session: Session, principal: Principal, requested: str | None) -> str:
    """The tenant a new object belongs to: the key's own, or for an admin key the one
    named in the request."""
    if not principal.is_admin:
        if requested not in (None, principal.tenant_id):
            raise InvalidInput({"tenant_id": ["Does not match the API key's tenant; omit it or use your own."]})
        return principal.tenant_id
    if requested is None:
        raise InvalidInput({"tenant_id": ["Required with an admin key."]})
    if not _tenant_exists(session, requested):
        raise InvalidInput({"tenant_id": [f"Unknown tenant {requested}."]})
    return requested
