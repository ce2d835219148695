"""A merchant's webhooks, in headless Chromium on the stack ``make run`` starts (issue 19, "Done when"):
the merchant registers an endpoint (a loopback receiver the stack's SSRF policy lets through, exactly its
host:port) for two events in Settings → Webhooks, reveals its secret, sells on the web POS; the customer
pays at the fake Blink; the POS turns paid from its event stream; the receiver gets ``invoice.paid`` and
``payment.completed`` for that sale, each verifying with the reference Standard Webhooks library under
the secret the page showed; the endpoint's delivery log shows both answered 200, and "Send test event"
delivers a signed ``webhook.test`` too. Every page's assets load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from blinkpos.stack import Stack
from tests.browser.conftest import Network
from tests.browser.test_web_pos import DEMO_PASSWORD, DEMO_USER, _sign_in, _wait
from tests.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.slow


def _events(receiver: Receiver, since: int) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received[since:]]


def _log_rows(browser: Any) -> list[list[str]]:
    """The delivery log's rows: time, event, trigger, response, duration, body."""
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
    return [[td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_a_merchant_registers_an_endpoint_and_sees_its_deliveries(
    live_stack: Stack,
    webhook_receiver: Receiver,
    browser: Any,
    network: Network,
    screenshot: Callable[[str], Path],
) -> None:
    from selenium.webdriver.common.by import By

    base = live_stack.base_url
    receiver = webhook_receiver
    since = len(receiver.received)

    # given: the merchant, signed in, goes Settings → Webhooks
    _sign_in(browser, base + "/login/", DEMO_USER, DEMO_PASSWORD)
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    browser.get(base + "/settings/")
    browser.find_element(By.CSS_SELECTOR, "#webhook-settings a").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "webhooks"))
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    assert "No endpoints yet." in browser.find_element(By.ID, "webhooks").text
    screenshot("40-webhooks-empty")

    # when: they register the receiver for invoice.paid and payment.completed
    browser.find_element(By.NAME, "url").send_keys(receiver.url)
    browser.find_element(By.NAME, "description").send_keys("Order system")
    for box in browser.find_elements(By.CSS_SELECTOR, "input[name=event_types]"):
        wanted = box.get_attribute("value") in ("invoice.paid", "payment.completed")
        if box.is_selected() != wanted:
            box.click()
    browser.find_element(By.CSS_SELECTOR, "#webhooks form [type=submit]").click()

    # then: the endpoint's page shows the new secret once, and "Show secret" reveals the same one
    _wait(browser, lambda b: b.find_elements(By.ID, "webhook-secret"))
    created_secret = browser.find_element(By.ID, "webhook-secret").text.strip()
    assert created_secret.startswith("whsec_")
    endpoint_page = browser.find_element(By.CSS_SELECTOR, "form[action$='/secret/']").get_attribute("action")
    endpoint_page = endpoint_page.rsplit("secret/", 1)[0]
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    browser.get(endpoint_page)
    assert not browser.find_elements(By.ID, "webhook-secret")  # not on a plain visit
    assert receiver.url in browser.find_element(By.ID, "endpoint").text
    browser.find_element(By.XPATH, "//button[text()='Show secret']").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "webhook-secret"))
    secret = browser.find_element(By.ID, "webhook-secret").text.strip()
    assert secret == created_secret
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("41-webhook-secret")

    # when: a 1 500-sat sale on the web POS, paid by the customer at the fake Blink
    browser.get(base + "/")
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    for key in "1500":
        browser.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    browser.find_element(By.ID, "charge").click()
    root = browser.find_element(By.ID, "pos")
    _wait(browser, lambda b: root.get_attribute("data-state") == "invoice")
    payment_hash = root.get_attribute("data-payment-hash")
    assert payment_hash
    httpx.post(f"{live_stack.fake_control_url}/pay", json={"payment_hash": payment_hash}, timeout=10).raise_for_status()

    # then: the POS turns paid from its event stream (not by polling the status)
    _wait(browser, lambda b: root.get_attribute("data-state") == "paid")
    loads = network.assert_all_loaded(expect=("Fetch", "EventSource"))
    status_url = f"{base}/api/v1/invoices/{payment_hash}"
    assert [(item.status, item.kind) for item in loads if item.url == status_url + "/events"] == [(200, "EventSource")]
    assert not [item for item in loads if item.url == status_url], "the page polled the status"
    assert root.get_attribute("data-live") == "stream"
    screenshot("42-webhook-sale-paid")

    # and: the receiver gets invoice.paid and payment.completed for that sale, signed with the secret
    def delivered(_: Any) -> bool:
        types = {e["type"] for e in _events(receiver, since) if e["data"].get("payment_hash") == payment_hash}
        return {"invoice.paid", "payment.completed"} <= types

    _wait(browser, delivered)
    sale = [r for r in receiver.received[since:] if json.loads(r.body)["data"].get("payment_hash") == payment_hash]
    for request in sale:
        payload = verify(secret, request)  # raises when the signature does not match
        assert payload["data"]["total_sats"] == 1500
        assert request.path == "/hooks"
    by_type = {json.loads(r.body)["type"]: json.loads(r.body) for r in sale}
    assert by_type["invoice.paid"]["data"]["status"] != "pending"
    # exactly one delivery of each: both answered 200 the first time
    assert sorted(json.loads(r.body)["type"] for r in sale) == ["invoice.paid", "payment.completed"]
    assert all(secret not in r.body.decode() for r in receiver.received[since:])

    # and: the endpoint's delivery log shows both, answered 200
    def logged(b: Any) -> list[list[str]]:
        b.get(endpoint_page)
        rows = [row for row in _log_rows(b) if len(row) == 6]
        events = {row[1] for row in rows if row[3] == "200"}
        return rows if {"invoice.paid", "payment.completed"} <= events else []

    rows = _wait(browser, logged)
    assert all(row[3] == "200" for row in rows), rows
    messages = browser.find_element(By.ID, "messages").text
    assert "invoice.paid" in messages and "payment.completed" in messages
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("43-webhook-delivery-log")

    # when: the merchant sends a test event
    before_test = len(receiver.received)
    browser.find_element(By.XPATH, "//button[text()='Send test event']").click()
    _wait(browser, lambda b: "Test event queued" in b.page_source)

    # then: the receiver gets a signed webhook.test, and the log shows it answered 200
    _wait(browser, lambda _: any(e["type"] == "webhook.test" for e in _events(receiver, before_test)))
    test_event = next(r for r in receiver.received[before_test:] if json.loads(r.body)["type"] == "webhook.test")
    assert verify(secret, test_event)["data"]["message"].startswith("A test event")

    def test_logged(b: Any) -> bool:
        b.get(endpoint_page)
        return any(row[1] == "webhook.test" and row[3] == "200" for row in _log_rows(b) if len(row) == 6)

    _wait(browser, test_logged)
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("44-webhook-test-event")
