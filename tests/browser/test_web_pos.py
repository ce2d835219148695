"""End to end in headless Chromium: log in, sell on the web POS, pay through the fake Blink, see the
success state, the transaction, the staff statement and the CSV; screenshots of every main page."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from fakeblink import FakeBlink
from payments.models import Merchant, PaymentSplit, SplitStatus, Staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PASSWORD = "demo-pos-1234"
WAIT = 15


@pytest.fixture
def shop(fake_blink: FakeBlink) -> dict[str, Any]:
    user = get_user_model().objects.create_user(username="demo", password=PASSWORD)
    merchant = Merchant.objects.create(
        user=user, name="Demo Cafe", blink_username="democafe", wallet_id=fake_blink.add_account("democafe")
    )
    staff = Staff.objects.create(
        merchant=merchant, display_name="Dana", blink_username="dana", wallet_id=fake_blink.add_account("dana")
    )
    get_user_model().objects.create_superuser(username="operator", password=PASSWORD, email="op@example.com")
    return {"merchant": merchant, "staff": staff}


def _wait(browser: Any, condition: Any) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT, poll_frequency=0.1).until(condition)


def _login(browser: Any, base: str, path: str = "/login/", username: str = "demo") -> None:
    from selenium.webdriver.common.by import By

    browser.get(base + path)
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form [type=submit]").click()


def test_sale_on_the_web_pos_end_to_end(
    browser: Any, screenshot: Any, live_server: Any, fake_blink: FakeBlink, shop: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from payments.services.detection import payment_check
    from payments.services.forwarding import forward_split

    base = live_server.url
    browser.get(base + "/login/")
    screenshot("01-login")
    _login(browser, base)
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    for key in "2500":
        browser.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    assert browser.find_element(By.ID, "amount").text == "2500 sats"
    browser.find_element(By.CSS_SELECTOR, '.chip[data-tip="20"]').click()
    Select(browser.find_element(By.ID, "recipient")).select_by_visible_text("Dana")
    screenshot("02-pos-entry")

    browser.find_element(By.ID, "charge").click()
    root = browser.find_element(By.ID, "pos")
    _wait(browser, lambda b: root.get_attribute("data-state") == "invoice")
    payment_hash = root.get_attribute("data-payment-hash")
    split = PaymentSplit.objects.get(payment_hash=payment_hash)
    assert (split.base_amount, split.tip_amount, split.staff_id) == (2500, 500, shop["staff"].pk)
    _wait(browser, lambda b: b.execute_script("return document.getElementById('qr').naturalWidth") > 0)
    assert browser.find_element(By.ID, "bolt11").get_attribute("value") == split.payment_request
    assert ":" in browser.find_element(By.ID, "countdown").text
    screenshot("03-pos-invoice")

    # The customer pays; the server verifies with the provider (never trusting the page) and forwards.
    fake_blink.pay_invoice_as_customer(payment_hash)
    assert payment_check(split=split, source="browser-test") in ("paid", "already_handled")
    forward_split(split_id=split.pk)
    _wait(browser, lambda b: root.get_attribute("data-state") == "paid")
    assert "3,000 sats received" in browser.find_element(By.ID, "success-amount").text
    screenshot("04-pos-paid")
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED

    browser.get(base + "/transactions/")
    assert payment_hash[:12] in browser.page_source
    screenshot("05-transactions")
    browser.get(f"{base}/transactions/{payment_hash}/")
    assert "@dana" in browser.page_source and "completed" in browser.page_source
    screenshot("06-transaction-detail")

    tip_leg = split.legs.get(kind="tip")
    browser.get(base + "/tips/")
    screenshot("07-tips")
    browser.get(f"{base}/tips/{shop['staff'].pk}/")
    assert tip_leg.preimage and tip_leg.preimage in browser.page_source
    assert tip_leg.payment_hash in browser.page_source
    screenshot("08-statement")
    csv_text = browser.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch(document.getElementById('statement-csv').href, {credentials: 'same-origin'})"
        ".then(function (r) { return r.text(); }).then(done);"
    )
    assert payment_hash in csv_text and tip_leg.preimage in csv_text and ",500," in csv_text

    for path, name in (("/report/", "09-end-of-day"), ("/charts/", "10-charts"), ("/settings/", "11-settings")):
        browser.get(base + path)
        assert "Log out" in browser.page_source
        screenshot(name)

    browser.set_window_size(390, 844)  # a phone
    browser.get(base + "/")
    screenshot("12-pos-phone")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 400
    browser.set_window_size(1280, 900)

    # No CSP violations were reported on any page.
    errors = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert errors == []


def test_operator_back_office_pages(browser: Any, screenshot: Any, live_server: Any, shop: dict[str, Any]) -> None:
    from selenium.webdriver.common.by import By

    _login(browser, live_server.url, "/admin/login/", username="operator")
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, ".bp-overview"))
    assert "Hot store" in browser.page_source
    screenshot("20-admin-overview")
    browser.get(live_server.url + "/admin/payments/payoutqueueitem/")
    screenshot("21-admin-payout-queue")
    browser.get(live_server.url + "/admin/payments/paymentsplit/")
    screenshot("22-admin-splits")
