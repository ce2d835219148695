"""End to end in headless Chromium against the stack ``make run`` starts: a merchant signs in, sells with a
tip split across the demo team, the customer pays at the fake Blink, the page turns paid on its own, and
every transfer shows succeeded (the page learns it from the invoice's event stream, not by polling);
the merchant's other pages, the operator's admin and the API docs render
with their stylesheets applied. Every page's assets must load (see ``Network.assert_all_loaded``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from blinkpos.stack import Stack
from tests.browser.conftest import OPERATOR, OPERATOR_PASSWORD, Network

pytestmark = pytest.mark.slow

DEMO_USER, DEMO_PASSWORD = "demo", "demo-pos-1234"  # what seed_demo creates and the README shows
WAIT = 60  # seconds: the webhook, a worker and four payouts on a busy 2-core machine
TRANSPARENT = "rgba(0, 0, 0, 0)"


def _wait(browser: Any, condition: Any, timeout: float = WAIT) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A condition that reads elements of a page that reloads or re-renders meanwhile (live pages, forms
    # that post back) may meet a stale element: that is "not yet", so it is polled again.
    return WebDriverWait(
        browser, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
    ).until(condition)


def _style(browser: Any, selector: str, prop: str) -> str:
    return str(
        browser.execute_script(
            "var el = document.querySelector(arguments[0]);"
            "return el ? getComputedStyle(el).getPropertyValue(arguments[1]) : null;",
            selector,
            prop,
        )
    )


def _sign_in(browser: Any, url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form [type=submit]").click()


def _balances(stack: Stack) -> dict[str, int]:
    """Sats per username in the fake Blink's ledger (BTC wallets)."""
    ledger = httpx.get(f"{stack.fake_control_url}/ledger", timeout=10).json()
    owner = {a["id"]: a["username"] for a in ledger["accounts"]}
    return {owner[w["account_id"]]: w["balance"] for w in ledger["wallets"] if w["currency"] == "BTC"}


def test_a_tipped_sale_on_the_web_pos_end_to_end(
    live_stack: Stack, browser: Any, network: Network, screenshot: Callable[[str], Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base = live_stack.base_url
    # given: the sign-in page, styled
    browser.get(base + "/login/")
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    assert _style(browser, "body", "background-color") == "rgb(245, 246, 248)"
    screenshot("01-login")

    # when: the merchant signs in and rings up 2 500 sats with a 20 % tip for the floor team
    _sign_in(browser, base + "/login/", DEMO_USER, DEMO_PASSWORD)
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Script"))
    assert _style(browser, ".topbar", "background-color") == "rgb(20, 23, 31)"
    for key in "2500":
        browser.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    assert browser.find_element(By.ID, "amount").text == "2500 sats"  # the keypad's script runs
    browser.find_element(By.CSS_SELECTOR, '.chip[data-tip="20"]').click()
    Select(browser.find_element(By.ID, "recipient")).select_by_visible_text("Floor team")
    screenshot("02-pos-entry")
    browser.find_element(By.ID, "charge").click()

    # then: the invoice and its QR code are shown
    root = browser.find_element(By.ID, "pos")
    _wait(browser, lambda b: root.get_attribute("data-state") == "invoice")
    payment_hash = root.get_attribute("data-payment-hash")
    assert payment_hash and len(payment_hash) == 64
    _wait(browser, lambda b: b.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    assert browser.find_element(By.ID, "bolt11").get_attribute("value").startswith("lnbc")
    loads = network.assert_all_loaded(expect=("Fetch", "Image"))
    screenshot("03-pos-invoice")

    # when: the customer pays at the fake Blink (its webhook reaches the app; a worker forwards)
    before = _balances(live_stack)
    before_outside = httpx.get(f"{live_stack.fake_control_url}/ledger", timeout=10).json()["outside_received_msat"]
    httpx.post(f"{live_stack.fake_control_url}/pay", json={"payment_hash": payment_hash}, timeout=10).raise_for_status()

    # then: the page turns paid by itself, told by the invoice's event stream, without polling
    _wait(browser, lambda b: root.get_attribute("data-state") == "paid")
    assert "3,000 sats received" in browser.find_element(By.ID, "success-amount").text
    screenshot("04-pos-paid")
    later, failed = network.read()
    assert not failed, failed
    loads += later
    status_url = f"{base}/api/v1/invoices/{payment_hash}"
    assert [(item.status, item.kind) for item in loads if item.url == status_url + "/events"] == [(200, "EventSource")]
    assert not [item for item in loads if item.url == status_url], "the page polled the status"
    assert root.get_attribute("data-live") == "stream"

    # and: the transaction shows every transfer succeeded, and the wallets really received them
    browser.get(f"{base}/transactions/{payment_hash}/")

    def legs_done(b: Any) -> list[list[str]] | None:
        b.refresh()
        rows = [
            [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in b.find_elements(By.CSS_SELECTOR, "table tbody tr")
            if row.find_elements(By.CSS_SELECTOR, ".badge")
        ]
        return rows if rows and all(row[3] == "succeeded" for row in rows) else None

    legs = _wait(browser, legs_done)
    dave = f"dave@{live_stack.outside_lnurl_host}"  # the team member paid at an outside Lightning address
    assert sorted((row[0].split(" (")[0], int(row[2])) for row in legs) == [
        ("@alice", 200),
        ("@bob", 150),
        ("@carol", 100),
        ("@demo_merchant", 2500),
        (dave, 50),
    ]
    assert "completed" in browser.find_element(By.TAG_NAME, "h1").text
    network.assert_all_loaded()
    screenshot("05-transaction-detail")
    after = _balances(live_stack)
    received = {name: after[name] - before.get(name, 0) for name in ("demo_merchant", "alice", "bob", "carol")}
    assert received == {"demo_merchant": 2500, "alice": 200, "bob": 150, "carol": 100}
    # Dave's 50-sat share reached his outside wallet exactly once, less the routing fee he pays (the
    # fake's probe: 1 sat + 0.5 %, so 2 sats): 48 sats, not 96
    outside = httpx.get(f"{live_stack.fake_control_url}/ledger", timeout=10).json()["outside_received_msat"]
    assert outside.get("outside:dave", 0) - before_outside.get("outside:dave", 0) == 48_000

    # and: the merchant's other pages render, styled, with every asset
    pages = [
        ("/transactions/", "06-transactions"),
        ("/tips/", "07-tips"),
        ("/report/", "08-end-of-day"),
        ("/charts/", "09-charts"),
        ("/settings/", "10-settings"),
    ]
    for path, name in pages:
        browser.get(base + path)
        assert "Log out" in browser.page_source
        network.assert_all_loaded(expect=("Document", "Stylesheet"))
        assert _style(browser, ".topbar", "background-color") == "rgb(20, 23, 31)", path
        screenshot(name)
    assert payment_hash[:12] in (browser.get(base + "/transactions/") or browser.page_source)

    browser.set_window_size(390, 844)  # a phone
    browser.get(base + "/")
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Script"))
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
    screenshot("11-pos-phone")

    # No page broke the Content Security Policy.
    violations = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert violations == []


def test_the_back_office_and_the_api_docs_render_styled(
    live_stack: Stack, browser: Any, network: Network, screenshot: Callable[[str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    base = live_stack.base_url
    # given: the admin's sign-in page, with the admin's own stylesheets
    browser.get(base + "/admin/login/")
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    assert _style(browser, "#header", "background-color") not in (TRANSPARENT, "None")
    screenshot("20-admin-login")

    # when: an operator signs in (the demo settings ask no second factor)
    _sign_in(browser, base + "/admin/login/", OPERATOR, OPERATOR_PASSWORD)

    # then: the landing page with the platform overview, styled by the admin's CSS and ours
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".bp-overview"))
    loaded = network.assert_all_loaded(expect=("Document", "Stylesheet"))
    assert any(item.url.split("?")[0].rsplit("/", 1)[-1].startswith("admin.") for item in loaded)
    assert "Hot store" in browser.page_source
    assert _style(browser, "#header", "background-color") not in (TRANSPARENT, "None")
    screenshot("21-admin-overview")
    for path, name in (
        ("/admin/payments/payoutqueueitem/", "22-admin-payout-queue"),
        ("/admin/payments/paymentsplit/", "23-admin-splits"),
        ("/admin/django_celery_beat/periodictask/", "24-admin-beat-schedule"),
        ("/admin/two-factor/", "25-admin-two-factor"),
    ):
        browser.get(base + path)
        assert browser.find_elements(By.ID, "content"), path
        network.assert_all_loaded(expect=("Document", "Stylesheet"))
        screenshot(name)
    assert "reconcile" in (browser.get(base + "/admin/django_celery_beat/periodictask/") or browser.page_source)

    # and: the API docs (Swagger UI, served locally) render the schema with their own stylesheet
    browser.get(base + "/api/docs/")
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert "BlinkPOS API" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert _style(browser, ".swagger-ui .info .title", "font-size") == "36px"  # swagger-ui.css applied
    loaded = network.assert_all_loaded(expect=("Document", "Stylesheet", "Script"))
    assert any(item.url.endswith("/api/schema/") and item.status == 200 for item in loaded)
    screenshot("26-api-docs")
