"""A process killed in the middle of applying a policy leaves the previous version served."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from controlplane.storage import generation, policies
from controlplane.storage.database import migrate, open_database
from controlplane.storage.policies import NewVersion
from controlplane.storage.tenants import create as create_tenant

_KILL_MID_APPLY = textwrap.dedent(
    """
    import os, sys
    from controlplane.storage import audit, generation, policies
    from controlplane.storage.database import open_database
    from controlplane.storage.policies import NewVersion

    database = open_database(sys.argv[1])
    with database.write() as session:
        row = policies.get(session, sys.argv[2], for_update=True)
        policies.add_version(session, row, NewVersion({"v": 2}, "v: 2", "application/yaml", "h2", "crasher"))
        actor = audit.Actor("crasher", "admin")
        audit.record(session, actor, "policy.update", "policy", row.id, tenant=row.tenant)
        generation.bump(session)
        session.flush()
        os._exit(9)  # killed before COMMIT, with the new version written but not committed
    """
)


def test_killed_apply_leaves_the_old_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meshveil.db'}"
    database = open_database(url)
    migrate(database)
    with database.write() as session:
        create_tenant(session, "payments", ["payments"])
        first = policies.create(
            session, "payments", "p", NewVersion({"v": 1}, "v: 1", "application/yaml", "h1", "me")
        )
        generation.bump(session)
    with database.read() as session:
        generation_before = generation.current(session)
    database.dispose()

    crashed = subprocess.run([sys.executable, "-c", _KILL_MID_APPLY, url, first.policy_id], check=False)
    assert crashed.returncode == 9

    reopened = open_database(url)
    with reopened.read() as session:
        served = policies.active_versions(session)
        assert [(item.policy_id, item.version, item.document) for item in served] == [
            (first.policy_id, 1, {"v": 1})
        ]
        assert generation.current(session) == generation_before
    with reopened.write() as session:
        row = policies.get(session, first.policy_id, for_update=True)
        assert row is not None
        second = policies.add_version(
            session, row, NewVersion({"v": 2}, "v: 2", "application/yaml", "h2", "me")
        )
    assert second.version == 2
    reopened.dispose()
