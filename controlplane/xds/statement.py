"""The signed config each filter receives, in the trust package's format.

The statement binds the compiled config to a monotonic version (storage's serial, which
grows across every policy version), a validity window, the module (name, build id,
sha256) and the targets; `sign_config` wraps it in a DSSE envelope inside the bundle
that is the plugin configuration. Ed25519 signatures are deterministic and the window
starts at the signing epoch, so every replica produces the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.policy.model import Targets
from controlplane.trust.config_statement import (
    WILDCARD,
    ConfigStatement,
    ModuleIdentity,
    Workload,
    sign_config,
)
from controlplane.trust.config_statement import Targets as SignedTargets
from controlplane.trust.dsse import Envelope
from controlplane.trust.keys import Signer


@dataclass(frozen=True)
class StatementInput:
    plugin: str
    version: int
    issued_at: int
    validity: int
    module: ModuleIdentity
    targets: Targets
    config: bytes


def signed_targets(targets: Targets) -> SignedTargets:
    """Workloads are selected by labels here; the filter's own check is by namespace (any
    workload in it), the control plane having already chosen which sidecars get the config."""
    namespaces = sorted({selector.namespace for selector in targets.workloads})
    return SignedTargets(
        nodes=tuple(targets.nodes), workloads=tuple(Workload(namespace, WILDCARD) for namespace in namespaces)
    )


def sign_filter_config(item: StatementInput, signer: Signer, trust: tuple[Envelope, ...]) -> bytes:
    statement = ConfigStatement(
        plugin=item.plugin,
        version=item.version,
        issued_at=item.issued_at,
        expires=item.issued_at + item.validity,
        module=item.module,
        targets=signed_targets(item.targets),
        key_ids=(signer.public_key.key_id,),
        config=item.config,
    )
    return sign_config(statement, [signer], trust)
