"""Signed config bundles for tests: one good config, and a way to vary any part of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from controlplane.trust.config_statement import (
    ConfigStatement,
    ModuleIdentity,
    Targets,
    Workload,
    sign_config,
)
from controlplane.trust.config_verification import FilterFacts
from controlplane.trust.dsse import Envelope
from controlplane.trust.keys import Signer
from tests.trust.conftest import NOW, KeyRing

NODE_ID = "sidecar~10.1.2.3~checkout-7d9f.shop~shop.svc.cluster.local"
HOUR = 3600


@dataclass(frozen=True)
class Target:
    """Who the filter is: the facts a test host gives it, and the statement that fits them."""

    module: str
    build_id: str
    sha256: str = "0" * 64
    plugin: str = "dlp-inbound"
    node_id: str = NODE_ID
    namespace: str = "shop"
    workload: str = "checkout"

    def facts(self, now: int = NOW) -> FilterFacts:
        return FilterFacts(
            self.module, self.build_id, now, self.node_id, self.namespace, self.workload, self.plugin
        )

    def statement(
        self, version: int, config: bytes, signers: Sequence[Signer], **changes: object
    ) -> ConfigStatement:
        statement = ConfigStatement(
            plugin=self.plugin,
            version=version,
            issued_at=NOW - 60,
            expires=NOW + HOUR,
            module=ModuleIdentity(self.module, self.build_id, self.sha256),
            targets=Targets(workloads=(Workload(self.namespace, self.workload),)),
            key_ids=tuple(signer.public_key.key_id for signer in signers),
            config=config,
        )
        return replace(statement, **changes)  # type: ignore[arg-type]


def bundle(
    target: Target,
    key_ring: KeyRing,
    version: int,
    config: bytes,
    signers: Sequence[str] = ("release-1", "release-2"),
    trust: Sequence[Envelope] = (),
    **changes: object,
) -> bytes:
    keys = [key_ring[name] for name in signers]
    return sign_config(target.statement(version, config, keys, **changes), keys, trust)
