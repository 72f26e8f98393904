"""/v1/rollouts: which nodes run which version of each policy, with ACK/NACK detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from controlplane.api import policy_service
from controlplane.api.context import ServiceContext
from controlplane.api.schemas import NodeStatusOut, RolloutOut
from controlplane.api.security import require, service
from controlplane.auth.principal import Principal
from controlplane.auth.roles import Permission
from controlplane.storage import node_status, policies
from controlplane.storage.clock import as_utc
from controlplane.storage.tables import NodeStatusRow, PolicyRow
from controlplane.xds.snapshot import Snapshot

router = APIRouter(prefix="/v1/rollouts", tags=["rollouts"])

Context = Annotated[ServiceContext, Depends(service)]
Reader = Annotated[Principal, Depends(require(Permission.ROLLOUT_READ))]


def _state(row: NodeStatusRow) -> str:
    if row.nacked_version is not None and row.nacked_version == row.served_version:
        return "nacked"
    if row.acked_version is not None and row.acked_version == row.served_version:
        return "acked"
    return "pending"


def _rollout(session: Session, snapshot: Snapshot, row: PolicyRow) -> RolloutOut:
    version = policies.get_version(session, row)
    assert version is not None
    served = next((item for item in snapshot.policies if item.version.policy_id == row.id), None)
    resources = {name: resource.version for name, resource in served.resources.items()} if served else {}
    nodes = [
        NodeStatusOut(
            node_id=item.node_id,
            resource=item.resource_name,
            served_version=item.served_version,
            acked_version=item.acked_version,
            nacked_version=item.nacked_version,
            error_detail=item.error_detail,
            state=_state(item),
            updated_at=as_utc(item.updated_at),
            replica_id=item.replica_id,
        )
        for item in node_status.list_for(session, frozenset({row.tenant}), row.id)
    ]
    return RolloutOut(
        policy_id=row.id,
        tenant=row.tenant,
        name=row.name,
        version=version.version,
        serial=version.serial,
        resources=resources,
        targets=version.document.get("targets", {}),
        nodes=nodes,
        acked=sum(1 for node in nodes if node.state == "acked"),
        nacked=sum(1 for node in nodes if node.state == "nacked"),
        pending=sum(1 for node in nodes if node.state == "pending"),
    )


@router.get("", response_model=list[RolloutOut])
def list_rollouts(context: Context, principal: Reader) -> list[RolloutOut]:
    context.hub.wait_settled()
    snapshot = context.hub.snapshot
    with context.database.read() as session:
        return [
            _rollout(session, snapshot, row)
            for row in policies.list_policies(session, principal.tenant_scope())
        ]


@router.get("/{policy_id}", response_model=RolloutOut)
def get_rollout(policy_id: str, context: Context, principal: Reader) -> RolloutOut:
    context.hub.wait_settled()
    snapshot = context.hub.snapshot
    with context.database.read() as session:
        row = policy_service.load_visible(session, principal, policy_id)
        return _rollout(session, snapshot, row)
