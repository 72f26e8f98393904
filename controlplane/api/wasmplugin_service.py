"""Signed configs for Istio-managed delivery: a policy's filters as WasmPlugins whose
`pluginConfig` is the signed bundle (see controlplane.packaging.signed_wasmplugin).

Configs delivered this way are static: nobody re-signs them, so the caller states how long
they hold, and renders again before they expire. Each rendering is signed with the
control plane's active key (as ECDS configs are) and recorded in the audit log.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from controlplane.api.context import ServiceContext
from controlplane.api.policy_service import load_visible
from controlplane.api.problems import Problem
from controlplane.auth.principal import Principal
from controlplane.packaging import signed_wasmplugin
from controlplane.packaging.signed_wasmplugin import SignedPlugin, WasmPluginError
from controlplane.policy.compile import FilterName, compile_filter_config, filters_for
from controlplane.policy.filter_config import FilterConfigError
from controlplane.policy.model import Policy, Targets
from controlplane.storage import audit, modules, policies, signing_keys
from controlplane.storage.modules import ModuleInfo
from controlplane.trust.config_statement import ModuleIdentity
from controlplane.trust.dsse import Envelope
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import PublicKey, Signer
from controlplane.xds.resources import module_url
from controlplane.xds.statement import StatementInput, sign_filter_config

VALIDITY_MIN = 3600
VALIDITY_MAX = 90 * 24 * 3600


@dataclass(frozen=True)
class ModuleSource:
    """Where Istio fetches a filter's module: an `oci://` image and its manifest digest
    (`meshveil package --oci`), or by default this control plane's module endpoint."""

    url: str
    sha256: str


@dataclass(frozen=True)
class RenderRequest:
    validity: int
    sources: dict[str, ModuleSource]
    """Filter name -> module source, for the filters not fetched from this control plane."""


def render_wasmplugins(
    context: ServiceContext, principal: Principal, policy_id: str, request: RenderRequest
) -> list[dict[str, Any]]:
    if not VALIDITY_MIN <= request.validity <= VALIDITY_MAX:
        raise Problem(422, f"validity_seconds: must be between {VALIDITY_MIN} and {VALIDITY_MAX}")
    with context.database.read() as session:
        row = load_visible(session, principal, policy_id)
        version = policies.get_version(session, row)
        assert version is not None, "a live policy always has its latest version"
        latest_modules = modules.latest_by_name(session)
        key_row = signing_keys.active(session)
    if key_row is None:
        raise Problem(409, "the control plane has no active signing key")
    policy = Policy.model_validate(version.document)
    unknown = sorted(set(request.sources) - {name.value for name in filters_for(policy)})
    if unknown:
        raise Problem(422, f"modules: this policy configures no filter named {', '.join(unknown)}")
    # Compiled and signed outside any write transaction: signing takes a while, and the
    # audit event below is the only write.
    try:
        selectors = signed_wasmplugin.deliverable_selectors(policy.targets.workloads)
        signing = _Signing(
            context,
            policy,
            version.serial,
            latest_modules,
            request,
            int(time.time()),
            context.keyring.signer(PublicKey(key_row.name, key_row.public_key)),
        )
        rendered = [
            signed_wasmplugin.render(signing.plugin(filter_name, index))
            for filter_name in filters_for(policy)
            for index in range(len(selectors))
        ]
    except (WasmPluginError, FilterConfigError) as error:
        raise Problem(422, str(error), kind="not-deliverable") from error
    except TrustError as error:
        raise Problem(409, f"cannot sign: {error}") from error
    with context.database.write() as session:
        audit.record(
            session,
            principal.actor(),
            "policy.wasmplugin",
            "policy",
            version.policy_id,
            tenant=version.tenant,
            after_hash=version.content_hash,
            detail={
                "name": version.name,
                "version": version.version,
                "wasmplugins": [item["metadata"]["name"] for item in rendered],
                "issued_at": signing.issued_at,
                "expires": signing.issued_at + request.validity,
            },
        )
    return rendered


@dataclass(frozen=True)
class _Signing:
    """What every WasmPlugin of one rendering shares."""

    context: ServiceContext
    policy: Policy
    serial: int
    modules: dict[str, ModuleInfo]
    request: RenderRequest
    issued_at: int
    signer: Signer

    def plugin(self, filter_name: FilterName, index: int) -> SignedPlugin:
        module = self.modules.get(filter_name.value)
        if module is None:
            raise WasmPluginError(f"no module named {filter_name.value} has been uploaded")
        selectors = self.policy.targets.workloads
        selector = selectors[index]
        name = signed_wasmplugin.wasmplugin_name(self.policy.name, filter_name, index, len(selectors))
        trust_root = self.context.trust_root
        trust: tuple[Envelope, ...] = ()
        if trust_root is not None and module.trust_version is not None:
            trust = trust_root.statements_after(module.trust_version)
        item = StatementInput(
            plugin=signed_wasmplugin.plugin_name(selector.namespace, name),
            version=self.serial,
            issued_at=self.issued_at,
            validity=self.request.validity,
            module=ModuleIdentity(module.name, module.build_id, module.sha256),
            targets=Targets(workloads=(selector,)),
            # No keys: a WasmPlugin is readable by whoever may read it in the cluster, so keyed
            # masks compile to labelled redactions and a behaviour section (which needs its
            # identity key) is refused as not deliverable; ECDS delivery carries the keys.
            config=compile_filter_config(self.policy, filter_name),
        )
        source = self.request.sources.get(filter_name.value) or ModuleSource(
            module_url(self.context.module_base_url, module.sha256), module.sha256
        )
        return SignedPlugin(
            name=name,
            selector=selector,
            filter_name=filter_name,
            url=source.url,
            sha256=source.sha256,
            failure=self.policy.failure,
            bundle=sign_filter_config(item, self.signer, trust),
        )
