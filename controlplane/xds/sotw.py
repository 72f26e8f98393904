"""State-of-the-world xDS for ECDS (and ADS), as a transport-free state machine.

Requests and responses follow Envoy: the first request names the node and the resources;
each response carries a version and a nonce; the next request with that nonce ACKs it
(error_detail empty) or NACKs it (error_detail set). Requests with an older nonce are
ignored. A request with a new resource list changes the subscription. A reconnecting
Envoy sends the version it runs with an empty nonce; if that is still current nothing
is resent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest
from envoy_data_plane.google.rpc import Status

from controlplane.xds.session import SessionBase, StreamContext, describe_status
from controlplane.xds.snapshot import ServedResource
from controlplane.xds.wire import WIRE_LEN, WIRE_VARINT, length_delimited, read_fields

_VERSION_INFO_FIELD = 1
_RESOURCES_FIELD = 2
_TYPE_URL_FIELD = 4
_NONCE_FIELD = 5
_REQUEST_NODE = 2
_REQUEST_RESOURCE_NAMES = 3
_REQUEST_ERROR_DETAIL = 6
_REQUEST_STRINGS = {1: "version_info", 4: "type_url", 5: "response_nonce"}
_STATUS_CODE = 1
_STATUS_MESSAGE = 2


@dataclass(frozen=True)
class SentResponse:
    nonce: str
    version_info: str
    resources: dict[str, ServedResource]


def version_info_for(resources: dict[str, ServedResource]) -> str:
    if not resources:
        return "empty"
    if len(resources) == 1:
        return next(iter(resources.values())).version
    joined = ";".join(f"{name}={resource.version}" for name, resource in sorted(resources.items()))
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:16]


def encode_response(
    version_info: str, nonce: str, type_url: str, resources: dict[str, ServedResource]
) -> bytes:
    """A DiscoveryResponse, written directly: proto3 leaves empty strings out."""
    head = b"".join(
        length_delimited(number, text.encode("utf-8"))
        for number, text in (
            (_VERSION_INFO_FIELD, version_info),
            (_TYPE_URL_FIELD, type_url),
            (_NONCE_FIELD, nonce),
        )
        if text
    )
    return head + b"".join(
        length_delimited(_RESOURCES_FIELD, resource.any_bytes) for _, resource in sorted(resources.items())
    )


def decode_request(raw: bytes) -> DiscoveryRequest:
    """A DiscoveryRequest from the wire. The node (only on a stream's first request when
    Envoy sets set_node_on_first_message_only) goes through betterproto; the rest is read
    directly. Unknown fields are skipped, as protobuf parsers do."""
    request = DiscoveryRequest()
    names: list[str] = []
    for number, wire_type, value in read_fields(raw):
        if number in _REQUEST_STRINGS:
            setattr(request, _REQUEST_STRINGS[number], _text(number, wire_type, value))
        elif number == _REQUEST_RESOURCE_NAMES:
            names.append(_text(number, wire_type, value))
        elif number == _REQUEST_NODE:
            request.node = Node.parse(_bytes(number, wire_type, value))
        elif number == _REQUEST_ERROR_DETAIL:
            request.error_detail = _status(_bytes(number, wire_type, value))
    request.resource_names = names
    return request


def _bytes(number: int, wire_type: int, value: int | bytes) -> bytes:
    if wire_type != WIRE_LEN or not isinstance(value, bytes):
        raise ValueError(f"DiscoveryRequest field {number} must be length-delimited")
    return value


def _text(number: int, wire_type: int, value: int | bytes) -> str:
    try:
        return _bytes(number, wire_type, value).decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"DiscoveryRequest field {number} is not UTF-8") from error


def _status(raw: bytes) -> Status:
    status = Status()
    for number, wire_type, value in read_fields(raw):
        if number == _STATUS_CODE and wire_type == WIRE_VARINT and isinstance(value, int):
            # int32 on the wire: negative codes are sign-extended to 64 bits.
            status.code = value - (1 << 64) if value >= 1 << 63 else value
        elif number == _STATUS_MESSAGE:
            status.message = _text(number, wire_type, value)
    return status


class SotwSession(SessionBase):
    def __init__(self, context: StreamContext) -> None:
        super().__init__(context)
        self.subscribed: frozenset[str] | None = None
        self.last_sent: SentResponse | None = None

    def on_request(self, request: DiscoveryRequest) -> bytes | None:
        if not self._serves(request.type_url):
            return None
        self._identify(request.node)
        names = frozenset(request.resource_names) or None
        nonce = request.response_nonce
        if nonce:
            if self.last_sent is None or nonce != self.last_sent.nonce:
                return None  # stale: Envoy will send a request for the latest nonce too
            status = request.error_detail
            if status is not None and (status.code or status.message):
                self._record_nack(self.last_sent.resources, describe_status(status.code, status.message))
                # Envoy keeps running what it ACKed last; that is what it is considered to have now.
                kept = self.desired(self.subscribed)
                self.last_sent = SentResponse(nonce, version_info_for(kept), kept)
            else:
                self._record_ack(self.last_sent.resources)
        first = self.subscribed is None and self.last_sent is None
        changed_names = names != self.subscribed
        self.subscribed = names
        desired = self.desired(names)
        if first and not nonce and request.version_info and request.version_info == version_info_for(desired):
            # A reconnect that already runs the current version: adopt it, resend nothing.
            self.last_sent = SentResponse("", request.version_info, desired)
            self._record_ack(desired)
            return None
        if first or changed_names or self._differs(desired):
            return self._respond(desired)
        return None

    def on_change(self) -> bytes | None:
        if self.node is None or (self.subscribed is None and self.last_sent is None):
            return None
        desired = self.desired(self.subscribed)
        return self._respond(desired) if self._differs(desired) else None

    def respond_again(self) -> bytes:
        """The current resources under a fresh nonce (REST polling answers every request)."""
        desired = self.desired(self.subscribed)
        if self._differs(desired) or self.last_sent is None:
            return self._respond(desired)
        nonce = self._next_nonce()
        self.last_sent = SentResponse(nonce, self.last_sent.version_info, self.last_sent.resources)
        return encode_response(self.last_sent.version_info, nonce, self.type_url, self.last_sent.resources)

    def _differs(self, desired: dict[str, ServedResource]) -> bool:
        if self.last_sent is None:
            return True
        sent = {name: resource.version for name, resource in self.last_sent.resources.items()}
        return sent != {name: resource.version for name, resource in desired.items()}

    def _respond(self, desired: dict[str, ServedResource]) -> bytes:
        nonce = self._next_nonce()
        version_info = version_info_for(desired)
        self.last_sent = SentResponse(nonce, version_info, desired)
        self._record_served(desired)
        return encode_response(version_info, nonce, self.type_url, desired)
