"""The whole service in one process: storage, signing, the snapshot hub, REST and ECDS.

`ControlPlane.start` migrates the database, creates the first signing key and admin token
on a fresh installation, builds the first snapshot, then starts the gRPC server and the
REST server (uvicorn) on the same asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import grpc
import uvicorn

from controlplane.api.app import create_app
from controlplane.api.context import ServiceContext
from controlplane.auth.tokens import bootstrap_admin_token
from controlplane.config import ServiceConfig
from controlplane.policy.derived_keys import DerivedKeys, load_or_create_secret
from controlplane.policy.detector_ids import BuiltinCatalog, DetectorCatalog
from controlplane.storage.audit import Actor
from controlplane.storage.database import Database, migrate, open_database
from controlplane.telemetry.service import collector_for
from controlplane.trust.trust_root import TrustRoot
from controlplane.xds.acks import AckRecorder
from controlplane.xds.enrolment import NodeEnroller
from controlplane.xds.grpc_server import TlsFiles, XdsServerSettings, XdsService, start_xds_server
from controlplane.xds.hub import ConfigHub
from controlplane.xds.keyring import KeyRing
from controlplane.xds.node_sink import NodeSink, NodeSinkSettings
from controlplane.xds.snapshot import ResourceSettings, SnapshotBuilder

LOG = logging.getLogger(__name__)
_SYSTEM = Actor(subject="system:startup", role="system")


@dataclass(frozen=True)
class Extras:
    trust_root: Path | None = None
    samples_dir: Path | None = None
    detector_catalog: DetectorCatalog | None = None


class ControlPlane:
    def __init__(self, config: ServiceConfig, extras: Extras | None = None) -> None:
        self.config = config
        self.extras = extras or Extras()
        self.database: Database | None = None
        self.context: ServiceContext | None = None
        self.rest_port = 0
        self.xds_port = 0
        self.admin_token_file: Path | None = None
        self.enroller: NodeEnroller | None = None
        """Records the telemetry credentials of the nodes ECDS serves (`written()` for tests)."""
        self._grpc: grpc.aio.Server | None = None
        self._rest: uvicorn.Server | None = None
        self._rest_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        database = open_database(config.database_url)
        self.database = database
        await asyncio.to_thread(migrate, database)
        if config.bootstrap_admin_token:
            self.admin_token_file = await asyncio.to_thread(bootstrap_admin_token, database, config.data_dir)
            if self.admin_token_file is not None:
                LOG.warning("created an admin token in %s (shown nowhere else)", self.admin_token_file)
        keyring = KeyRing(config.keys_dir, database)
        await asyncio.to_thread(keyring.ensure_active, _SYSTEM)
        trust_root = TrustRoot.load(self.extras.trust_root) if self.extras.trust_root else None
        # The REST port must be known before the first snapshot names module URLs.
        rest_socket_port = config.rest_port or _free_port(config.rest_host)
        settings = ResourceSettings(
            module_base_url=config.module_base_url(rest_socket_port),
            module_cluster=config.module_cluster,
            config_validity=config.config_validity,
            resign_interval=config.resign_interval,
        )
        secret = await asyncio.to_thread(load_or_create_secret, config.keys_dir)
        enroller = NodeEnroller(database)
        node_sink = None
        if config.node_telemetry:
            sink_settings = NodeSinkSettings(
                config.telemetry_cluster,
                config.collector_authority(),
                secret,
                unverified_nodes=config.node_telemetry_unverified,
            )
            node_sink = NodeSink(sink_settings, enroller.note)
        builder = SnapshotBuilder(
            database,
            keyring,
            settings,
            trust_root,
            keys=lambda tenant: DerivedKeys(secret, tenant),
            node_sink=node_sink,
        )
        hub = ConfigHub(builder, database, config.poll_interval)
        self.enroller = enroller
        recorder = AckRecorder(database, config.replica_id)
        self.context = ServiceContext(
            database=database,
            hub=hub,
            keyring=keyring,
            recorder=recorder,
            trust_root=trust_root,
            detector_catalog=self.extras.detector_catalog or BuiltinCatalog(),
            samples_dir=self.extras.samples_dir,
            replica_id=config.replica_id,
            trust_domain=config.trust_domain,
            collector=collector_for(config, database),
            module_base_url=settings.module_base_url,
        )
        enroller.start()
        await hub.start()
        recorder.start()
        tls = (
            TlsFiles(config.tls_cert, config.tls_key, config.client_ca)
            if config.tls_cert and config.tls_key
            else None
        )
        service = XdsService(hub, recorder, config.trust_domain)
        self._grpc, self.xds_port = await start_xds_server(
            service, XdsServerSettings(config.xds_host, config.xds_port, tls, config.trust_domain)
        )
        app = create_app(self.context, xds_requires_mtls=config.client_ca is not None)
        uvicorn_config = uvicorn.Config(
            app,
            host=config.rest_host,
            port=rest_socket_port,
            log_level=config.log_level,
            lifespan="off",
            ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
            ssl_keyfile=str(config.tls_key) if config.tls_key else None,
            access_log=config.log_level == "debug",
        )
        self._rest = uvicorn.Server(uvicorn_config)
        self._rest_task = asyncio.create_task(self._rest.serve(), name="meshveil-rest")
        while not self._rest.started:
            if self._rest_task.done():
                self._rest_task.result()
                raise RuntimeError("the REST server stopped while starting")
            await asyncio.sleep(0.02)
        self.rest_port = rest_socket_port

    async def stop(self) -> None:
        if self._rest is not None:
            self._rest.should_exit = True
        if self._rest_task is not None:
            await asyncio.gather(self._rest_task, return_exceptions=True)
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
        if self.context is not None:
            await self.context.recorder.stop()
            await self.context.hub.stop()
            self.context.collector.close()
        if self.enroller is not None:
            await self.enroller.stop()
        if self.database is not None:
            self.database.dispose()

    async def wait(self) -> None:
        """Until the REST server exits (Ctrl-C / SIGTERM, which uvicorn handles)."""
        if self._rest_task is not None:
            await asyncio.gather(self._rest_task, return_exceptions=True)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
