"""After the sale, in headless Chromium on the stack ``make run`` starts (issue 18): the merchant sells on
the web POS, the customer pays, the success screen shows the receipt's QR; the receipt page (public, no
login) says what was bought and proves the payment; the merchant refunds part of it with the tip from
Transactions, pays the funding invoice, and the customer's wallet claims it by LNURL-withdraw (LUD-03):
the refund ends paid and the customer's wallet holds exactly the refunded sats. Every page's assets load.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bolt11
import httpx
import pytest

from blinkpos.stack import Stack
from chaos.refunds import lnurl_decode
from tests.browser.conftest import Network
from tests.browser.test_web_pos import DEMO_PASSWORD, DEMO_USER, WAIT, _balances, _sign_in, _wait

pytestmark = pytest.mark.slow

ON_BEHALF = """
mutation($input: LnInvoiceCreateOnBehalfOfRecipientInput!) {
  lnInvoiceCreateOnBehalfOfRecipient(input: $input) { errors { code message } invoice { paymentRequest } }
}
"""


def _customer_invoice(stack: Stack, wallet_id: str, sats: int) -> str:
    """An invoice of the customer's own wallet at the fake Blink (what their wallet hands the claim)."""
    variables = {"input": {"recipientWalletId": wallet_id, "amount": sats, "externalId": uuid.uuid4().hex}}
    reply = httpx.post(stack.fake_graphql_url, json={"query": ON_BEHALF, "variables": variables}, timeout=10)
    payload = reply.json()["data"]["lnInvoiceCreateOnBehalfOfRecipient"]
    assert payload["errors"] == []
    return str(payload["invoice"]["paymentRequest"])


def _status(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.CSS_SELECTOR, "h1 .badge").text.strip())


def test_sell_receipt_refund_claim_refunded(
    live_stack: Stack, browser: Any, network: Network, screenshot: Callable[[str], Path]
) -> None:
    from selenium.webdriver.common.by import By

    base = live_stack.base_url
    customer = httpx.post(f"{live_stack.fake_control_url}/accounts", json={"username": "refund_customer"}, timeout=10)
    customer.raise_for_status()
    customer_wallet = customer.json()["wallets"]["BTC"]

    # given: a 2 000-sat sale with a 10 % tip, paid by the customer
    _sign_in(browser, base + "/login/", DEMO_USER, DEMO_PASSWORD)
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    for key in "2000":
        browser.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    browser.find_element(By.CSS_SELECTOR, '.chip[data-tip="10"]').click()
    browser.find_element(By.ID, "charge").click()
    root = browser.find_element(By.ID, "pos")
    _wait(browser, lambda b: root.get_attribute("data-state") == "invoice")
    payment_hash = root.get_attribute("data-payment-hash")
    httpx.post(f"{live_stack.fake_control_url}/pay", json={"payment_hash": payment_hash}, timeout=10).raise_for_status()

    # then: the success screen shows the receipt's QR code and its link
    _wait(browser, lambda b: root.get_attribute("data-state") == "paid")
    _wait(browser, lambda b: b.find_element(By.ID, "receipt-box").is_displayed())
    _wait(browser, lambda b: b.execute_script("return document.getElementById('receipt-qr').naturalWidth") > 0)
    assert browser.find_element(By.ID, "print-receipt").is_displayed()
    receipt_url = browser.find_element(By.ID, "receipt-link").get_attribute("href")
    assert receipt_url and "/r/" in receipt_url
    network.assert_all_loaded(expect=("Fetch", "Image"))
    screenshot("30-pos-paid-receipt-qr")

    # when: the customer opens the receipt link (a new browser session: no login)
    browser.delete_all_cookies()
    browser.get(receipt_url)
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Script", "Image"))
    text = browser.find_element(By.ID, "receipt").text
    # then: the sale, the tip, the total and the proof of payment, and nothing of the dashboard
    assert "Demo Cafe" in text and "2,000 sats" in text and "200 sats" in text and "2,200 sats" in text
    assert payment_hash in text
    preimage = browser.find_element(By.XPATH, "//dt[text()='Preimage']/following-sibling::dd[1]").text.strip()
    assert hashlib.sha256(bytes.fromhex(preimage)).hexdigest() == payment_hash
    assert "Log out" not in browser.page_source and "/transactions/" not in browser.page_source
    screenshot("31-receipt")

    # when: the merchant refunds 1 000 sats including the tip, from the sale in Transactions
    _sign_in(browser, base + "/login/", DEMO_USER, DEMO_PASSWORD)
    detail = f"{base}/transactions/{payment_hash}/"

    def completed(b: Any) -> bool:
        b.get(detail)
        return bool(b.find_elements(By.LINK_TEXT, "Refund…"))

    _wait(browser, completed)  # a refund is for a completed sale: every transfer made
    browser.find_element(By.LINK_TEXT, "Refund…").click()
    browser.find_element(By.NAME, "amount_sats").send_keys("1000")
    browser.find_element(By.NAME, "tip_refunded").click()
    browser.find_element(By.NAME, "reason").send_keys("Wrong order")
    browser.find_element(By.CSS_SELECTOR, "section.card form [type=submit]").click()
    _wait(browser, lambda b: "/refunds/" in b.current_url)
    refund_page = browser.current_url
    assert _status(browser) == "awaiting_funding"
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Image"))
    screenshot("32-refund-funding")

    # and: pays the funding invoice from their own wallet
    funding = browser.find_element(By.CSS_SELECTOR, "code.wrap").text.strip()
    funding_hash = bolt11.decode(funding).payment_hash
    httpx.post(f"{live_stack.fake_control_url}/pay", json={"payment_hash": funding_hash}, timeout=10).raise_for_status()

    def claim_shown(b: Any) -> str | None:
        b.get(refund_page)
        codes = [c.text.strip() for c in b.find_elements(By.CSS_SELECTOR, "code.wrap")]
        return next((c for c in codes if c.lower().startswith("lnurl")), None)

    claim_lnurl = _wait(browser, claim_shown)
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Image"))
    screenshot("33-refund-claim-qr")

    # when: the customer's wallet scans the claim QR (LNURL-withdraw) and hands it an invoice
    before = _balances(live_stack).get("refund_customer", 0)
    withdraw = httpx.get(lnurl_decode(claim_lnurl), timeout=10).json()
    assert withdraw["tag"] == "withdrawRequest"
    assert withdraw["minWithdrawable"] == withdraw["maxWithdrawable"] == 1_000_000  # exactly 1 000 sats
    assert urlsplit(withdraw["callback"]).netloc == urlsplit(base).netloc  # served by BlinkPOS itself
    invoice = _customer_invoice(live_stack, customer_wallet, 1000)
    answer = httpx.get(withdraw["callback"], params={"k1": withdraw["k1"], "pr": invoice}, timeout=10)
    assert answer.json() == {"status": "OK"}, answer.text
    # a second claim (the same QR scanned again) is refused
    again = httpx.get(withdraw["callback"], params={"k1": withdraw["k1"], "pr": invoice}, timeout=10)
    assert again.json()["status"] == "ERROR"

    # then: the refund ends paid, and the customer received exactly the refund, once
    def paid(b: Any) -> bool:
        b.get(refund_page)
        return _status(b) == "paid"

    _wait(browser, paid, timeout=WAIT)
    assert _balances(live_stack)["refund_customer"] - before == 1000
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("34-refund-paid")
    browser.get(detail)
    assert "Wrong order" in browser.page_source
