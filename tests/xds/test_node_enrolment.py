"""Served nodes' derived credentials are written in the background; the nodes waiting to
be written are bounded, and one turned away is written when it is served again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.storage.database import Database
from controlplane.telemetry import nodes
from controlplane.telemetry.nodes import Enrolment
from controlplane.xds.enrolment import NodeEnroller
from tests.storage.databases import sqlite_with_tenant


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    with sqlite_with_tenant(tmp_path, "shop") as database:
        yield database


def served(index: int) -> Enrolment:
    node_id = f"sidecar~10.0.0.{index}~checkout-{index}.shop~shop.svc.cluster.local"
    return Enrolment(node_id=node_id, tenant="shop", service="checkout", token_hash=f"hash-{index}")


def written(database: Database, count: int) -> list[bool]:
    with database.read() as session:
        return [nodes.get(session, served(index).node_id) is not None for index in range(count)]


def test_waiting_nodes_are_bounded_and_a_turned_away_one_is_written_when_served_again(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    enroller = NodeEnroller(database, pending_max=3)

    async def scenario() -> None:
        # Noted before the writer runs, as while the database is unreachable.
        for index in range(5):
            enroller.note(served(index))
        enroller.start()
        await enroller.written()
        assert written(database, 5) == [True, True, True, False, False]
        for index in range(5):
            enroller.note(served(index))
        await enroller.written()
        await enroller.stop()

    asyncio.run(scenario())
    assert written(database, 5) == [True] * 5
    warnings = [record for record in caplog.records if "wait to be written" in record.getMessage()]
    assert len(warnings) == 1
