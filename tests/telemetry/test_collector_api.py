"""The collector over REST: ingest (per-node credentials, idempotency, bad input), the
analyst's queries and aggregates, exports, and tenant / role scoping."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from tests.telemetry.support import (
    CHECKOUT_NODE,
    LEDGER_NODE,
    ORDERS_NODE,
    Collector,
    anomaly,
    cards,
    collector,
    emails,
    finding,
    now_ms,
)

__all__ = ["collector"]

MINUTE_MS = 60_000


def iso(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, UTC).isoformat()


def test_a_batch_is_stored_once_however_often_it_is_sent(collector: Collector) -> None:
    token = collector.issue_node("idempotent-node", service="idempotent")
    events = [anomaly(identity="aa" * 16), finding(cards(4), emails(1))]
    first = collector.send(
        token, "idempotent-node", events, batch_id="f00d000000000000-b000000000001", dropped=3
    )
    assert first.status_code == 200, first.text
    assert first.json() | {"rejected": None} == {
        "batch_id": "f00d000000000000-b000000000001",
        "accepted": 2,
        "duplicate": 0,
        "expired": 0,
        "rejected": None,
        "samples_withheld": 0,
    }
    # The answer was lost; the filter sends the same bytes again, twice.
    for _ in range(2):
        again = collector.send(
            token, "idempotent-node", events, batch_id="f00d000000000000-b000000000001", dropped=3
        )
        assert again.status_code == 200
        assert (again.json()["accepted"], again.json()["duplicate"]) == (0, 2)
    # A later batch that repeats one event and brings a new one.
    overlap = collector.send(token, "idempotent-node", [events[0], anomaly(identity="bb" * 16)])
    assert (overlap.json()["accepted"], overlap.json()["duplicate"]) == (1, 1)

    with collector.api("analyst") as analyst:
        stored = analyst.get("/v1/telemetry/events", params={"service": "idempotent"}).json()["events"]
        nodes = {item["node_id"]: item for item in analyst.get("/v1/telemetry/nodes").json()}
    # Three events: one anomaly, one finding event of two findings (two rows), one anomaly.
    assert sorted((item["type"], item["detector"]) for item in stored) == [
        ("anomaly", "credit_card"),
        ("anomaly", "credit_card"),
        ("finding", "credit_card"),
        ("finding", "email"),
    ]
    node = nodes["idempotent-node"]
    assert (node["batches"], node["events_accepted"], node["events_duplicate"]) == (4, 3, 5)
    # The drops the batch reported count once, not once per attempt.
    assert node["events_dropped"] == 3


def test_each_node_sends_only_with_its_own_credential(collector: Collector) -> None:
    checkout = collector.issue_node(CHECKOUT_NODE)
    orders = collector.issue_node(ORDERS_NODE)
    events = [anomaly()]
    assert collector.send(checkout, CHECKOUT_NODE, events).status_code == 200
    # Another node's credential, or a node id the credential does not belong to.
    refused = collector.send(orders, CHECKOUT_NODE, [anomaly()], header_node=CHECKOUT_NODE)
    assert refused.status_code == 403
    assert "does not belong to node" in refused.json()["detail"]
    # The batch must name the node its credential belongs to.
    mismatched = collector.send(checkout, ORDERS_NODE, [anomaly()], header_node=CHECKOUT_NODE)
    assert mismatched.status_code == 422 and mismatched.json()["detail"].startswith("node:")
    # An API token is not a node credential; no token at all is not either.
    assert collector.send(collector.tokens[("admin", "shop")], CHECKOUT_NODE, events).status_code == 401
    with collector.plane.client() as anonymous:
        missing = anonymous.post("/v1/telemetry", json={}, headers={"x-meshveil-node": CHECKOUT_NODE})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    # Revoked: refused at once.
    with collector.plane.admin() as admin:
        assert admin.delete(f"/v1/telemetry/nodes/{ORDERS_NODE}").status_code == 204
    assert collector.send(orders, ORDERS_NODE, [anomaly()]).status_code == 401


def test_node_credentials_are_for_admins_of_the_tenant(collector: Collector) -> None:
    body = {"node_id": "author-node", "tenant": "shop"}
    with collector.api("policy-author") as author:
        assert author.post("/v1/telemetry/nodes", json=body).status_code == 403
    with collector.api("admin", "payments") as other_admin:
        assert other_admin.post("/v1/telemetry/nodes", json=body).status_code == 403
    with collector.api("admin") as admin:
        created = admin.post("/v1/telemetry/nodes", json=body)
        assert created.status_code == 201 and created.json()["token"].startswith("mvn_")
        assert admin.post("/v1/telemetry/nodes", json=body).status_code == 409
        unknown = admin.post("/v1/telemetry/nodes", json={"node_id": "x", "tenant": "nope"})
        assert unknown.status_code == 403  # a tenant this token is not scoped to
    with collector.plane.admin() as platform_admin:
        unknown = platform_admin.post("/v1/telemetry/nodes", json={"node_id": "x", "tenant": "nope"})
        assert unknown.status_code == 422 and "unknown tenant" in unknown.json()["detail"]
        audit = platform_admin.get("/v1/audit", params={"limit": 1000}).json()
    assert any(
        item["action"] == "telemetry-node.create" and item["object_id"] == "author-node" for item in audit
    )


def test_bad_batches_are_refused_with_the_field_and_bad_events_alone(collector: Collector) -> None:
    token = collector.issue_node("strict-node", service="strict")
    headers = {"authorization": f"Bearer {token}", "x-meshveil-node": "strict-node"}
    with collector.plane.client() as client:
        not_json = client.post(
            "/v1/telemetry", content=b"{oops", headers={**headers, "content-type": "application/json"}
        )
        assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]
        assert not_json.headers["content-type"] == "application/problem+json"
        assert not_json.json()["instance"] == "/v1/telemetry"
        wrong_type = client.post(
            "/v1/telemetry", content=b"{}", headers={**headers, "content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        huge = client.post(
            "/v1/telemetry",
            content=b" " * (1024 * 1024 + 1),
            headers={**headers, "content-type": "application/json"},
        )
        assert huge.status_code == 413
    envelope_error = collector.send(token, "strict-node", [])
    assert envelope_error.status_code == 422
    assert envelope_error.json()["errors"][0]["path"] == "events"

    good, bad_score, wrong_type = anomaly(), anomaly(), finding()
    bad_score["score"] = -1
    wrong_type["type"] = "secret"
    future = anomaly(at_ms=now_ms() + 3_600_000)
    mixed = collector.send(token, "strict-node", [good, bad_score, wrong_type, future])
    assert mixed.status_code == 200, mixed.text
    result = mixed.json()
    assert result["accepted"] == 1
    assert [(item["index"], item["event_id"]) for item in result["rejected"]] == [
        (1, bad_score["event_id"]),
        (2, wrong_type["event_id"]),
        (3, future["event_id"]),
    ]
    reasons = [item["reason"] for item in result["rejected"]]
    assert reasons[0].startswith("events[1].score:")
    assert "type must be one of" in reasons[1]
    assert reasons[2].startswith("events[3].time_unix_ms:") and "ahead of the collector's clock" in reasons[2]


def test_the_ingest_route_is_documented_with_its_headers_and_body(collector: Collector) -> None:
    with collector.plane.client() as client:
        operation = client.get("/openapi.json").json()["paths"]["/v1/telemetry"]["post"]
    headers = {item["name"]: item["required"] for item in operation["parameters"] if item["in"] == "header"}
    assert headers == {"authorization": True, "x-meshveil-node": True, "x-forwarded-client-cert": False}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"schema", "batch_id", "node", "events"} <= set(body["required"])
    assert "IngestOut" in json.dumps(operation["responses"]["200"])


def test_values_that_are_not_masked_never_reach_storage(collector: Collector) -> None:
    token = collector.issue_node("leaky-node", service="leaky")
    leaked = finding(
        cards(1, sample="4111111111111111"), emails(1, sample="alice@example.com"), secret="hunter2"
    )
    response = collector.send(token, "leaky-node", [leaked])
    assert response.json()["samples_withheld"] == 2
    with collector.api("analyst") as analyst:
        page = analyst.get("/v1/telemetry/events", params={"service": "leaky"}).json()["events"]
        detail = analyst.get(f"/v1/telemetry/events/{page[0]['id']}").json()
        exported = analyst.get("/v1/telemetry/export", params={"service": "leaky", "format": "jsonl"}).text
    everything = json.dumps(page) + json.dumps(detail) + exported
    for raw in ("4111111111111111", "alice@example.com", "hunter2", "secret"):
        assert raw not in everything
    assert {item["masked_sample"] for item in page} == {None}


def test_queries_filter_by_time_service_route_detector_identity_and_action(collector: Collector) -> None:
    base = (now_ms() // MINUTE_MS - 30) * MINUTE_MS
    shop_a = collector.issue_node("query-a", service="query-cards")
    shop_b = collector.issue_node("query-b", service="query-orders")
    events_a = [
        finding(cards(5), route="card-list", at_ms=base + 1_000),
        finding(cards(2), emails(1), route="card-list", at_ms=base + 61_000, action="block"),
        anomaly(
            identity="c0ffee" * 5 + "00",
            route="card-list",
            at_ms=base + 62_000,
            score=12.0,
            action="throttle",
        ),
    ]
    events_b = [
        finding(emails(7), route="order-list", at_ms=base + 125_000),
        anomaly(
            identity="d00d" * 8,
            route="order-list",
            at_ms=base + 126_000,
            score=30.5,
            action="block",
            detector=None,
        ),
    ]
    assert collector.send(shop_a, "query-a", events_a).json()["accepted"] == 3
    assert collector.send(shop_b, "query-b", events_b).json()["accepted"] == 2
    window = {
        "since": iso(base),
        "until": iso(base + 10 * MINUTE_MS),
        "service": ["query-cards", "query-orders"],
    }

    with collector.api("analyst") as analyst:

        def ids(**params: object) -> list[tuple[str, str | None, int]]:
            events = analyst.get("/v1/telemetry/events", params={**window, **params}).json()["events"]
            return [(item["type"], item["detector"], item["findings"]) for item in events]

        # Newest first.
        assert ids() == [
            ("anomaly", None, 146),
            ("finding", "email", 7),
            ("anomaly", "credit_card", 146),
            ("finding", "email", 1),
            ("finding", "credit_card", 2),
            ("finding", "credit_card", 5),
        ]
        assert ids(service="query-orders") == [("anomaly", None, 146), ("finding", "email", 7)]
        assert ids(route="card-list", type="finding") == [
            ("finding", "email", 1),
            ("finding", "credit_card", 2),
            ("finding", "credit_card", 5),
        ]
        assert ids(detector="email") == [("finding", "email", 7), ("finding", "email", 1)]
        assert ids(identity="d00d" * 8) == [("anomaly", None, 146)]
        assert ids(action="block", type="finding") == [("finding", "email", 1), ("finding", "credit_card", 2)]
        assert ids(since=iso(base + 60_000), until=iso(base + 120_000)) == [
            ("anomaly", "credit_card", 146),
            ("finding", "email", 1),
            ("finding", "credit_card", 2),
        ]
        paged = analyst.get("/v1/telemetry/events", params={**window, "limit": 4}).json()
        rest = analyst.get(
            "/v1/telemetry/events", params={**window, "limit": 4, "cursor": paged["next_cursor"]}
        )
        assert (
            len(paged["events"]) == 4
            and len(rest.json()["events"]) == 2
            and rest.json()["next_cursor"] is None
        )

        totals = analyst.get("/v1/telemetry/summary", params=window).json()
        # Blocked: the blocked finding event, the throttled and the blocked anomaly.
        assert totals == {"findings": 15, "anomalies": 2, "blocked": 3}

        series = analyst.get("/v1/telemetry/timeseries", params={**window, "bucket_seconds": 60}).json()
        assert [
            (item["start_ms"] - base, item["findings"], item["anomalies"]) for item in series["buckets"]
        ] == [
            (0, 5, 0),
            (60_000, 3, 1),
            (120_000, 7, 1),
        ]
        by_detector = analyst.get(
            "/v1/telemetry/timeseries", params={**window, "bucket_seconds": 60, "group_by": "detector"}
        ).json()
        assert [
            (item["start_ms"] - base, item["key"], item["findings"]) for item in by_detector["buckets"]
        ] == [
            (0, "credit_card", 5),
            (60_000, "credit_card", 2),
            (60_000, "email", 1),
            (120_000, "email", 7),
            (120_000, None, 0),
        ]

        top = analyst.get("/v1/telemetry/top", params={**window, "by": "detector", "type": "finding"}).json()
        assert [(entry["keys"], entry["findings"]) for entry in top["entries"]] == [
            (["email"], 8),
            (["credit_card"], 7),
        ]
        routes = analyst.get("/v1/telemetry/top", params={**window, "by": ["service", "route"]}).json()
        assert [(entry["keys"], entry["findings"], entry["anomalies"]) for entry in routes["entries"]] == [
            (["query-cards", "card-list"], 8, 1),
            (["query-orders", "order-list"], 7, 1),
        ]

        flows = analyst.get("/v1/telemetry/flows", params=window).json()
        assert {
            (f["source"], f["destination"], f["detector"], f["findings"], f["anomalies"]) for f in flows
        } == {
            ("query-cards", "shop/web", "credit_card", 7, 0),
            ("query-cards", "shop/web", "email", 1, 0),
            ("query-orders", "shop/web", "email", 7, 0),
            ("shop/web", "query-cards", "credit_card", 0, 1),
            ("shop/web", "query-orders", None, 0, 1),
        }

        identities = analyst.get("/v1/telemetry/identities", params=window).json()
        assert [(item["identity"], item["anomalies"], item["max_score"]) for item in identities] == [
            ("d00d" * 8, 1, 30.5),
            ("c0ffee" * 5 + "00", 1, 12.0),
        ]
        zscore = identities[0]["reasons"][0]
        assert (zscore["feature"], zscore["value"], zscore["baseline_mean"], zscore["baseline_stddev"]) == (
            "findings",
            146.0,
            21.375,
            2.587,
        )

        values = analyst.get("/v1/telemetry/values", params={**window, "by": "route"}).json()
        assert values == ["card-list", "order-list"]


def test_drill_down_shows_every_finding_of_the_event_with_its_masked_sample(collector: Collector) -> None:
    token = collector.issue_node("drill-node", service="drill")
    event = finding(cards(12), emails(2), route="card-list", action="block")
    collector.send(token, "drill-node", [event])
    with collector.api("analyst") as analyst:
        listed = analyst.get("/v1/telemetry/events", params={"service": "drill", "detector": "email"}).json()
        detail = analyst.get(f"/v1/telemetry/events/{listed['events'][0]['id']}").json()
    assert detail["node_id"] == "drill-node" and detail["event_id"] == event["event_id"]
    assert [(part["detector"], part["location"], part["masked_sample"]) for part in detail["parts"]] == [
        ("credit_card", "$.cards[*].number", "************1111"),
        ("email", "$.owner.email", "a****@*******.com"),
    ]
    assert [part["fingerprints"] for part in detail["parts"]] == [["a1b2c3d4e5f60718"], []]
    assert detail["detail"]["policy"] == "checkout-pii" and detail["detail"]["route"] == "card-list"
    assert detail["peer"] == "shop/web" and detail["direction"] == "response"


def test_exports_are_csv_and_json_lines_of_the_filtered_events(collector: Collector) -> None:
    token = collector.issue_node("export-node", service="export")
    risky_route = "=HYPERLINK(1)"
    collector.send(token, "export-node", [finding(cards(3), route=risky_route), anomaly(route="profile")])
    with collector.api("analyst") as analyst:
        exported = analyst.get("/v1/telemetry/export", params={"service": "export", "format": "csv"})
        lines = analyst.get(
            "/v1/telemetry/export", params={"service": "export", "format": "jsonl", "type": "anomaly"}
        )
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(row["type"], row["detector"], row["findings"]) for row in rows] == [
        ("anomaly", "credit_card", "146"),
        ("finding", "credit_card", "3"),
    ]
    # A value a spreadsheet would run as a formula is quoted.
    assert rows[1]["route"] == "'" + risky_route and rows[1]["masked_sample"] == "************1111"
    documents = [json.loads(line) for line in lines.text.splitlines()]
    assert [(item["type"], item["route"]) for item in documents] == [("anomaly", "profile")]
    assert documents[0]["detail"]["reasons"][0]["baseline"]["mean"] == 21.375


def test_analysts_see_their_tenants_and_other_roles_see_no_telemetry(collector: Collector) -> None:
    ledger = collector.issue_node(LEDGER_NODE, tenant="payments")
    collector.send(ledger, LEDGER_NODE, [finding(cards(9), route="ledger")])
    since = {"since": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}
    with collector.api("analyst", "payments") as payments:
        services = payments.get("/v1/telemetry/values", params={**since, "by": "service"}).json()
        assert services == ["ledger"]
        ledger_event = payments.get("/v1/telemetry/events", params=since).json()["events"][0]
        nodes = [item["node_id"] for item in payments.get("/v1/telemetry/nodes").json()]
        assert nodes == [LEDGER_NODE]
    with collector.api("analyst", "shop") as shop:
        assert "ledger" not in shop.get("/v1/telemetry/values", params={**since, "by": "service"}).json()
        assert shop.get(f"/v1/telemetry/events/{ledger_event['id']}").status_code == 404
        assert shop.get("/v1/telemetry/events", params={"tenant": "payments"}).json()["events"] == []
    for role in ("policy-author", "read-only"):
        with collector.api(role, "payments") as other:
            refused = other.get("/v1/telemetry/summary")
            assert refused.status_code == 403 and "may not telemetry.read" in refused.json()["detail"]
    with collector.plane.client() as anonymous:
        assert anonymous.get("/v1/telemetry/events").status_code == 401


def test_query_parameters_are_checked(collector: Collector) -> None:
    with collector.api("analyst") as analyst:
        backwards = analyst.get(
            "/v1/telemetry/summary", params={"since": iso(now_ms()), "until": iso(now_ms() - 1000)}
        )
        assert backwards.status_code == 422 and backwards.json()["detail"] == "since: must be before until"
        naive = analyst.get("/v1/telemetry/summary", params={"since": "2026-01-01T00:00:00"})
        assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
        assert analyst.get("/v1/telemetry/top", params={"by": "password"}).status_code == 422
        too_fine = analyst.get(
            "/v1/telemetry/timeseries",
            params={"since": iso(0 + 1000), "until": iso(now_ms()), "bucket_seconds": 1},
        )
        assert too_fine.status_code == 422 and "buckets" in too_fine.json()["detail"]
        assert analyst.get("/v1/telemetry/events", params={"cursor": "nope"}).status_code == 422


def test_findings_without_a_kept_location_still_count(collector: Collector) -> None:
    token = collector.issue_node("rest-node", service="rest")
    located = cards(4)
    located["count"] = 10  # the filter kept one location of four values; six went unsampled
    truncated = {"detector": "email", "count": 3}  # an event that ran out of room: counts only
    collector.send(token, "rest-node", [finding(located, truncated, unsampled=6, truncated=True)])
    with collector.api("analyst") as analyst:
        rows = analyst.get("/v1/telemetry/events", params={"service": "rest"}).json()["events"]
        totals = analyst.get("/v1/telemetry/summary", params={"service": "rest"}).json()
    assert sorted((row["part"], row["detector"], row["location"], row["findings"]) for row in rows) == [
        (0, "credit_card", "$.cards[*].number", 4),
        (1, "credit_card", None, 6),
        (2, "email", None, 3),
    ]
    assert totals["findings"] == 13
