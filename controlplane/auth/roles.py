"""Roles and the permissions each one has.

admin: everything, including tenants, tokens, modules and keys.
policy-author: writes policies and rollouts of its tenants; cannot read telemetry detail.
analyst: reads policies, rollouts and telemetry detail; cannot change a policy.
read-only: reads policies, rollouts and the audit log; nothing else.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    POLICY_AUTHOR = "policy-author"
    ANALYST = "analyst"
    READ_ONLY = "read-only"


class Permission(StrEnum):
    POLICY_READ = "policy.read"
    POLICY_WRITE = "policy.write"
    POLICY_DRY_RUN = "policy.dry-run"
    ROLLOUT_READ = "rollout.read"
    ROLLOUT_WRITE = "rollout.write"
    TELEMETRY_READ = "telemetry.read"
    AUDIT_READ = "audit.read"
    MODULE_READ = "module.read"
    MODULE_WRITE = "module.write"
    KEY_READ = "key.read"
    KEY_ROTATE = "key.rotate"
    TENANT_MANAGE = "tenant.manage"
    TOKEN_MANAGE = "token.manage"  # noqa: S105 - a permission name


_READ = frozenset(
    {
        Permission.POLICY_READ,
        Permission.ROLLOUT_READ,
        Permission.AUDIT_READ,
        Permission.MODULE_READ,
        Permission.KEY_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.POLICY_AUTHOR: _READ
    | {Permission.POLICY_WRITE, Permission.POLICY_DRY_RUN, Permission.ROLLOUT_WRITE},
    Role.ANALYST: _READ | {Permission.POLICY_DRY_RUN, Permission.TELEMETRY_READ},
    Role.READ_ONLY: _READ,
}

ALL_TENANTS = "*"
"""A token scoped to every tenant; only admin tokens may carry it."""
