"""Response bodies (pydantic), so /docs shows exactly what each endpoint returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from controlplane.storage.policies import PolicyVersion


class PolicyOut(BaseModel):
    id: str
    tenant: str
    name: str
    version: int
    serial: int = Field(description="monotonic across all policies; the version signed configs carry")
    content_hash: str
    created_at: datetime
    created_by: str
    rollback_of: int | None
    document: dict[str, Any]

    @classmethod
    def of(cls, version: PolicyVersion) -> PolicyOut:
        return cls(
            id=version.policy_id,
            tenant=version.tenant,
            name=version.name,
            version=version.version,
            serial=version.serial,
            content_hash=version.content_hash,
            created_at=version.created_at,
            created_by=version.created_by,
            rollback_of=version.rollback_of,
            document=version.document,
        )


class PolicyVersionSummary(BaseModel):
    version: int
    serial: int
    content_hash: str
    created_at: datetime
    created_by: str
    rollback_of: int | None


class FieldChangeOut(BaseModel):
    path: str
    kind: str
    before: Any
    after: Any


class PolicyDiffOut(BaseModel):
    policy_id: str
    from_version: int
    to_version: int
    changes: list[FieldChangeOut]


class RollbackIn(BaseModel):
    model_config = {"extra": "forbid"}
    version: int = Field(ge=1, description="the earlier version whose content becomes the new version")


class ModuleSourceIn(BaseModel):
    model_config = {"extra": "forbid"}
    url: str = Field(
        pattern=r"^(oci|https?)://\S+$",
        max_length=2048,
        description="oci://REGISTRY/REPOSITORY:TAG (`meshveil package --oci`) or an http(s) URL",
    )
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="for oci://, the image manifest digest; else the module's"
    )


class WasmPluginsIn(BaseModel):
    model_config = {"extra": "forbid"}
    validity_seconds: int = Field(
        default=7 * 24 * 3600,
        description="how long the signed configs hold (1 hour to 90 days); render again before then",
    )
    modules: dict[str, ModuleSourceIn] = Field(
        default_factory=dict,
        description="filter name -> where Istio fetches its module (default: this control plane)",
    )


class NodeStatusOut(BaseModel):
    node_id: str
    resource: str
    served_version: str | None
    acked_version: str | None
    nacked_version: str | None
    error_detail: str | None
    state: str = Field(description="acked, nacked or pending")
    updated_at: datetime
    replica_id: str


class RolloutOut(BaseModel):
    policy_id: str
    tenant: str
    name: str
    version: int
    serial: int
    resources: dict[str, str] = Field(description="filter resource name -> version being served")
    targets: dict[str, Any]
    nodes: list[NodeStatusOut]
    acked: int
    nacked: int
    pending: int


class ModuleOut(BaseModel):
    sha256: str
    name: str
    size: int
    capabilities: list[str]
    signed_by: str | None
    build_id: str
    trust_version: int | None
    uploaded_at: datetime
    uploaded_by: str
    url: str


class KeyOut(BaseModel):
    key_id: str
    name: str
    public_key_pem: str
    state: str
    created_at: datetime
    retired_at: datetime | None


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    role: str
    tenant: str | None
    action: str
    object_type: str
    object_id: str
    before_hash: str | None
    after_hash: str | None
    detail: dict[str, Any]


class TenantIn(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    namespaces: list[str] = Field(min_length=1, max_length=256)


class TenantOut(BaseModel):
    name: str
    namespaces: list[str]
    created_at: datetime


class TokenIn(BaseModel):
    model_config = {"extra": "forbid"}
    name: str = Field(min_length=1, max_length=128)
    role: str
    tenants: list[str] = Field(min_length=1, max_length=64)


class TokenOut(BaseModel):
    id: str
    name: str
    role: str
    tenants: list[str]
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="shown once; only its SHA-256 is stored")
