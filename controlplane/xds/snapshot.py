"""What every node should run, built from storage in one read transaction.

A snapshot holds, for each live policy version, one signed resource per filter it
configures. A node gets the resources of the highest-priority policy of its own tenant
that selects it; a policy never reaches a node of another tenant, whatever it targets.
Signed resources are cached by (version, filter, module, signing epoch, key): rebuilding
after an unrelated change re-signs nothing, and every replica signs the same bytes.
With a node sink, the DLP and UEBA resources a node gets are signed for that node (its own
telemetry credential inside; `node_sink`), lazily when the node is resolved, and cached
per node the same way.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from envoy_data_plane.envoy.config.core.v3 import TypedExtensionConfig
from envoy_data_plane.google.protobuf import Any as AnyMessage

from controlplane.detectors.loader import builtin_catalog
from controlplane.detectors.model import Detector
from controlplane.policy.compile import FilterName, compile_filter_config, filters_for
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.mask_keys import KeySource
from controlplane.policy.model import Policy, Targets
from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.storage import generation, modules, policies, signing_keys, tenants
from controlplane.storage.database import Database
from controlplane.storage.modules import ModuleInfo
from controlplane.storage.policies import PolicyVersion
from controlplane.telemetry.nodes import namespace_of
from controlplane.trust.config_statement import ModuleIdentity
from controlplane.trust.dsse import Envelope
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import PublicKey
from controlplane.trust.trust_root import TrustRoot
from controlplane.xds.keyring import KeyRing
from controlplane.xds.node import NodeIdentity
from controlplane.xds.node_sink import CacheKey, NodeResourceCache, NodeSink, NodeTemplate
from controlplane.xds.resources import build_extension_config
from controlplane.xds.statement import StatementInput, sign_filter_config

LOG = logging.getLogger(__name__)
NODE_CACHE_MAX = 100_000
TELEMETRY_FILTERS = frozenset({FilterName.DLP, FilterName.UEBA})
"""The filters that send events, so carry a telemetry sink (masking sends none)."""


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
    """For a resource signed for one node: the template's message (its credential a
    placeholder); `any_bytes` is what that node is served."""
    any_bytes: bytes
    """The serialized google.protobuf.Any, ready to go into any response."""
    template: NodeTemplate | None = field(default=None, compare=False, repr=False)
    """Set when each node gets this resource signed with its own telemetry credential; the
    resource itself (no sink) is what tools that run the policy without a node use."""
    sign: Callable[[bytes], ServedResource] | None = field(default=None, compare=False, repr=False)
    """Signs this resource with another config (a node's personalized template)."""


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
    personalize: Callable[[NodeIdentity, ServedResource], ServedResource] | None = field(
        default=None, compare=False, repr=False
    )
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
            if self.personalize is not None:
                chosen = {name: self.personalize(node, resource) for name, resource in chosen.items()}
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
        *,
        keys: Callable[[str], KeySource] | None = None,
        node_sink: NodeSink | None = None,
    ) -> None:
        self._trust_root = trust_root
        self._node_sink = node_sink
        self._per_node: NodeResourceCache[ServedResource] = NodeResourceCache(
            lambda resource: len(resource.any_bytes)
        )
        self._keys = keys
        """A tenant's keys for what its policies name by key_ref (none: keyed masks redact)."""
        self._database = database
        self._keyring = keyring
        self._settings = settings
        self._clock = clock
        self._signed: dict[CacheKey, ServedResource] = {}
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
            if self._node_sink is not None:
                self._node_sink.load_epochs(session)
        tenant_of_namespace = {namespace: row.name for row in tenant_rows for namespace in row.namespaces}
        problems: list[str] = []
        served: list[ServedPolicy] = []
        key = PublicKey(key_row.name, key_row.public_key) if key_row is not None else None
        if key is None:
            problems.append("no active signing key; nothing can be served")
        signed_now: dict[CacheKey, ServedResource] = {}
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
                        resource = self._sign(
                            version, policy, filter_name, module, key=key, epoch=epoch, cache_key=cache_key
                        )
                    except (TrustError, FilterConfigError) as error:
                        # One policy that cannot be signed must not stop the others being served.
                        problems.append(f"policy {version.tenant}/{version.name} v{version.version}: {error}")
                        continue
                signed_now[cache_key] = resource
                resources[filter_name.value] = resource
            served.append(ServedPolicy(version, policy, resources))
        self._signed = signed_now
        self._per_node.retain(signed_now.keys())
        return Snapshot(
            generation=current_generation,
            epoch=epoch,
            key_id=key.key_id if key else None,
            policies=tuple(served),
            tenant_of_namespace=tenant_of_namespace,
            problems=tuple(problems),
            personalize=self._personalize if self._node_sink is not None else None,
        )

    def _personalize(self, node: NodeIdentity, resource: ServedResource) -> ServedResource:
        """`resource` signed for `node`, with the node's own telemetry credential in it."""
        sink = self._node_sink
        template, sign = resource.template, resource.sign
        if sink is None or template is None or sign is None:
            return resource
        if not _may_hold_token(node, unverified_allowed=sink.unverified_nodes):
            return resource
        epoch = sink.epoch_of(node)
        key = (template.cache_key, node.node_id, epoch)
        personal = self._per_node.get(key)
        if personal is None:
            personal = sign(template.for_token(sink.token_for(node, resource.tenant, epoch)))
            self._per_node.put(key, personal)
        return personal

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
        cache_key: CacheKey,
    ) -> ServedResource:
        keys = self._keys(policy.tenant) if self._keys is not None else None

        def compiled(telemetry: TelemetrySink | None) -> bytes:
            return compile_filter_config(
                policy, filter_name, keys=keys, catalog=self._detectors(), telemetry=telemetry
            )

        trust: tuple[Envelope, ...] = ()
        if self._trust_root is not None and module.trust_version is not None:
            trust = self._trust_root.statements_after(module.trust_version)
        signer = self._keyring.signer(key)

        def signed_bundle(config: bytes) -> bytes:
            item = StatementInput(
                plugin=filter_name.value,
                version=version.serial,
                issued_at=epoch,
                validity=self._settings.config_validity,
                module=ModuleIdentity(module.name, module.build_id, module.sha256),
                targets=policy.targets,
                config=config,
            )
            return sign_filter_config(item, signer, trust)

        def served(bundle: bytes) -> ServedResource:
            message = build_extension_config(
                resource_name=filter_name.value,
                tenant=version.tenant,
                module=module,
                allowed_capabilities=frozenset(module.capabilities),
                configuration=bundle,
                failure=policy.failure,
                module_base_url=self._settings.module_base_url,
                module_cluster=self._settings.module_cluster,
            )
            return _served_resource(version, filter_name, message, bytes(AnyMessage.pack(message)))

        resource = served(signed_bundle(compiled(None)))
        sink = self._node_sink
        if sink is None or filter_name not in TELEMETRY_FILTERS:
            return resource
        template_config = compiled(sink.template_sink())
        template_bundle = signed_bundle(template_config)
        template_resource = served(template_bundle)

        def for_node(config: bytes) -> ServedResource:
            bundle = signed_bundle(config)
            # Serializing the Envoy messages costs more than signing; a node's bundle has the
            # template's length (same-length token and signature), so it takes its place in
            # the template's serialized bytes.
            any_bytes = _splice(template_resource.any_bytes, template_bundle, bundle)
            personal = (
                served(bundle) if any_bytes is None else replace(template_resource, any_bytes=any_bytes)
            )
            # The policy's resource version, then the node's own: the rollout view's versions
            # stay recognisable in what each node ACKs.
            digest = hashlib.sha256(personal.any_bytes).hexdigest()[:12]
            return replace(personal, version=f"{resource.version}.{digest}")

        template = NodeTemplate(template_config, sink.placeholder, cache_key)
        return replace(resource, template=template, sign=for_node)


def _served_resource(
    version: PolicyVersion, filter_name: FilterName, message: TypedExtensionConfig, any_bytes: bytes
) -> ServedResource:
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


def _splice(serialized: bytes, old: bytes, new: bytes) -> bytes | None:
    """`serialized` with its one occurrence of `old` replaced by `new` of the same length
    (length prefixes stay right); None when that does not hold."""
    if len(old) != len(new) or serialized.count(old) != 1:
        return None
    return serialized.replace(old, new)


def _may_hold_token(node: NodeIdentity, *, unverified_allowed: bool) -> bool:
    """A node credential goes only to a verified mTLS peer whose Istio node id names the
    peer's own namespace: without a certificate the node id is only the client's claim,
    and a workload must not collect the credentials of another namespace's nodes."""
    if node.spiffe_id is None:
        return unverified_allowed
    return namespace_of(node.node_id) == node.namespace


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
