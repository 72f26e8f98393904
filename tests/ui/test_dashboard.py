"""The analyst dashboard in a real headless chromium: it loads from the control plane,
takes an analyst token, draws the seeded events (chart, detectors, routes, flow map,
identities, events), narrows to one service when the filter is applied, drills down to an
event's masked sample and JSON path, never shows a raw value, and refuses a token whose
role may not read telemetry. A screenshot is saved to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO_ROOT
from tests.service_fixture import RunningPlane, running_plane
from tests.telemetry.support import (
    CHECKOUT_NODE,
    ORDERS_NODE,
    anomaly,
    batch,
    cards,
    emails,
    finding,
    now_ms,
)
from tests.ui.browser import browser, chromium

__all__ = ["browser", "chromium"]

ARTIFACTS = REPO_ROOT / "test-artifacts"
HOUR_MS = 3_600_000
RAW_VALUES = ("4111111111111111", "alice@example.com")
WAIT_SECONDS = 30
NO_VALUE = "\u2013"
"""What the page shows for a missing value (an en dash)."""


@dataclass
class Seeded:
    plane: RunningPlane
    analyst: str
    reader: str


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    now = now_ms()
    checkout_events = [
        finding(cards(4), route="card-list", at_ms=now - 3 * HOUR_MS),
        finding(cards(6), emails(1), route="card-list", action="block", at_ms=now - 2 * HOUR_MS),
        anomaly(identity="ab" * 16, route="card-list", score=22.5, at_ms=now - HOUR_MS),
    ]
    # A value a filter failed to mask: the collector must keep it out of everything shown.
    checkout_events[0]["findings"].append(cards(1, sample=RAW_VALUES[0], location="$.note"))
    orders_events = [
        finding(emails(5, sample=RAW_VALUES[1]), route="order-list", at_ms=now - HOUR_MS - HOUR_MS // 2),
        anomaly(
            identity="cd" * 16,
            route="order-list",
            score=8.0,
            action="tag",
            detector=None,
            at_ms=now - HOUR_MS // 2,
        ),
    ]
    with running_plane(tmp_path_factory.mktemp("ui-plane")) as plane, plane.admin() as admin:
        admin.post("/v1/tenants", json={"name": "shop", "namespaces": ["shop"]}).raise_for_status()
        tokens = {}
        for role in ("analyst", "read-only"):
            created = admin.post("/v1/tokens", json={"name": role, "role": role, "tenants": ["shop"]})
            tokens[role] = created.json()["token"]
        for node, events in ((CHECKOUT_NODE, checkout_events), (ORDERS_NODE, orders_events)):
            token = admin.post("/v1/telemetry/nodes", json={"node_id": node, "tenant": "shop"}).json()[
                "token"
            ]
            headers = {"authorization": f"Bearer {token}", "x-meshveil-node": node}
            sent = admin.post("/v1/telemetry", json=batch(node, events), headers=headers)
            assert sent.status_code == 200 and sent.json()["accepted"] == len(events), sent.text
        yield Seeded(plane, tokens["analyst"], tokens["read-only"])


def open_with_token(driver: webdriver.Chrome, seeded: Seeded, token: str) -> None:
    driver.get(f"{seeded.plane.rest_url}/ui/")
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()


def wait_for_status(driver: webdriver.Chrome, prefix: str) -> str:
    def status_reads(found: webdriver.Chrome) -> str | bool:
        text: str = found.find_element(By.ID, "status").text
        return text if text.startswith(prefix) else False

    text: str = WebDriverWait(driver, WAIT_SECONDS).until(status_reads)
    return text


def chart_findings(driver: webdriver.Chrome) -> int:
    bars = driver.find_elements(By.CSS_SELECTOR, "#timeline rect.bar-findings")
    return sum(int(bar.get_attribute("data-findings") or 0) for bar in bars)


def column(driver: webdriver.Chrome, table: str, index: int) -> list[str]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
    return [row.find_elements(By.TAG_NAME, "td")[index].text for row in rows]


def test_the_dashboard_shows_the_seeded_events_and_narrows_to_a_service(
    browser: webdriver.Chrome, seeded: Seeded
) -> None:
    open_with_token(browser, seeded, seeded.analyst)
    wait_for_status(browser, "Showing every service")
    # Findings: checkout 4 + 1 (unmasked sample, still counted) + 6 + 1; orders 5.
    assert chart_findings(browser) == 17
    assert browser.find_element(By.ID, "total-findings").text == "17"
    assert browser.find_element(By.ID, "total-anomalies").text == "2"
    assert sorted(column(browser, "events", 2)) == ["checkout"] * 5 + ["orders"] * 2

    Select(browser.find_element(By.ID, "service")).select_by_value("checkout")
    browser.find_element(By.ID, "apply").click()
    wait_for_status(browser, "Showing service checkout")
    assert chart_findings(browser) == 12
    assert browser.find_element(By.ID, "total-findings").text == "12"
    # The blocked finding event and the blocked anomaly.
    assert browser.find_element(By.ID, "total-blocked").text == "2"
    assert column(browser, "events", 2) == ["checkout"] * 5
    assert column(browser, "events", 1) == ["anomaly", "finding", "finding", "finding", "finding"]
    detectors = {
        bar.get_attribute("data-key"): bar.get_attribute("data-value")
        for bar in browser.find_elements(By.CSS_SELECTOR, "#by-detector rect")
    }
    assert detectors == {"credit_card": "11", "email": "1"}
    assert column(browser, "by-route", 1) == ["card-list"]
    flows = {
        (
            path.get_attribute("data-source"),
            path.get_attribute("data-destination"),
            path.get_attribute("data-detector"),
        )
        for path in browser.find_elements(By.CSS_SELECTOR, "#flows path")
    }
    assert ("checkout", "shop/web", "credit_card") in flows and ("checkout", "shop/web", "email") in flows
    identities = browser.find_elements(By.CSS_SELECTOR, "#identities tbody tr")
    assert len(identities) == 1
    assert "findings 146 vs 21.4 ± 2.6" in identities[0].text

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

    # Drill down to the blocked finding: its masked sample and JSON path, never the value.
    blocked_row = next(
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
        if "block" in row.text and "email" in row.text
    )
    blocked_row.click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda found: found.find_element(By.ID, "detail").is_displayed()
    )
    parts = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#detail-parts tbody tr")]
    assert any("$.cards[*].number" in part and "************1111" in part for part in parts)
    assert any("$.owner.email" in part and "a****@*******.com" in part for part in parts)
    browser.save_screenshot(str(ARTIFACTS / "dashboard-event.png"))

    page = browser.find_element(By.TAG_NAME, "body").text + browser.page_source
    for raw in RAW_VALUES:
        assert raw not in page
    # The finding whose sample was not masked is still counted and located, without a sample.
    unmasked_row = next(
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
        if [cell.text for cell in row.find_elements(By.TAG_NAME, "td")][4:6] == ["credit_card", "1"]
    )
    unmasked_row.click()
    WebDriverWait(browser, WAIT_SECONDS).until(
        lambda found: "$.note" in found.find_element(By.ID, "detail-parts").text
    )
    note = next(
        row
        for row in browser.find_elements(By.CSS_SELECTOR, "#detail-parts tbody tr")
        if "$.note" in row.text
    )
    assert [cell.text for cell in note.find_elements(By.TAG_NAME, "td")][2:5] == ["$.note", "1", NO_VALUE]
    assert RAW_VALUES[0] not in browser.page_source


def test_a_token_whose_role_may_not_read_telemetry_sees_nothing(
    browser: webdriver.Chrome, seeded: Seeded
) -> None:
    open_with_token(browser, seeded, seeded.reader)
    status = wait_for_status(browser, "This token may not read telemetry")
    assert "read-only" in status
    assert browser.find_element(By.ID, "total-findings").text == NO_VALUE
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline rect") == []
    open_with_token(browser, seeded, "mvt_not-a-token")
    wait_for_status(browser, "The token is unknown or revoked")


def test_the_dashboard_is_served_with_a_policy_that_allows_only_its_own_origin(seeded: Seeded) -> None:
    with seeded.plane.client() as anonymous:
        redirected = anonymous.get("/ui", follow_redirects=False)
        assert redirected.status_code == 308 and redirected.headers["location"] == "/ui/"
        page = anonymous.get("/ui/")
        script = anonymous.get("/ui/app.js")
        missing = anonymous.get("/ui/secrets.txt")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert '<script src="/ui/app.js"' in page.text and "http" not in page.text.replace("http-equiv", "")
    assert script.headers["content-type"].startswith("text/javascript")
    # The page itself holds no data: everything comes through the token-checked API.
    assert "sessionStorage" in script.text and "innerHTML" not in script.text
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
