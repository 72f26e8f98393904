"""API tokens. Only a SHA-256 of each token is stored; the token itself is shown once."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import TokenRow

TOKEN_PREFIX = "mvt_"  # noqa: S105 - a prefix, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(
    session: Session, name: str, role: str, tenants: list[str], created_by: str
) -> tuple[TokenRow, str]:
    """The stored row and the token, which exists nowhere else after this returns."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = TokenRow(
        id=secrets.token_hex(8),
        name=name,
        token_hash=hash_token(token),
        role=role,
        tenants=sorted(tenants),
        created_at=utc_now(),
        created_by=created_by,
        revoked_at=None,
    )
    session.add(row)
    return row, token


def find_active(session: Session, token: str) -> TokenRow | None:
    row = session.scalar(select(TokenRow).where(TokenRow.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_all(session: Session) -> list[TokenRow]:
    return list(session.scalars(select(TokenRow).order_by(TokenRow.created_at, TokenRow.id)))


def get(session: Session, token_id: str) -> TokenRow | None:
    return session.get(TokenRow, token_id)


def revoke(session: Session, row: TokenRow) -> None:
    row.revoked_at = utc_now()


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(TokenRow)) or 0)
