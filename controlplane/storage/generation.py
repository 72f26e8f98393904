"""The config generation: one counter every replica polls to notice changes made elsewhere."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.storage.clock import utc_now
from controlplane.storage.tables import GenerationRow


def bump(session: Session) -> None:
    """Part of every transaction that changes what sidecars are served."""
    # On the table, not through the ORM: nothing loaded needs synchronising, and this runs
    # in every change's transaction.
    session.connection().execute(
        update(GenerationRow)
        .where(GenerationRow.id == 1)
        .values(generation=GenerationRow.generation + 1, updated_at=utc_now())
    )


def current(session: Session) -> int:
    value = session.scalar(select(GenerationRow.generation).where(GenerationRow.id == 1))
    return int(value or 0)
