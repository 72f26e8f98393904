"""What every node should run, built from storage in one read transaction.

A snapshot holds, for each live policy version, one signed resource per filter it
configures. A node gets the resources of the highest-priority policy of its own tenant
that selects it; a policy never reaches a node of another tenant, whatever it targets.
Signed resources are cached by (version, filter, module, signing epoch, key): rebuilding
after an unrelated change re-signs nothing, and every replica signs the same bytes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from envoy_data_plane.envoy.config.core.v3 import TypedExtensionConfig
from envoy_data_plane.google.protobuf import Any as AnyMessage

from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector
from controlplane.policy.compile import FilterName, compile_filter_config, filters_for
from controlplane.policy.model import Policy, Targets
from controlplane.storage import generation, modules, policies, signing_keys, tenants
from controlplane.storage.database import Database
from controlplane.storage.modules import ModuleInfo
from controlplane.storage.policies import PolicyVersion
from controlplane.trust.config_statement import ModuleIdentity
from controlplane.trust.dsse import Envelope
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import PublicKey
from controlplane.trust.trust_root import TrustRoot
from controlplane.xds.keyring import KeyRing
from controlplane.xds.node import NodeIdentity
from controlplane.xds.resources import build_extension_config
from controlplane.xds.statement import StatementInput, sign_filter_config

LOG = logging.getLogger(__name__)
NODE_CACHE_MAX = 100_000


@dataclass(frozen=True)
class ResourceSettings:
    module_base_url: str
    module_cluster: str
    config_validity: int
    resign_interval: int


@dataclass(frozen=True)
class ServedResource:
    name: str
    version: str
    tenant: str
    policy_id: str
    policy_name: str
    policy_version: int
    serial: int
    message: TypedExtensionConfig
    any_bytes: bytes
    """The serialized google.protobuf.Any, ready to go into any response."""


@dataclass(frozen=True)
class ServedPolicy:
    version: PolicyVersion
    policy: Policy
    resources: dict[str, ServedResource]


def selects(targets: Targets, node: NodeIdentity) -> bool:
    if node.node_id in targets.nodes:
        return True
    labels = node.label_map()
    for selector in targets.workloads:
        if selector.namespace != node.namespace:
            continue
        if selector.service_account is not None and selector.service_account != node.service_account:
            continue
        if all(labels.get(key) == value for key, value in selector.labels.items()):
            return True
    return False


@dataclass(frozen=True)
class Snapshot:
    generation: int
    epoch: int
    key_id: str | None
    policies: tuple[ServedPolicy, ...]
    tenant_of_namespace: dict[str, str]
    problems: tuple[str, ...]
    _resolved: dict[NodeIdentity, dict[str, ServedResource]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def tenant_of(self, node: NodeIdentity) -> str | None:
        return self.tenant_of_namespace.get(node.namespace) if node.namespace else None

    def resolve(self, node: NodeIdentity) -> dict[str, ServedResource]:
        """Resource name -> what this node should run."""
        cached = self._resolved.get(node)
        if cached is not None:
            return cached
        tenant = self.tenant_of(node)
        chosen: dict[str, ServedResource] = {}
        if tenant is not None:
            candidates = [
                served
                for served in self.policies
                if served.version.tenant == tenant and selects(served.policy.targets, node)
            ]
            candidates.sort(key=lambda served: (-served.policy.priority, served.version.name))
            for served in candidates:
                for name, resource in served.resources.items():
                    chosen.setdefault(name, resource)
        if len(self._resolved) < NODE_CACHE_MAX:
            self._resolved[node] = chosen
        return chosen


EMPTY_SNAPSHOT = Snapshot(
    generation=-1, epoch=0, key_id=None, policies=(), tenant_of_namespace={}, problems=()
)


class SnapshotBuilder:
    def __init__(
        self,
        database: Database,
        keyring: KeyRing,
        settings: ResourceSettings,
        trust_root: TrustRoot | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._trust_root = trust_root
        self._database = database
        self._keyring = keyring
        self._settings = settings
        self._clock = clock
        self._signed: dict[tuple[int, str, str, int, str], ServedResource] = {}
        self._catalog: list[Detector] | None = None
        """The built-in detectors, parsed once: parsing them takes longer than compiling a policy."""

    def epoch(self) -> int:
        interval = self._settings.resign_interval
        return int(self._clock() // interval) * interval

    def build(self) -> Snapshot:
        epoch = self.epoch()
        with self._database.read() as session:
            current_generation = generation.current(session)
            versions = policies.active_versions(session)
            latest_modules = modules.latest_by_name(session)
            tenant_rows = tenants.list_all(session)
            key_row = signing_keys.active(session)
        tenant_of_namespace = {namespace: row.name for row in tenant_rows for namespace in row.namespaces}
        problems: list[str] = []
        served: list[ServedPolicy] = []
        key = PublicKey(key_row.name, key_row.public_key) if key_row is not None else None
        if key is None:
            problems.append("no active signing key; nothing can be served")
        signed_now: dict[tuple[int, str, str, int, str], ServedResource] = {}
        for version in versions:
            policy = Policy.model_validate(version.document)
            resources: dict[str, ServedResource] = {}
            for filter_name in filters_for(policy) if key is not None else ():
                module = latest_modules.get(filter_name.value)
                if module is None:
                    problems.append(
                        f"policy {version.tenant}/{version.name} v{version.version}: "
                        f"no module named {filter_name.value} has been uploaded"
                    )
                    continue
                assert key is not None
                cache_key = (version.serial, filter_name.value, module.sha256, epoch, key.key_id)
                resource = self._signed.get(cache_key)
                if resource is None:
                    try:
                        resource = self._sign(version, policy, filter_name, module, key=key, epoch=epoch)
                    except TrustError as error:
                        # One policy that cannot be signed must not stop the others being served.
                        problems.append(f"policy {version.tenant}/{version.name} v{version.version}: {error}")
                        continue
                signed_now[cache_key] = resource
                resources[filter_name.value] = resource
            served.append(ServedPolicy(version, policy, resources))
        self._signed = signed_now
        return Snapshot(
            generation=current_generation,
            epoch=epoch,
            key_id=key.key_id if key else None,
            policies=tuple(served),
            tenant_of_namespace=tenant_of_namespace,
            problems=tuple(problems),
        )

    def _detectors(self) -> list[Detector]:
        if self._catalog is None:
            self._catalog = builtin_catalog()
        return self._catalog

    def _sign(
        self,
        version: PolicyVersion,
        policy: Policy,
        filter_name: FilterName,
        module: ModuleInfo,
        *,
        key: PublicKey,
        epoch: int,
    ) -> ServedResource:
        item = StatementInput(
            plugin=filter_name.value,
            version=version.serial,
            issued_at=epoch,
            validity=self._settings.config_validity,
            module=ModuleIdentity(module.name, module.build_id, module.sha256),
            targets=policy.targets,
            config=compile_filter_config(policy, filter_name, catalog=self._detectors()),
        )
        trust: tuple[Envelope, ...] = ()
        if self._trust_root is not None and module.trust_version is not None:
            trust = self._trust_root.statements_after(module.trust_version)
        configuration = sign_filter_config(item, self._keyring.signer(key), trust)
        message = build_extension_config(
            resource_name=filter_name.value,
            tenant=version.tenant,
            module=module,
            allowed_capabilities=frozenset(module.capabilities),
            configuration=configuration,
            failure=policy.failure,
            module_base_url=self._settings.module_base_url,
            module_cluster=self._settings.module_cluster,
        )
        any_bytes = bytes(AnyMessage.pack(message))
        digest = hashlib.sha256(any_bytes).hexdigest()[:12]
        return ServedResource(
            name=filter_name.value,
            version=f"{version.serial}.{digest}",
            tenant=version.tenant,
            policy_id=version.policy_id,
            policy_name=version.name,
            policy_version=version.version,
            serial=version.serial,
            message=message,
            any_bytes=any_bytes,
        )


def _served_by_tenant(
    snapshot: Snapshot,
) -> dict[str, frozenset[tuple[str, int, tuple[tuple[str, str], ...]]]]:
    served: dict[str, set[tuple[str, int, tuple[tuple[str, str], ...]]]] = {}
    for item in snapshot.policies:
        versions = tuple(sorted((name, resource.version) for name, resource in item.resources.items()))
        served.setdefault(item.version.tenant, set()).add(
            (item.version.policy_id, item.version.serial, versions)
        )
    return {tenant: frozenset(entries) for tenant, entries in served.items()}


def changed_tenants(before: Snapshot, after: Snapshot) -> frozenset[str] | None:
    """The tenants whose nodes may be served something else after the change; None when
    that could be anyone (new signing epoch or key, tenants' namespaces changed)."""
    if (before.epoch, before.key_id, before.tenant_of_namespace) != (
        after.epoch,
        after.key_id,
        after.tenant_of_namespace,
    ):
        return None
    old, new = _served_by_tenant(before), _served_by_tenant(after)
    return frozenset(tenant for tenant in old.keys() | new.keys() if old.get(tenant) != new.get(tenant))
