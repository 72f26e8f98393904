"""Who a sidecar is: its Envoy node (id, metadata) and, over mTLS, its SPIFFE id.

Istio writes the workload's namespace and labels into node metadata (NAMESPACE, LABELS);
plain Envoy bootstraps can do the same. Metadata is the node's own claim, so when the
connection carries a verified SPIFFE id its namespace and service account win, and a node
claiming another namespace is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.xds.spiffe import SpiffeId

NAMESPACE_KEY = "NAMESPACE"
LABELS_KEY = "LABELS"
SERVICE_ACCOUNT_KEY = "SERVICE_ACCOUNT"


class NodeIdentityError(ValueError):
    """The node's claims contradict its verified identity."""


@dataclass(frozen=True)
class NodeIdentity:
    node_id: str
    namespace: str | None
    labels: tuple[tuple[str, str], ...]
    service_account: str | None
    spiffe_id: str | None

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


def identify(node_id: str, metadata: Mapping[str, Any], spiffe: SpiffeId | None) -> NodeIdentity:
    claimed_namespace = metadata.get(NAMESPACE_KEY)
    namespace = claimed_namespace if isinstance(claimed_namespace, str) and claimed_namespace else None
    raw_labels = metadata.get(LABELS_KEY)
    labels = {}
    if isinstance(raw_labels, Mapping):
        labels = {str(key): str(value) for key, value in raw_labels.items() if isinstance(value, str)}
    service_account = metadata.get(SERVICE_ACCOUNT_KEY)
    service_account = service_account if isinstance(service_account, str) and service_account else None
    if spiffe is not None:
        if namespace is not None and namespace != spiffe.namespace:
            raise NodeIdentityError(
                f"node {node_id!r} claims namespace {namespace!r} but its certificate is {spiffe.uri}"
            )
        namespace = spiffe.namespace
        service_account = spiffe.service_account
    return NodeIdentity(
        node_id=node_id,
        namespace=namespace,
        labels=tuple(sorted(labels.items())),
        service_account=service_account,
        spiffe_id=spiffe.uri if spiffe is not None else None,
    )
