"""One control plane per test module, with two tenants and a token per role and tenant."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.service_fixture import RunningPlane, running_plane

EXAMPLE_POLICY = (REPO_ROOT / "deploy" / "examples" / "policy.yaml").read_bytes()
YAML = {"Content-Type": "application/yaml"}


@dataclass
class Tenancy:
    plane: RunningPlane
    tokens: dict[tuple[str, str], str]
    """(role, tenant) -> token."""

    def token(self, role: str, tenant: str = "payments") -> str:
        return self.tokens[(role, tenant)]


def policy_text(name: str = "checkout-pii", tenant: str = "payments", namespace: str = "payments") -> bytes:
    text = EXAMPLE_POLICY.decode()
    text = text.replace("name: checkout-pii", f"name: {name}").replace(
        "tenant: payments", f"tenant: {tenant}"
    )
    return text.replace("namespace: payments", f"namespace: {namespace}").encode()


@pytest.fixture(scope="module")
def tenancy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenancy]:
    data_dir: Path = tmp_path_factory.mktemp("plane")
    with running_plane(data_dir) as plane, plane.admin() as admin:
        for tenant, namespace in (("payments", "payments"), ("shop", "shop")):
            assert (
                admin.post("/v1/tenants", json={"name": tenant, "namespaces": [namespace]}).status_code == 201
            )
        tokens = {}
        for role in ("admin", "policy-author", "analyst", "read-only"):
            for tenant in ("payments", "shop"):
                response = admin.post(
                    "/v1/tokens", json={"name": f"{role}-{tenant}", "role": role, "tenants": [tenant]}
                )
                assert response.status_code == 201, response.text
                tokens[(role, tenant)] = response.json()["token"]
        yield Tenancy(plane, tokens)
