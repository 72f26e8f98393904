"""Uploaded filter modules, addressed by the SHA-256 of their bytes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from controlplane.storage.clock import as_utc, utc_now
from controlplane.storage.tables import ModuleRow


@dataclass(frozen=True)
class ModuleInfo:
    sha256: str
    name: str
    size: int
    capabilities: tuple[str, ...]
    signed_by: str | None
    build_id: str
    trust_version: int | None
    uploaded_at: datetime
    uploaded_by: str


def _info(row: ModuleRow) -> ModuleInfo:
    return ModuleInfo(
        sha256=row.sha256,
        name=row.name,
        size=row.size,
        capabilities=tuple(row.capabilities),
        signed_by=row.signed_by,
        build_id=row.build_id,
        trust_version=row.trust_version,
        uploaded_at=as_utc(row.uploaded_at),
        uploaded_by=row.uploaded_by,
    )


def store(
    session: Session,
    *,
    sha256: str,
    name: str,
    data: bytes,
    capabilities: list[str],
    signed_by: str | None,
    build_id: str,
    trust_version: int | None,
    uploaded_by: str,
) -> tuple[ModuleInfo, bool]:
    """The module's info, and whether it was new (uploading the same bytes twice is a no-op)."""
    existing = session.get(ModuleRow, sha256)
    if existing is not None:
        return _info(existing), False
    row = ModuleRow(
        sha256=sha256,
        name=name,
        size=len(data),
        data=data,
        capabilities=sorted(capabilities),
        signed_by=signed_by,
        build_id=build_id,
        trust_version=trust_version,
        uploaded_at=utc_now(),
        uploaded_by=uploaded_by,
    )
    session.add(row)
    session.flush()
    return _info(row), True


def list_all(session: Session) -> list[ModuleInfo]:
    query = select(ModuleRow).options(defer(ModuleRow.data)).order_by(ModuleRow.name, ModuleRow.uploaded_at)
    return [_info(row) for row in session.scalars(query)]


def get_info(session: Session, sha256: str) -> ModuleInfo | None:
    row = session.scalar(select(ModuleRow).options(defer(ModuleRow.data)).where(ModuleRow.sha256 == sha256))
    return _info(row) if row is not None else None


def get_bytes(session: Session, sha256: str) -> bytes | None:
    return session.scalar(select(ModuleRow.data).where(ModuleRow.sha256 == sha256))


def latest_by_name(session: Session) -> dict[str, ModuleInfo]:
    """The most recently uploaded module of each name: what sidecars are told to run."""
    latest: dict[str, ModuleInfo] = {}
    for info in list_all(session):
        current = latest.get(info.name)
        if current is None or info.uploaded_at >= current.uploaded_at:
            latest[info.name] = info
    return latest
