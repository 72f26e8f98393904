"""POST /v1/policies/{id}/dry-run: recorded traffic through the policy's real filter modules,
with the configs, VM ids and failure policies its sidecars are served."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.modules.build import build_modules
from controlplane.trust.keys import generate_key_files
from controlplane.trust.trust_root import TrustRoot
from tests.api.conftest import policy_text
from tests.service_fixture import RunningPlane, make_trust, running_plane
from tests.xds.conftest import Served, prepare

EXCHANGE = {
    "id": "card-lookup",
    "request": {
        "method": "GET",
        "url": "http://checkout.payments.svc.cluster.local/v1/cards/1",
        "headers": {"x-user-id": "u1"},
    },
    "response": {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "json": {"card": "4111 1111 1111 1111", "email": "someone@example.com"},
    },
}
JSONL = (json.dumps(EXCHANGE) + "\n").encode()


@dataclass
class DryRun:
    plane: RunningPlane
    served: Served
    tokens: dict[str, str]


def without_behaviour(text: bytes) -> bytes:
    """The example policy minus behaviour analytics (which compiles too: see
    controlplane/policy/ueba_config.py), so the chain is the mask and DLP filters whose
    output these tests check."""
    assert b"  enabled: true\n  identity_header" in text
    return text.replace(b"  enabled: true\n  identity_header", b"  enabled: false\n  identity_header")


@pytest.fixture(scope="module")
def dry(tmp_path_factory: pytest.TempPathFactory, filters_dir: Path) -> Iterator[DryRun]:
    """The whole trust chain as an operator sets it up: modules built with a trust root, the
    control plane's config signing key added to that root by a signed statement (which every
    config carries), so the filters verify what the control plane signs."""
    trust = make_trust(tmp_path_factory.mktemp("trust"))
    modules_dir = tmp_path_factory.mktemp("trusted-modules")
    built = build_modules(modules_dir, filters_dir, trust_root=TrustRoot.load(trust.root_file))
    keys_dir = tmp_path_factory.mktemp("config-keys")
    config_key = generate_key_files(keys_dir, "config-signing")
    rotate = ["keys", "rotate", "--root", str(trust.root_file), "--sign-with", str(trust.key_file)]
    rotated = main([*rotate, "--add", str(config_key.public_path)])
    assert rotated == 0
    samples = tmp_path_factory.mktemp("samples")
    (samples / "checkout.jsonl").write_bytes(JSONL)
    with running_plane(
        tmp_path_factory.mktemp("plane"), trust_root=trust.root_file, samples_dir=samples, keys_dir=keys_dir
    ) as plane:
        modules = {module.name: module for module in built}
        served = prepare(plane, modules, trust.signer, without_behaviour(policy_text("dry")))
        tokens = {}
        with plane.admin() as admin:
            for role, tenant in (("analyst", "payments"), ("read-only", "payments"), ("analyst", "shop")):
                response = admin.post("/v1/tokens", json={"name": role, "role": role, "tenants": [tenant]})
                tokens[f"{role}@{tenant}"] = response.json()["token"]
        yield DryRun(plane, served, tokens)


def dry_run(dry: DryRun, token: str, **request: object) -> dict:
    with dry.plane.client(token) as client:
        response = client.post(f"/v1/policies/{dry.served.policy_id}/dry-run", **request)
    return {"status": response.status_code, "body": response.json()}


def test_uploaded_jsonl_runs_through_the_served_filter_chain(dry: DryRun) -> None:
    result = dry_run(dry, dry.tokens["analyst@payments"], files={"traffic": ("checkout.jsonl", JSONL)})
    assert result["status"] == 200, result
    report = result["body"]
    assert report["policy"]["id"] == dry.served.policy_id and report["policy"]["version"] == 1
    assert report["source"] == "upload:checkout.jsonl"
    # Envoy's order and what each sidecar is served: the tenant's VM, fail closed, signed config.
    chain = report["chain"]
    assert [item["name"] for item in chain] == ["meshveil-mask", "meshveil-dlp"]
    assert {item["vm_id"] for item in chain} == {"meshveil.payments"}
    assert {item["failure_policy"] for item in chain} == {"fail_closed"}
    assert all(item["configuration_size"] > 0 for item in chain)
    (exchange,) = report["exchanges"]
    assert exchange["id"] == "card-lookup" and exchange["error"] is None
    ran = [(item["filter"], item["phase"]) for item in exchange["filters"]]
    assert ran[:4] == [
        ("meshveil-mask", "request"),
        ("meshveil-dlp", "request"),
        ("meshveil-dlp", "response"),
        ("meshveil-mask", "response"),
    ]
    assert report["summary"]["exchanges"] == 1 and report["summary"]["filter_failures"] == 0
    # What the policy does: the card is partially masked, the e-mail redacted; one card is
    # below the block threshold of 10.
    assert exchange["verdict"] == "modified"
    assert json.loads(exchange["response_to_client"]["body"]["text"]) == {
        "card": "**** **** **** 1111",
        "email": "[EMAIL]",
    }


def test_a_bulk_export_of_cards_would_be_blocked(dry: DryRun) -> None:
    bulk = {
        **EXCHANGE,
        "id": "export",
        "response": {**EXCHANGE["response"], "json": {"cards": ["4111 1111 1111 1111"] * 12}},
    }
    files = {"traffic": ("export.jsonl", (json.dumps(bulk) + "\n").encode())}
    result = dry_run(dry, dry.tokens["analyst@payments"], files=files)
    assert result["status"] == 200, result
    (exchange,) = result["body"]["exchanges"]
    assert exchange["verdict"] == "blocked"
    assert "4111 1111 1111 1111" not in json.dumps(exchange["response_to_client"])
    assert result["body"]["summary"]["blocked"] == 1


def test_a_named_sample_runs_too(dry: DryRun) -> None:
    result = dry_run(dry, dry.served.author_token, params={"sample": "checkout"})
    assert result["status"] == 200, result
    assert result["body"]["source"] == "sample:checkout"
    assert result["body"]["summary"]["exchanges"] == 1


@pytest.mark.parametrize(
    ("request_parts", "status", "kind"),
    [
        ({}, 422, "invalid-request"),
        (
            {"files": {"traffic": ("t.jsonl", JSONL)}, "params": {"sample": "checkout"}},
            422,
            "invalid-request",
        ),
        ({"files": {"traffic": ("t.jsonl", b"{not json\n")}}, 422, "invalid-traffic"),
        ({"params": {"sample": "../../etc/passwd"}}, 422, "invalid-request"),
        ({"params": {"sample": "missing"}}, 404, "not-found"),
    ],
    ids=["nothing", "both", "bad-jsonl", "path-in-sample", "unknown-sample"],
)
def test_bad_requests_are_problem_json(dry: DryRun, request_parts: dict, status: int, kind: str) -> None:
    result = dry_run(dry, dry.tokens["analyst@payments"], **request_parts)
    assert result["status"] == status, result
    assert result["body"]["type"].endswith(kind), result


def test_read_only_may_not_and_other_tenants_do_not_see_the_policy(dry: DryRun) -> None:
    files = {"traffic": ("t.jsonl", JSONL)}
    assert dry_run(dry, dry.tokens["read-only@payments"], files=files)["status"] == 403
    assert dry_run(dry, dry.tokens["analyst@shop"], files=files)["status"] == 404
    with dry.plane.client() as anonymous:
        assert anonymous.post(f"/v1/policies/{dry.served.policy_id}/dry-run", files=files).status_code == 401


def test_samples_are_listed_for_those_who_may_dry_run(dry: DryRun) -> None:
    with dry.plane.client(dry.tokens["analyst@payments"]) as client:
        assert client.get("/v1/samples").json() == ["checkout.jsonl"]
    with dry.plane.client(dry.tokens["read-only@payments"]) as client:
        assert client.get("/v1/samples").status_code == 403
