"""ECDS and ADS on grpcio's asyncio server, with generic handlers over raw bytes.

envoy-data-plane ships betterproto message classes but no grpcio servicers, so each
method is registered by its full name and (de)serializes with betterproto; responses
are pre-encoded bytes from the session state machines. One asyncio task per stream reads
requests; the stream's generator wakes on a request or a snapshot change.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from envoy_data_plane.envoy.service.discovery.v3 import DeltaDiscoveryRequest

from controlplane.xds.acks import AckRecorder
from controlplane.xds.delta import DeltaSession
from controlplane.xds.hub import ConfigHub
from controlplane.xds.session import IdentityRefused, NodeMemory, ProtocolError, SessionBase, StreamContext
from controlplane.xds.sotw import SotwSession, decode_request
from controlplane.xds.spiffe import SpiffeError, SpiffeId, spiffe_from_certificate

LOG = logging.getLogger(__name__)

ECDS_SERVICE = "envoy.service.extension.v3.ExtensionConfigDiscoveryService"
ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
# Envoy can send large first requests (node metadata); responses carry modules by URL only.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path
    client_ca: Path | None


@dataclass(frozen=True)
class XdsServerSettings:
    host: str
    port: int
    tls: TlsFiles | None
    trust_domain: str | None


_CHANGE = object()


class XdsService:
    """The stream handlers; one instance per server."""

    def __init__(self, hub: ConfigHub, recorder: AckRecorder, trust_domain: str | None) -> None:
        self._hub = hub
        self._recorder = recorder
        self._trust_domain = trust_domain
        self._stream_ids = itertools.count(1)
        self._memory = NodeMemory()

    def handler(self) -> grpc.GenericRpcHandler:
        sotw: grpc.RpcMethodHandler[bytes, bytes] = grpc.stream_stream_rpc_method_handler(self._sotw)
        delta: grpc.RpcMethodHandler[bytes, bytes] = grpc.stream_stream_rpc_method_handler(self._delta)
        fetch: grpc.RpcMethodHandler[bytes, bytes] = grpc.unary_unary_rpc_method_handler(self._fetch)
        return grpc.method_handlers_generic_handler(
            ECDS_SERVICE,
            {"StreamExtensionConfigs": sotw, "DeltaExtensionConfigs": delta, "FetchExtensionConfigs": fetch},
        )

    def ads_handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            ADS_SERVICE,
            {
                "StreamAggregatedResources": grpc.stream_stream_rpc_method_handler(self._ads_sotw),
                "DeltaAggregatedResources": grpc.stream_stream_rpc_method_handler(self._ads_delta),
            },
        )

    def _stream_context(self, context: grpc.aio.ServicerContext[Any, Any]) -> StreamContext:
        return StreamContext(
            stream_id=f"s{next(self._stream_ids)}",
            spiffe=self._peer_spiffe(context),
            snapshot=lambda: self._hub.snapshot,
            recorder=self._recorder,
            memory=self._memory,
        )

    def _peer_spiffe(self, context: grpc.aio.ServicerContext[Any, Any]) -> SpiffeId | None:
        certificates = list(context.auth_context().get("x509_pem_cert") or ())
        if not certificates:
            return None
        try:
            return spiffe_from_certificate(certificates[0], self._trust_domain)
        except (SpiffeError, ValueError) as error:
            raise IdentityRefused(str(error)) from error

    async def _sotw(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for response in self._serve(requests, context, SotwSession, decode_request):
            yield response

    async def _delta(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for response in self._serve(requests, context, DeltaSession, DeltaDiscoveryRequest.parse):
            yield response

    async def _ads_sotw(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for response in self._serve(requests, context, _ads(SotwSession), decode_request):
            yield response

    async def _ads_delta(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        async for response in self._serve(requests, context, _ads(DeltaSession), DeltaDiscoveryRequest.parse):
            yield response

    async def _fetch(self, request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        try:
            session = SotwSession(self._stream_context(context))
            await self._hub.settled()
            response = session.on_request(decode_request(request))
        except IdentityRefused as error:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(error))
        except (ProtocolError, ValueError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        assert response is not None, "a first request always gets a response"
        return response

    async def _serve(
        self,
        requests: AsyncIterator[bytes],
        context: grpc.aio.ServicerContext[Any, Any],
        session_type: Callable[[StreamContext], SessionBase],
        parse: Callable[[bytes], Any],
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[object] = asyncio.Queue()
        change_pending = False
        try:
            session: Any = session_type(self._stream_context(context))
        except IdentityRefused as error:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(error))

        def on_change(tenants: frozenset[str] | None) -> None:
            nonlocal change_pending
            if not change_pending and session.affected_by(tenants):
                change_pending = True
                queue.put_nowait(_CHANGE)

        reader = asyncio.create_task(_read_into(requests, queue))
        self._hub.subscribe(on_change)
        located = False
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if item is _CHANGE:
                    change_pending = False
                    response = session.on_change()
                else:
                    assert isinstance(item, bytes)
                    request = parse(item)
                    await self._hub.settled()  # changes already answered over REST are served
                    response = session.on_request(request)
                    if not located and session.node is not None:
                        self._hub.locate(on_change, session.node.namespace)
                        located = True
                if response is not None:
                    yield response
        except IdentityRefused as error:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, str(error))
        except (ProtocolError, ValueError) as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        finally:
            self._hub.unsubscribe(on_change)
            reader.cancel()


def _ads(session_type: Callable[[StreamContext], SessionBase]) -> Callable[[StreamContext], SessionBase]:
    """Over ADS one stream carries every type; meshveil answers only extension configs."""

    def make(context: StreamContext) -> SessionBase:
        session = session_type(context)
        session.aggregated = True
        return session

    return make


async def _read_into(requests: AsyncIterator[bytes], queue: asyncio.Queue[object]) -> None:
    try:
        async for raw in requests:
            queue.put_nowait(raw)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        queue.put_nowait(error)
        return
    queue.put_nowait(None)


def server_credentials(tls: TlsFiles) -> grpc.ServerCredentials:
    root = tls.client_ca.read_bytes() if tls.client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(tls.key.read_bytes(), tls.cert.read_bytes())],
        root_certificates=root,
        require_client_auth=root is not None,
    )


async def start_xds_server(service: XdsService, settings: XdsServerSettings) -> tuple[grpc.aio.Server, int]:
    """Starts the server; returns it and the port it bound (useful with port 0)."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_concurrent_streams", 100_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
    )
    server.add_generic_rpc_handlers((service.handler(), service.ads_handler()))
    address = f"{settings.host}:{settings.port}"
    if settings.tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, server_credentials(settings.tls))
    await server.start()
    LOG.info("ECDS listening on %s:%d (%s)", settings.host, port, "TLS" if settings.tls else "plaintext")
    return server, port
