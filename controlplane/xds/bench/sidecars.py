"""A fleet of simulated Envoy sidecars, each holding one ECDS stream, in their own process.

Each sidecar speaks Envoy's state-of-the-world sequence: a first request with its node
(namespace and labels in metadata; node only on the first message, as Istio sets it),
then an ACK (version_info + response_nonce) for every response. The parent process
drives rounds over a pipe:

    parent -> fleet: "arm"      the fleet notes every sidecar's current version
    fleet -> parent: "armed"
    (the parent changes the policy over REST)
    fleet -> parent: ("changed", ack_times)   once every sidecar ACKed a newer version;
                                              times are time.monotonic(), which is one
                                              clock for all processes on the machine
    parent -> fleet: "stop"

Everything is bounded: the fleet gives up after `deadline` seconds per round and reports
how many sidecars it heard from.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import grpc
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest
from envoy_data_plane.google.protobuf import Struct

from controlplane.xds.grpc_server import ECDS_SERVICE
from controlplane.xds.type_urls import TYPED_EXTENSION_CONFIG
from controlplane.xds.wire import read_fields

SOTW_METHOD = f"/{ECDS_SERVICE}/StreamExtensionConfigs"
MAX_SIDECARS = 5_000
_VERSION_INFO = 1  # DiscoveryResponse field numbers
_NONCE = 5


@dataclass(frozen=True)
class FleetSpec:
    target: str
    count: int
    namespace: str
    labels: dict[str, str]
    resource_names: tuple[str, ...]
    deadline: float
    """Seconds to wait for all sidecars, at connect time and in each round."""


@dataclass
class Sidecar:
    index: int
    version: str = ""
    baseline: str | None = None
    changed_at: float | None = None


@dataclass
class Fleet:
    spec: FleetSpec
    sidecars: list[Sidecar] = field(default_factory=list)
    first_versions: int = 0
    changed: int = 0
    all_connected: asyncio.Event = field(default_factory=asyncio.Event)
    all_changed: asyncio.Event = field(default_factory=asyncio.Event)
    failures: list[str] = field(default_factory=list)

    def arm(self) -> None:
        self.changed = 0
        self.all_changed.clear()
        for sidecar in self.sidecars:
            sidecar.baseline, sidecar.changed_at = sidecar.version, None

    def on_ack(self, sidecar: Sidecar, version: str, at: float) -> None:
        first = not sidecar.version
        sidecar.version = version
        if first:
            self.first_versions += 1
            if self.first_versions == len(self.sidecars):
                self.all_connected.set()
        if sidecar.baseline is not None and sidecar.changed_at is None and version != sidecar.baseline:
            sidecar.changed_at = at
            self.changed += 1
            if self.changed == len(self.sidecars):
                self.all_changed.set()


def _first_request(spec: FleetSpec, index: int) -> bytes:
    node = Node(
        id=f"sidecar~10.1.{index // 250}.{index % 250}~bench-{index}.{spec.namespace}~cluster.local",
        cluster="bench",
        metadata=Struct.from_dict({"NAMESPACE": spec.namespace, "LABELS": dict(spec.labels)}),
    )
    request = DiscoveryRequest(
        node=node, resource_names=list(spec.resource_names), type_url=TYPED_EXTENSION_CONFIG
    )
    return bytes(request)


def _version_and_nonce(raw: bytes) -> tuple[str, str]:
    """What an ACK needs from a response, read off the wire: parsing the resources (tens of
    kilobytes of signed config each) is the sidecar's business, not this benchmark's."""
    found = {_VERSION_INFO: "", _NONCE: ""}
    for number, _, value in read_fields(raw):
        if number in found and isinstance(value, bytes):
            found[number] = value.decode("utf-8")
    return found[_VERSION_INFO], found[_NONCE]


def _ack(spec: FleetSpec, version_info: str, nonce: str) -> bytes:
    request = DiscoveryRequest(
        version_info=version_info,
        response_nonce=nonce,
        resource_names=list(spec.resource_names),
        type_url=TYPED_EXTENSION_CONFIG,
    )
    return bytes(request)


async def _run_sidecar(fleet: Fleet, sidecar: Sidecar) -> None:
    spec = fleet.spec
    async with grpc.aio.insecure_channel(spec.target) as channel:
        call: Any = channel.stream_stream(SOTW_METHOD)()
        await call.write(_first_request(spec, sidecar.index))
        while True:
            raw = await call.read()
            if raw is grpc.aio.EOF:
                return
            version_info, nonce = _version_and_nonce(raw)
            await call.write(_ack(spec, version_info, nonce))
            fleet.on_ack(sidecar, version_info, time.monotonic())


async def _guarded(fleet: Fleet, sidecar: Sidecar) -> None:
    try:
        await _run_sidecar(fleet, sidecar)
    except asyncio.CancelledError:
        raise
    except Exception as error:
        fleet.failures.append(f"sidecar {sidecar.index}: {type(error).__name__}: {error}")


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


async def _serve_rounds(fleet: Fleet, pipe: Connection) -> None:
    started = time.monotonic()
    fleet.sidecars = [Sidecar(index) for index in range(fleet.spec.count)]
    tasks = [asyncio.create_task(_guarded(fleet, sidecar)) for sidecar in fleet.sidecars]
    connected = await _wait(fleet.all_connected, fleet.spec.deadline)
    pipe.send(("ready", connected, fleet.first_versions, time.monotonic() - started, fleet.failures[:3]))
    try:
        while connected:
            command = await asyncio.to_thread(pipe.recv)
            if command != "arm":
                return
            fleet.arm()
            pipe.send(("armed",))
            done = await _wait(fleet.all_changed, fleet.spec.deadline)
            times = [sidecar.changed_at for sidecar in fleet.sidecars if sidecar.changed_at is not None]
            pipe.send(("changed", done, times, fleet.failures[:3]))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def run_fleet(spec: FleetSpec, pipe: Connection) -> None:
    """Process entry point (multiprocessing, spawn)."""
    assert 0 < spec.count <= MAX_SIDECARS
    try:
        asyncio.run(_serve_rounds(Fleet(spec), pipe))
    finally:
        pipe.close()
