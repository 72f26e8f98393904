"""What SotW and delta streams share: who the node is, what it should get, and what it
ACKed or rejected (a NACKed version is not sent to that node again; it keeps the last
version it ACKed until a newer one exists)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from envoy_data_plane.envoy.config.core.v3 import Node

from controlplane.storage.node_status import NodeEvent
from controlplane.xds.acks import AckRecorder
from controlplane.xds.node import NodeIdentity, identify
from controlplane.xds.snapshot import ServedResource, Snapshot
from controlplane.xds.spiffe import SpiffeId
from controlplane.xds.type_urls import TYPED_EXTENSION_CONFIG


class ProtocolError(ValueError):
    """A request that breaks the protocol; the stream ends with INVALID_ARGUMENT."""


class IdentityRefused(ValueError):  # noqa: N818 - a refusal, named as one
    """A node whose claims contradict its certificate; the stream ends with PERMISSION_DENIED."""


@dataclass
class NodeRecord:
    acked: dict[str, ServedResource] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)


class NodeMemory:
    """What each node ACKed and rejected, kept across its reconnects (least recent evicted)."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._records: OrderedDict[str, NodeRecord] = OrderedDict()
        self._capacity = capacity

    def get(self, node_id: str) -> NodeRecord:
        record = self._records.get(node_id)
        if record is None:
            record = self._records[node_id] = NodeRecord()
            if len(self._records) > self._capacity:
                self._records.popitem(last=False)
        self._records.move_to_end(node_id)
        return record


@dataclass(frozen=True)
class StreamContext:
    stream_id: str
    spiffe: SpiffeId | None
    snapshot: Callable[[], Snapshot]
    recorder: AckRecorder
    memory: NodeMemory


class SessionBase:
    type_url = TYPED_EXTENSION_CONFIG

    def __init__(self, context: StreamContext) -> None:
        self._context = context
        self.node: NodeIdentity | None = None
        self.acked: dict[str, ServedResource] = {}
        self.rejected: dict[str, str] = {}
        """Replaced by the node's shared record once the node is known."""
        self._nonce_counter = 0
        self.aggregated = False
        """Over ADS, requests for other types are someone else's and are ignored."""

    def _identify(self, node: Node | None) -> NodeIdentity:
        if self.node is not None:
            return self.node
        if node is None or not node.id:
            raise ProtocolError("the first request of a stream must carry node.id")
        metadata = node.metadata.to_dict() if node.metadata is not None else {}
        try:
            self.node = identify(node.id, metadata, self._context.spiffe)
        except ValueError as error:
            raise IdentityRefused(str(error)) from error
        record = self._context.memory.get(self.node.node_id)
        self.acked, self.rejected = record.acked, record.rejected
        return self.node

    def affected_by(self, tenants: frozenset[str] | None) -> bool:
        """Whether a change to `tenants` (None: to anything) can change what this node gets."""
        if self.node is None:
            return False
        return tenants is None or self._context.snapshot().tenant_of(self.node) in tenants

    def _serves(self, type_url: str) -> bool:
        if not type_url or type_url == self.type_url:
            return True
        if self.aggregated:
            return False
        raise ProtocolError(f"this stream serves {self.type_url}, not {type_url}")

    def _next_nonce(self) -> str:
        self._nonce_counter += 1
        return f"{self._context.stream_id}-{self._nonce_counter}"

    def desired(self, names: frozenset[str] | None) -> dict[str, ServedResource]:
        """What this node should run now, for `names` (None: everything it is given)."""
        assert self.node is not None
        resolved = self._context.snapshot().resolve(self.node)
        chosen: dict[str, ServedResource] = {}
        for name, resource in resolved.items():
            if names is not None and name not in names:
                continue
            if self.rejected.get(name) == resource.version:
                fallback = self.acked.get(name)
                if fallback is not None:
                    chosen[name] = fallback
                continue
            chosen[name] = resource
        return chosen

    def _event(self, resource: ServedResource, **fields: str | None) -> NodeEvent:
        assert self.node is not None
        return NodeEvent(
            node_id=self.node.node_id,
            resource_name=resource.name,
            tenant=resource.tenant,
            policy_id=resource.policy_id,
            served_version=fields.get("served_version"),
            acked_version=fields.get("acked_version"),
            nacked_version=fields.get("nacked_version"),
            error_detail=fields.get("error_detail"),
        )

    def _record_served(self, resources: dict[str, ServedResource]) -> None:
        for resource in resources.values():
            self._context.recorder.record(self._event(resource, served_version=resource.version))

    def _record_ack(self, resources: dict[str, ServedResource]) -> None:
        for name, resource in resources.items():
            self.acked[name] = resource
            self.rejected.pop(name, None)
            self._context.recorder.record(self._event(resource, acked_version=resource.version))

    def _record_nack(self, resources: dict[str, ServedResource], error: str) -> None:
        for name, resource in resources.items():
            self.rejected[name] = resource.version
            self._context.recorder.record(
                self._event(resource, nacked_version=resource.version, error_detail=error)
            )


def describe_status(code: int, message: str) -> str:
    """Envoy's error_detail (a google.rpc.Status) as one line for the rollout view."""
    return f"code {code}: {message}" if message else f"code {code}"
