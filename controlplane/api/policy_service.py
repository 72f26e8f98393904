"""Policy changes: validate, check tenancy, write the version, audit it and bump the
config generation, all in one transaction; then tell this replica's streams."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.orm import Session

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.security import ensure_scoped, ensure_visible
from controlplane.auth.principal import Principal
from controlplane.policy.errors import FieldProblem, PolicyError
from controlplane.policy.load import load_policy
from controlplane.policy.model import Policy
from controlplane.storage import audit, generation, policies, tenants
from controlplane.storage.policies import NewVersion, PolicyConflictError, PolicyVersion, StaleVersionError
from controlplane.storage.tables import PolicyRow
from controlplane.trust.encoding import canonical_json


@dataclass(frozen=True)
class PolicyBody:
    raw: bytes
    media_type: str


def parse_policy(context: ServiceContext, body: PolicyBody) -> Policy:
    try:
        return load_policy(body.raw, body.media_type, context.detector_catalog)
    except PolicyError as error:
        status = 415 if error.problems[0].message.startswith("unsupported media type") else 422
        raise Problem(status, str(error), kind="invalid-policy", errors=error.problems) from error


def _check_tenant(session: Session, policy: Policy) -> None:
    row = tenants.get(session, policy.tenant)
    if row is None:
        raise Problem(
            422,
            "tenant: unknown tenant",
            kind="invalid-policy",
            errors=[FieldProblem("tenant", "unknown tenant")],
        )
    owned = set(row.namespaces)
    problems = [
        FieldProblem(
            f"targets.workloads[{index}].namespace", f"namespace is not part of tenant {policy.tenant!r}"
        )
        for index, selector in enumerate(policy.targets.workloads)
        if selector.namespace not in owned
    ]
    if problems:
        raise Problem(422, "; ".join(str(item) for item in problems), kind="invalid-policy", errors=problems)


def _new_version(
    policy: Policy, body: PolicyBody, principal: Principal, rollback_of: int | None = None
) -> NewVersion:
    document = policy.model_dump(mode="json")
    return NewVersion(
        document=document,
        source=body.raw.decode("utf-8"),
        media_type=body.media_type.split(";", 1)[0].strip(),
        content_hash=hashlib.sha256(canonical_json(document)).hexdigest(),
        created_by=principal.actor().subject,
        rollback_of=rollback_of,
    )


def create_policy(context: ServiceContext, principal: Principal, body: PolicyBody) -> PolicyVersion:
    policy = parse_policy(context, body)
    ensure_scoped(principal, policy.tenant)
    new = _new_version(policy, body, principal)
    with context.database.write() as session:
        _check_tenant(session, policy)
        try:
            version = policies.create(session, policy.tenant, policy.name, new)
        except PolicyConflictError as error:
            raise Problem(409, str(error), kind="policy-exists") from error
        _audit(session, principal, "policy.create", version, before=None)
        generation.bump(session)
    context.hub.publish()
    return version


def load_visible(
    session: Session, principal: Principal, policy_id: str, *, for_update: bool = False
) -> PolicyRow:
    row = policies.get(session, policy_id, for_update=for_update)
    if row is None:
        raise Problem(404, "policy not found")
    ensure_visible(principal, row.tenant, "policy")
    return row


def update_policy(
    context: ServiceContext,
    principal: Principal,
    policy_id: str,
    body: PolicyBody,
    expected_version: int | None,
) -> PolicyVersion:
    policy = parse_policy(context, body)
    new = _new_version(policy, body, principal)
    with context.database.write() as session:
        row = load_visible(session, principal, policy_id, for_update=True)
        mismatched = [
            FieldProblem(field, f"cannot change from {current!r}; create a new policy instead")
            for field, current, wanted in (
                ("tenant", row.tenant, policy.tenant),
                ("name", row.name, policy.name),
            )
            if current != wanted
        ]
        if mismatched:
            raise Problem(
                422, "; ".join(str(item) for item in mismatched), kind="invalid-policy", errors=mismatched
            )
        _check_tenant(session, policy)
        before = policies.latest_content_hash(session, row)
        try:
            version = policies.add_version(session, row, new, expected_version)
        except StaleVersionError as error:
            raise Problem(412, str(error), kind="stale-version") from error
        _audit(session, principal, "policy.update", version, before=before)
        generation.bump(session)
    context.hub.publish()
    return version


def rollback_policy(
    context: ServiceContext, principal: Principal, policy_id: str, to_version: int
) -> PolicyVersion:
    with context.database.write() as session:
        row = load_visible(session, principal, policy_id, for_update=True)
        target = policies.get_version(session, row, to_version)
        if target is None:
            raise Problem(404, f"policy version {to_version} not found")
        before = policies.latest_content_hash(session, row)
        policy = Policy.model_validate(target.document)
        body = PolicyBody(target.source.encode("utf-8"), target.media_type)
        version = policies.add_version(
            session, row, _new_version(policy, body, principal, rollback_of=to_version)
        )
        _audit(
            session, principal, "policy.rollback", version, before=before, detail={"to_version": to_version}
        )
        generation.bump(session)
    context.hub.publish()
    return version


def delete_policy(context: ServiceContext, principal: Principal, policy_id: str) -> None:
    with context.database.write() as session:
        row = load_visible(session, principal, policy_id, for_update=True)
        before = policies.get_version(session, row)
        policies.mark_deleted(row)
        audit.record(
            session,
            principal.actor(),
            "policy.delete",
            "policy",
            row.id,
            tenant=row.tenant,
            before=canonical_json(before.document) if before else None,
            detail={"name": row.name, "version": row.latest_version},
        )
        generation.bump(session)
    context.hub.publish()


def _audit(
    session: Session,
    principal: Principal,
    action: str,
    version: PolicyVersion,
    *,
    before: str | None,
    detail: dict[str, object] | None = None,
) -> None:
    """`before` is the previous latest version's content hash: a version's content hash is
    the SHA-256 of its canonical JSON document, which is what the audit log records."""
    audit.record(
        session,
        principal.actor(),
        action,
        "policy",
        version.policy_id,
        tenant=version.tenant,
        before_hash=before,
        after_hash=version.content_hash,
        detail={"name": version.name, "version": version.version, **(detail or {})},
    )
