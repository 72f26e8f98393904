"""Config signing keys known to the service: public halves and which one signs now."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import SigningKeyRow

ACTIVE = "active"
RETIRED = "retired"


def list_all(session: Session) -> list[SigningKeyRow]:
    return list(session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.created_at)))


def active(session: Session) -> SigningKeyRow | None:
    return session.scalar(select(SigningKeyRow).where(SigningKeyRow.state == ACTIVE))


def activate(session: Session, key_id: str, name: str, public_key: bytes) -> SigningKeyRow:
    """Makes this key the one that signs; the previous one is retired (kept for verification)."""
    now = utc_now()
    for row in session.scalars(select(SigningKeyRow).where(SigningKeyRow.state == ACTIVE)):
        row.state = RETIRED
        row.retired_at = now
    row = SigningKeyRow(
        key_id=key_id, name=name, public_key=public_key, state=ACTIVE, created_at=now, retired_at=None
    )
    session.add(row)
    session.flush()
    return row
