"""Incremental (delta) xDS for ECDS (and delta ADS), as a transport-free state machine.

The client subscribes and unsubscribes by name and, on reconnect, says which versions
it already has (initial_resource_versions). Responses carry only resources whose version
the client does not have, plus removals; each is ACKed or NACKed by its nonce.
"""

from __future__ import annotations

from envoy_data_plane.envoy.service.discovery.v3 import DeltaDiscoveryRequest, DeltaDiscoveryResponse

from controlplane.xds.session import ProtocolError, SessionBase, StreamContext, describe_status
from controlplane.xds.snapshot import ServedResource
from controlplane.xds.wire import length_delimited

_RESPONSE_RESOURCES_FIELD = 2
_RESOURCE_VERSION_FIELD = 1
_RESOURCE_RESOURCE_FIELD = 2
_RESOURCE_NAME_FIELD = 3
MAX_PENDING_NONCES = 64


def encode_delta_response(
    system_version: str, nonce: str, type_url: str, resources: dict[str, ServedResource], removed: list[str]
) -> bytes:
    head = bytes(
        DeltaDiscoveryResponse(
            system_version_info=system_version, type_url=type_url, nonce=nonce, removed_resources=removed
        )
    )
    spliced = []
    for name, resource in sorted(resources.items()):
        body = (
            length_delimited(_RESOURCE_VERSION_FIELD, resource.version.encode("utf-8"))
            + length_delimited(_RESOURCE_RESOURCE_FIELD, resource.any_bytes)
            + length_delimited(_RESOURCE_NAME_FIELD, name.encode("utf-8"))
        )
        spliced.append(length_delimited(_RESPONSE_RESOURCES_FIELD, body))
    return head + b"".join(spliced)


class DeltaSession(SessionBase):
    def __init__(self, context: StreamContext) -> None:
        super().__init__(context)
        self.subscribed: set[str] = set()
        self.wildcard = False
        self.started = False
        self.client_versions: dict[str, str] = {}
        """Versions the client runs (from initial_resource_versions and ACKs)."""
        self.sent_versions: dict[str, str] = {}
        """Versions sent, ACKed or not: what the client will run unless it NACKs."""
        self.pending: dict[str, dict[str, ServedResource]] = {}

    def on_request(self, request: DeltaDiscoveryRequest) -> bytes | None:
        if not self._serves(request.type_url):
            return None
        self._identify(request.node)
        if request.response_nonce:
            self._settle(request)
        if not self.started:
            self.started = True
            self.wildcard = not request.resource_names_subscribe
            self.client_versions.update(request.initial_resource_versions)
            self.sent_versions.update(request.initial_resource_versions)
        self.subscribed |= set(request.resource_names_subscribe)
        for name in request.resource_names_unsubscribe:
            self.subscribed.discard(name)
            self.client_versions.pop(name, None)
            self.sent_versions.pop(name, None)
        return self._respond()

    def on_change(self) -> bytes | None:
        if not self.started:
            return None
        return self._respond()

    def _settle(self, request: DeltaDiscoveryRequest) -> None:
        sent = self.pending.pop(request.response_nonce, None)
        if sent is None:
            return  # a nonce we no longer track (or never sent): nothing to settle
        status = request.error_detail
        if status is not None and (status.code or status.message):
            self._record_nack(sent, describe_status(status.code, status.message))
            for name in sent:
                previous = self.client_versions.get(name)
                if previous is None:
                    self.sent_versions.pop(name, None)
                else:
                    self.sent_versions[name] = previous
        else:
            self._record_ack(sent)
            for name, resource in sent.items():
                self.client_versions[name] = resource.version

    def _respond(self) -> bytes | None:
        names = None if self.wildcard else frozenset(self.subscribed)
        desired = self.desired(names)
        changed = {
            name: resource
            for name, resource in desired.items()
            if self.sent_versions.get(name) != resource.version
        }
        removed = sorted(name for name in self.sent_versions if name not in desired)
        if not changed and not removed:
            return None
        if len(self.pending) >= MAX_PENDING_NONCES:
            raise ProtocolError(f"more than {MAX_PENDING_NONCES} responses left unacknowledged")
        for name in removed:
            self.sent_versions.pop(name, None)
            self.client_versions.pop(name, None)
        nonce = self._next_nonce()
        for name, resource in changed.items():
            self.sent_versions[name] = resource.version
        self.pending[nonce] = changed
        self._record_served(changed)
        system_version = str(self._context.snapshot().generation)
        return encode_delta_response(system_version, nonce, self.type_url, changed, removed)
