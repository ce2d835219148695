"""The operators' console in headless Chromium against the stack ``make run`` starts: an operator opens
every console page with its stylesheets and every asset loading, finds a stuck payment (a pending split
two hours old) from the database page and from a saved report to its split, and re-warms its hot key
from the Redis page (a real POST with the CSRF token)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blinkpos.stack import Stack
from tests.browser.conftest import OPERATOR, OPERATOR_PASSWORD, Network
from tests.browser.test_web_pos import _sign_in, _style, _wait

pytestmark = pytest.mark.slow

# A sale nobody paid, left pending for two hours: what an operator comes to the console to find.
STUCK_SPLIT = """
from datetime import timedelta
from django.utils import timezone
from payments.models import Merchant, PaymentSplit
m = Merchant.objects.order_by("id").first()
s = PaymentSplit.objects.create(
    payment_hash="{payment_hash}", external_id="console-stuck-{suffix}", merchant=m, user_wallet_id=m.wallet_id,
    username=m.blink_username, total_amount=1100, base_amount=1000, tip_amount=100, invoice_satoshis=1100,
    expires_at=timezone.now() + timedelta(hours=3),
)
PaymentSplit.objects.filter(pk=s.pk).update(created_at=timezone.now() - timedelta(hours=2))
"""


def _console_css_applied(browser: Any, loaded: list[Any]) -> None:
    assert any(item.url.split("?")[0].rsplit("/", 1)[-1].startswith("console.") for item in loaded), "console.css"
    assert _style(browser, ".bp-console-nav", "display") == "flex"  # console.css applied
    assert _style(browser, "#header", "background-color") not in ("rgba(0, 0, 0, 0)", "None")  # the admin's


def test_an_operator_uses_the_console_and_finds_a_stuck_payment(
    live_stack: Stack, browser: Any, network: Network, screenshot: Callable[[str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    base = live_stack.base_url
    payment_hash = secrets.token_hex(32)
    live_stack.manage("shell", "-c", STUCK_SPLIT.format(payment_hash=payment_hash, suffix=payment_hash[:12]))

    # given: a signed-in operator on the landing page, which links to the console
    _sign_in(browser, base + "/admin/login/", OPERATOR, OPERATOR_PASSWORD)
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".bp-console-links"))
    network.assert_all_loaded(expect=("Document", "Stylesheet"))

    # when: they open the database page from there
    browser.find_element(By.LINK_TEXT, "Database").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "stuck-splits"))
    _console_css_applied(browser, network.assert_all_loaded(expect=("Document", "Stylesheet")))
    assert "Connections by state" in browser.page_source and "payment_splits" in browser.page_source
    screenshot("30-console-database")

    # then: the stuck split is listed and its link opens the split
    browser.find_element(By.CSS_SELECTOR, f'#stuck-splits a[title="{payment_hash}"]').click()
    _wait(browser, lambda b: payment_hash in b.page_source and "/payments/paymentsplit/" in b.current_url)
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("31-console-stuck-split")

    # and: the same split from a saved report, run with its form
    browser.get(base + "/admin/console/reports/")
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    browser.find_element(By.LINK_TEXT, "Pending payments").click()
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".bp-report-form"))
    browser.find_element(By.NAME, "older_than_minutes").clear()
    browser.find_element(By.NAME, "older_than_minutes").send_keys("60")
    browser.find_element(By.CSS_SELECTOR, ".bp-report-form [type=submit]").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "report-rows"))
    _console_css_applied(browser, network.assert_all_loaded(expect=("Document", "Stylesheet")))
    assert payment_hash in browser.page_source
    screenshot("32-console-report")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#report-rows tbody tr") if payment_hash in r.text)
    row.find_element(By.CSS_SELECTOR, "a.bp-split-link").click()
    _wait(browser, lambda b: "/payments/paymentsplit/" in b.current_url and payment_hash in b.page_source)

    # and: its hot key, looked up on the Redis page, re-warmed from PostgreSQL (POST + CSRF)
    browser.get(f"{base}/admin/console/redis/?key=tip:{payment_hash}")
    _console_css_applied(browser, network.assert_all_loaded(expect=("Document", "Stylesheet")))
    assert "Keys by family" in browser.page_source
    browser.find_element(By.ID, "rewarm").click()
    _wait(browser, lambda b: b.find_elements(By.ID, "key-ttl"))
    assert "Re-warmed" in browser.page_source and '"status": "pending"' in browser.page_source
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("33-console-redis")

    # and: the other pages render, styled, with every asset
    for path, name, marker in (
        ("/admin/console/", "34-console-home", "Saved reports"),
        ("/admin/console/queues/", "35-console-queues", "Beat schedules"),
        ("/admin/console/activepayment/", "36-console-active-payments", payment_hash[:16]),
        ("/admin/console/paymentstatistic/", "37-console-payment-statistics", "Export CSV"),
        ("/admin/console/toptiprecipient/", "38-console-top-tip-recipients", "Export CSV"),
    ):
        browser.get(base + path)
        assert marker in browser.page_source, path
        loaded = network.assert_all_loaded(expect=("Document", "Stylesheet"))
        assert any("console." in item.url for item in loaded), path
        screenshot(name)

    # No console page broke the Content Security Policy.
    violations = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert violations == []
