"""The hub wakes, after a change, the streams of the tenants it concerns (and streams whose
node has not said where it runs yet), not every stream of the replica."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controlplane.storage import generation
from controlplane.storage.database import migrate, open_database
from controlplane.storage.policies import PolicyVersion
from controlplane.xds.hub import ConfigHub
from controlplane.xds.snapshot import ServedPolicy, Snapshot

NAMESPACES = {"payments": "payments", "shop": "shop"}


def _served(tenant: str, serial: int) -> ServedPolicy:
    version = PolicyVersion(
        policy_id=f"{tenant}-policy",
        tenant=tenant,
        name="p",
        version=serial,
        serial=serial,
        document={},
        source="",
        media_type="application/yaml",
        content_hash="0" * 64,
        created_at=datetime.now(UTC),
        created_by="test",
        rollback_of=None,
    )
    # The hub compares what each tenant is served by policy, serial and resource versions.
    policy: Any = None
    return ServedPolicy(version, policy, {})


class _Builder:
    """Hands the hub prepared snapshots, as SnapshotBuilder would build them from storage."""

    def __init__(self) -> None:
        self.next: Snapshot | None = None

    def epoch(self) -> int:
        return 0

    def build(self) -> Snapshot:
        assert self.next is not None
        return self.next


def _snapshot(generation_number: int, shop_serial: int) -> Snapshot:
    return Snapshot(
        generation=generation_number,
        epoch=0,
        key_id="k",
        policies=(_served("payments", 1), _served("shop", shop_serial)),
        tenant_of_namespace=NAMESPACES,
        problems=(),
    )


def test_a_change_wakes_its_tenants_streams_and_the_unlocated_ones(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'hub.db'}")
    migrate(database)
    builder = _Builder()
    hub = ConfigHub(builder, database, poll_interval=3600)  # type: ignore[arg-type]
    woken: list[tuple[str, frozenset[str] | None]] = []

    def listener(name: str) -> Any:
        return lambda tenants: woken.append((name, tenants))

    payments, shop, unlocated = listener("payments"), listener("shop"), listener("unlocated")

    async def scenario() -> None:
        with database.read() as session:
            first = generation.current(session)
        builder.next = _snapshot(first, shop_serial=2)
        await hub.refresh()
        for item, namespace in ((payments, "payments"), (shop, "shop"), (unlocated, None)):
            hub.subscribe(item)
            hub.locate(item, namespace)
        with database.write() as session:
            generation.bump(session)
        builder.next = _snapshot(first + 1, shop_serial=3)
        assert await hub.refresh()
        await asyncio.sleep(0.05)  # the fan-out runs on a task of its own

    asyncio.run(scenario())
    assert sorted(woken) == [("shop", frozenset({"shop"})), ("unlocated", frozenset({"shop"}))]
    hub.unsubscribe(shop)
    assert hub.stream_count == 2
    database.dispose()
