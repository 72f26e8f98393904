"""A real control plane (REST + ECDS) on loopback, in a background thread, for tests and benches."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from controlplane.api.runtime import ControlPlane, Extras
from controlplane.api.threaded import plane_in_thread
from controlplane.config import load_config
from controlplane.modules.build import BuiltModule
from controlplane.trust.keys import FileSigner
from controlplane.xds.bench import seed
from controlplane.xds.bench.seed import TrustSetup, make_trust

__all__ = ["RunningPlane", "TrustSetup", "make_trust", "running_plane", "signed_module"]


@dataclass
class RunningPlane:
    plane: ControlPlane
    rest_url: str
    xds_target: str
    admin_token: str
    server_ca: Path | None = None
    """The CA that signed the plane's TLS certificate, when it serves TLS."""

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: ssl.SSLContext | bool = True
        if self.server_ca is not None:
            verify = ssl.create_default_context(cafile=str(self.server_ca))
        return httpx.Client(base_url=self.rest_url, headers=headers, timeout=30, verify=verify)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)


@contextmanager
def running_plane(
    data_dir: Path,
    *,
    trust_root: Path | None = None,
    server_ca: Path | None = None,
    samples_dir: Path | None = None,
    **options: object,
) -> Iterator[RunningPlane]:
    """The plane `meshveil demo` and the benches run (`plane_in_thread`), on free ports."""
    values = {"data_dir": data_dir, "rest_port": 0, "xds_port": 0, "poll_interval": 0.2, **options}
    config = load_config(environ={}, overrides=values)
    with plane_in_thread(config, Extras(trust_root=trust_root, samples_dir=samples_dir)) as plane:
        token_file = data_dir / "admin-token"
        token = token_file.read_text().strip() if token_file.exists() else ""
        scheme = "https" if config.tls_cert else "http"
        yield RunningPlane(
            plane,
            f"{scheme}://127.0.0.1:{plane.rest_port}",
            f"127.0.0.1:{plane.xds_port}",
            token,
            server_ca,
        )


def signed_module(module: BuiltModule, signer: FileSigner) -> bytes:
    return seed.signed_module(module.path.read_bytes(), signer)
