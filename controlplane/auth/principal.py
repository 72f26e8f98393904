"""The caller of a request, as its token describes it."""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.auth.roles import ALL_TENANTS, ROLE_PERMISSIONS, Permission, Role
from controlplane.storage.audit import Actor


@dataclass(frozen=True)
class Principal:
    token_id: str
    name: str
    role: Role
    tenants: frozenset[str]

    @property
    def all_tenants(self) -> bool:
        return ALL_TENANTS in self.tenants

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees(self, tenant: str) -> bool:
        return self.all_tenants or tenant in self.tenants

    def tenant_scope(self) -> frozenset[str] | None:
        """The tenants this caller may see, or None for all of them."""
        return None if self.all_tenants else self.tenants

    def actor(self) -> Actor:
        return Actor(subject=f"token:{self.token_id}:{self.name}", role=self.role.value)
