"""xDS over REST (Envoy's `api_type: REST`): POST /v3/discovery:extension_configs.

Envoy polls with a JSON DiscoveryRequest carrying the version it runs and the nonce of
the last response (and error_detail to NACK it); every poll is answered with the
current resources as JSON. Poll sessions are kept per node id so ACK/NACK tracking works
as on a gRPC stream. REST requests carry no verifiable client identity here, so when
the service requires mTLS for xDS this transport is refused.
"""

from __future__ import annotations

import base64
import json
from collections import OrderedDict
from typing import Annotated, Any

from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from fastapi import APIRouter, Depends, Request, Response

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.api.security import service
from controlplane.xds.session import IdentityRefused, NodeMemory, ProtocolError, StreamContext
from controlplane.xds.sotw import SotwSession

router = APIRouter(tags=["xds"])
MAX_POLL_SESSIONS = 50_000
MAX_JSON_DEPTH = 64


class PollSessions:
    """SotW sessions of REST-polling nodes, least recently polled evicted first."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, SotwSession] = OrderedDict()
        self._counter = 0
        self._memory = NodeMemory()

    def get(self, node_id: str, context: ServiceContext) -> SotwSession:
        session = self._sessions.get(node_id)
        if session is None:
            self._counter += 1
            session = SotwSession(
                StreamContext(
                    stream_id=f"r{self._counter}",
                    spiffe=None,
                    snapshot=lambda: context.hub.snapshot,
                    recorder=context.recorder,
                    memory=self._memory,
                )
            )
            self._sessions[node_id] = session
            if len(self._sessions) > MAX_POLL_SESSIONS:
                self._sessions.popitem(last=False)
        self._sessions.move_to_end(node_id)
        return session


def proto_json(value: Any, depth: int = 0) -> Any:
    """betterproto's dicts with bytes base64-encoded, as proto3 JSON writes them."""
    assert depth <= MAX_JSON_DEPTH, "xDS messages are not nested this deeply"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {key: proto_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [proto_json(item, depth + 1) for item in value]
    return value


@router.post("/v3/discovery:extension_configs", summary="ECDS over REST polling (Envoy api_type: REST)")
async def extension_configs(
    request: Request, context: Annotated[ServiceContext, Depends(service)]
) -> Response:
    if request.app.state.xds_requires_mtls:
        raise Problem(
            403, "this control plane requires mTLS for xDS; use the gRPC ECDS endpoint", kind="forbidden"
        )
    try:
        discovery = DiscoveryRequest.from_dict(json.loads(await request.body()), ignore_unknown_fields=True)
    except (ValueError, TypeError) as error:
        raise Problem(
            400, f"not a JSON DiscoveryRequest: {error}", kind="invalid-discovery-request"
        ) from error
    if discovery.node is None or not discovery.node.id:
        raise Problem(400, "node.id is required on every REST poll", kind="invalid-discovery-request")
    sessions: PollSessions = request.app.state.poll_sessions
    session = sessions.get(discovery.node.id, context)
    await context.hub.settled()
    try:
        answer = session.on_request(discovery)
        if answer is None:
            answer = session.respond_again()
    except IdentityRefused as error:
        raise Problem(403, str(error), kind="forbidden") from error
    except ProtocolError as error:
        raise Problem(400, str(error), kind="invalid-discovery-request") from error
    document = proto_json(DiscoveryResponse.parse(answer).to_dict())
    return Response(json.dumps(document), media_type="application/json")
