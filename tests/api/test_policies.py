"""Policies over REST: lifecycle, versions, diff, rollback, problem JSON, roles and tenants."""

from __future__ import annotations

import pytest
import yaml

from tests.api.conftest import YAML, Tenancy, policy_text


def create(tenancy: Tenancy, name: str, tenant: str = "payments", token: str | None = None) -> dict:
    with tenancy.plane.client(token or tenancy.token("policy-author", tenant)) as client:
        response = client.post("/v1/policies", content=policy_text(name, tenant, tenant), headers=YAML)
    assert response.status_code == 201, response.text
    return response.json()


def test_create_get_update_and_list_versions(tenancy: Tenancy) -> None:
    created = create(tenancy, "lifecycle")
    assert created["version"] == 1
    assert created["document"]["routes"][0]["detectors"]["credit-card"]["threshold"] == 10
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        changed = policy_text("lifecycle").replace(b"threshold: 10", b"threshold: 25")
        updated = client.put(f"/v1/policies/{created['id']}", content=changed, headers=YAML)
        assert updated.status_code == 200, updated.text
        assert updated.json()["version"] == 2
        assert updated.json()["serial"] > created["serial"]
        fetched = client.get(f"/v1/policies/{created['id']}", params={"version": 1}).json()
        assert fetched["document"]["routes"][0]["detectors"]["credit-card"]["threshold"] == 10
        versions = client.get(f"/v1/policies/{created['id']}/versions").json()
        assert [item["version"] for item in versions] == [1, 2]
        listed = client.get("/v1/policies").json()
        assert created["id"] in {item["id"] for item in listed}


def test_json_bodies_are_accepted_too(tenancy: Tenancy) -> None:
    document = yaml.safe_load(policy_text("from-json"))
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        response = client.post("/v1/policies", json=document)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from-json"


def test_diff_names_each_changed_field(tenancy: Tenancy) -> None:
    created = create(tenancy, "diffed")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        changed = (
            policy_text("diffed")
            .replace(b"threshold: 10", b"threshold: 3")
            .replace(b"priority: 10", b"priority: 20")
        )
        client.put(f"/v1/policies/{created['id']}", content=changed, headers=YAML).raise_for_status()
        diff = client.get(f"/v1/policies/{created['id']}/diff", params={"from": 1, "to": 2}).json()
    changes = {item["path"]: (item["before"], item["after"]) for item in diff["changes"]}
    assert changes == {"priority": (10, 20), "routes[0].detectors.credit-card.threshold": (10, 3)}


def test_rollback_is_a_new_higher_version_with_old_content(tenancy: Tenancy) -> None:
    created = create(tenancy, "rolled")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        changed = policy_text("rolled").replace(b"threshold: 10", b"threshold: 99")
        client.put(f"/v1/policies/{created['id']}", content=changed, headers=YAML).raise_for_status()
        rolled = client.post(f"/v1/policies/{created['id']}/rollback", json={"version": 1})
    assert rolled.status_code == 201, rolled.text
    body = rolled.json()
    assert body["version"] == 3 and body["rollback_of"] == 1
    assert body["content_hash"] == created["content_hash"]


def test_stale_if_match_is_refused_with_412(tenancy: Tenancy) -> None:
    created = create(tenancy, "guarded")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        response = client.put(
            f"/v1/policies/{created['id']}",
            content=policy_text("guarded"),
            headers={**YAML, "If-Match": '"7"'},
        )
    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"


def test_validation_errors_are_problem_json_with_field_paths(tenancy: Tenancy) -> None:
    bad = (
        policy_text("broken")
        .replace(b"threshold: 10", b"threshold: 0")
        .replace(b"keep_last: 4}", b"keep_lastt: 4}")
    )
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        response = client.post("/v1/policies", content=bad, headers=YAML)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422 and problem["type"].endswith("invalid-policy")
    paths = {item["path"]: item["message"] for item in problem["errors"]}
    assert paths["routes[0].detectors.credit-card.threshold"] == "must be >= 1"
    assert paths["routes[0].detectors.credit-card.mask.keep_lastt"] == "unknown field"


def test_unknown_detector_and_foreign_namespace_are_named(tenancy: Tenancy) -> None:
    bad = policy_text("foreign", namespace="shop").replace(b"us-ssn:", b"no-such-detector:")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        detector = client.post("/v1/policies", content=bad, headers=YAML).json()
        assert detector["errors"][0]["path"] == "routes[0].detectors.no-such-detector"
        namespace = client.post(
            "/v1/policies", content=policy_text("foreign", namespace="shop"), headers=YAML
        ).json()
    assert namespace["errors"] == [
        {"path": "targets.workloads[0].namespace", "message": "namespace is not part of tenant 'payments'"}
    ]


def test_unsupported_media_type_is_415(tenancy: Tenancy) -> None:
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        response = client.post("/v1/policies", content=b"x", headers={"Content-Type": "text/csv"})
    assert response.status_code == 415


def test_delete_stops_listing_and_is_audited(tenancy: Tenancy) -> None:
    created = create(tenancy, "doomed")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        assert client.delete(f"/v1/policies/{created['id']}").status_code == 204
        assert client.get(f"/v1/policies/{created['id']}").status_code == 404
    with tenancy.plane.client(tenancy.token("read-only")) as client:
        events = client.get("/v1/audit", params={"limit": 1000}).json()
    actions = [(event["action"], event["object_id"]) for event in events]
    assert ("policy.create", created["id"]) in actions and ("policy.delete", created["id"]) in actions
    deletion = next(
        event
        for event in events
        if event["action"] == "policy.delete" and event["object_id"] == created["id"]
    )
    assert deletion["before_hash"] == created["content_hash"] and deletion["after_hash"] is None


@pytest.mark.parametrize("role", ["analyst", "read-only"])
def test_readers_cannot_change_policies(tenancy: Tenancy, role: str) -> None:
    created = create(tenancy, f"guarded-from-{role}")
    with tenancy.plane.client(tenancy.token(role)) as client:
        assert client.get(f"/v1/policies/{created['id']}").status_code == 200
        assert client.post("/v1/policies", content=policy_text(f"by-{role}"), headers=YAML).status_code == 403
        assert (
            client.put(
                f"/v1/policies/{created['id']}", content=policy_text(created["name"]), headers=YAML
            ).status_code
            == 403
        )
        assert client.delete(f"/v1/policies/{created['id']}").status_code == 403
        assert client.post(f"/v1/policies/{created['id']}/rollback", json={"version": 1}).status_code == 403


def test_no_token_is_401_and_a_bad_token_is_401(tenancy: Tenancy) -> None:
    with tenancy.plane.client() as client:
        missing = client.get("/v1/policies")
    with tenancy.plane.client("mvt_not-a-real-token") as client:
        wrong = client.get("/v1/policies")
    assert missing.status_code == wrong.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["admin", "policy-author", "analyst", "read-only"])
def test_no_role_sees_or_changes_another_tenants_policy(tenancy: Tenancy, role: str) -> None:
    theirs = create(tenancy, f"private-{role}", tenant="shop")
    with tenancy.plane.client(tenancy.token(role, "payments")) as client:
        assert client.get(f"/v1/policies/{theirs['id']}").status_code == 404
        assert client.get(f"/v1/policies/{theirs['id']}/versions").status_code == 404
        assert client.get(f"/v1/rollouts/{theirs['id']}").status_code == 404
        assert theirs["id"] not in {item["id"] for item in client.get("/v1/policies").json()}
        assert theirs["id"] not in {item["policy_id"] for item in client.get("/v1/rollouts").json()}
        assert theirs["id"] not in {
            event["object_id"] for event in client.get("/v1/audit", params={"limit": 1000}).json()
        }
        if role in {"admin", "policy-author"}:
            assert (
                client.put(
                    f"/v1/policies/{theirs['id']}",
                    content=policy_text(theirs["name"], "shop", "shop"),
                    headers=YAML,
                ).status_code
                == 404
            )
            assert client.delete(f"/v1/policies/{theirs['id']}").status_code == 404
            created_there = client.post(
                "/v1/policies", content=policy_text("sneaky", "shop", "shop"), headers=YAML
            )
            assert created_there.status_code == 403


def test_an_update_is_audited_with_the_hashes_of_both_versions(tenancy: Tenancy) -> None:
    created = create(tenancy, "audited")
    changed = policy_text("audited").replace(b"threshold: 10", b"threshold: 12")
    with tenancy.plane.client(tenancy.token("policy-author")) as client:
        updated = client.put(f"/v1/policies/{created['id']}", content=changed, headers=YAML).json()
    with tenancy.plane.client(tenancy.token("read-only")) as client:
        events = client.get("/v1/audit", params={"limit": 1000}).json()
    update = next(
        event
        for event in events
        if event["action"] == "policy.update" and event["object_id"] == created["id"]
    )
    assert updated["content_hash"] != created["content_hash"]
    assert (update["before_hash"], update["after_hash"]) == (created["content_hash"], updated["content_hash"])
    assert update["detail"]["version"] == 2
