"""What request handlers need from the running service, handed to the app once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlplane.policy.detector_ids import DetectorCatalog
from controlplane.storage.database import Database
from controlplane.telemetry.ingest import Collector
from controlplane.trust.trust_root import TrustRoot
from controlplane.xds.acks import AckRecorder
from controlplane.xds.hub import ConfigHub
from controlplane.xds.keyring import KeyRing


@dataclass(frozen=True)
class ServiceContext:
    database: Database
    hub: ConfigHub
    keyring: KeyRing
    recorder: AckRecorder
    trust_root: TrustRoot | None
    detector_catalog: DetectorCatalog | None
    samples_dir: Path | None
    """Recorded traffic a dry run can use by name (`sample=NAME`)."""
    replica_id: str
    trust_domain: str | None
    collector: Collector
    """Telemetry ingest from the sidecars (per-node credentials, retention, OTLP export)."""
    module_base_url: str
    """Where sidecars fetch modules from this control plane (`/v1/modules/{sha256}/bytes`)."""
