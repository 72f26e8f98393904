"""Where a node's filters send their events: the collector's Envoy cluster and the node's
own credential, given by whoever deploys the config (never written in a policy), and the
`telemetry` object both meshveil-ueba and meshveil-dlp read (filters/telemetry/settings.zig).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.policy.behaviour import EventDelivery

TOKEN_BYTES_MAX = 512
HOST_BYTES_MAX = 253
PATH_BYTES_MAX = 256


@dataclass(frozen=True)
class TelemetrySink:
    """The Envoy cluster that reaches the control plane's collector and the node's
    credential (`POST /v1/telemetry/nodes`)."""

    cluster: str
    token: str
    authority: str | None = None
    path: str = "/v1/telemetry"

    def __post_init__(self) -> None:
        if not 0 < len(self.cluster) <= HOST_BYTES_MAX:
            raise ValueError(f"telemetry cluster: 1 to {HOST_BYTES_MAX} bytes")
        if self.authority is not None and not 0 < len(self.authority) <= HOST_BYTES_MAX:
            raise ValueError(f"telemetry authority: 1 to {HOST_BYTES_MAX} bytes")
        if not 0 < len(self.token) <= TOKEN_BYTES_MAX or not all("!" <= char <= "~" for char in self.token):
            raise ValueError(f"telemetry token: 1 to {TOKEN_BYTES_MAX} visible ASCII characters")
        if not self.path.startswith("/") or len(self.path) > PATH_BYTES_MAX:
            raise ValueError(f"telemetry path: must start with '/' (at most {PATH_BYTES_MAX} bytes)")

    def document(self, delivery: EventDelivery) -> dict[str, Any]:
        """The filters' `telemetry` object: this sink, batched as `delivery` says."""
        return {
            "cluster": self.cluster,
            "authority": self.authority or self.cluster,
            "path": self.path,
            "token": self.token,
            **delivery.model_dump(mode="json"),
        }
