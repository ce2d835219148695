"""A pooled shift, in headless Chromium on the stack ``make run`` starts (issue 20, "Done when"): the demo
merchant switches to pooled tips (Shifts → Tip mode; the demo's rule: hours x role weight, kitchen
tip-out 10 %), gives Bob and Carol a sign-in PIN (Alice has hers from the demo); Alice, Bob and Carol
clock in on the web POS with their cashier PINs; two tipped sales are made there and paid at the fake
Blink; the merchant reviews the shift and confirms the close. Then each of the three is paid exactly
once (one new receive on their wallet at the fake, one succeeded ``PoolPayout``), the shares add up to
the pooled tips to the sat, each sees their payout on their own staff page, and the merchant's payroll
report shows the same amounts. Every page's assets load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from blinkpos.stack import Stack
from tests.browser.conftest import Network
from tests.browser.test_web_pos import DEMO_PASSWORD, DEMO_USER, WAIT, _sign_in, _wait

pytestmark = pytest.mark.slow

CREW = {"Alice": "alice", "Bob": "bob", "Carol": "carol"}  # display name -> Blink username (seed_demo)
CASHIER_PINS = {"Alice": "1111", "Bob": "2222", "Carol": "3333"}  # the demo till's PINs (_demo_shifts)
SIGN_IN_PINS = {"Alice": "1111", "Bob": "246810", "Carol": "135790"}  # Alice's is the demo's
SALES = ((2000, "10"), (1500, "20"))  # sats, tip percent: 200 + 300 pooled
POOL = 500


@pytest.fixture
def pooled_demo(live_stack: Stack) -> Iterator[None]:
    """The session's stack is shared: put the demo merchant back in per-sale mode afterwards, whatever
    happened, so the next browser test sells as the demo does."""
    yield
    live_stack.manage(
        "shell",
        "-c",
        "from payments.models import Merchant;"
        "Merchant.objects.filter(blink_username='demo_merchant').update(tip_mode='per_sale')",
    )


def _ledger(stack: Stack) -> dict[str, Any]:
    return dict(httpx.get(f"{stack.fake_control_url}/ledger", timeout=10).json())


def _wallets(ledger: dict[str, Any]) -> dict[str, str]:
    """Blink username -> BTC wallet id at the fake."""
    owner = {a["id"]: a["username"] for a in ledger["accounts"]}
    return {owner[w["account_id"]]: w["id"] for w in ledger["wallets"] if w["currency"] == "BTC"}


def _receives(ledger: dict[str, Any], wallet_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in ledger["transactions"]
        if t["wallet_id"] == wallet_id and t["direction"] == "RECEIVE" and t["status"] == "SUCCESS"
    ]


def _balance(ledger: dict[str, Any], wallet_id: str) -> int:
    return int(next(w["balance"] for w in ledger["wallets"] if w["id"] == wallet_id))


def _payroll_paid(browser: Any, base: str) -> dict[str, int]:
    """Staff name -> "Paid out" sats on the merchant's payroll report (default period)."""
    from selenium.webdriver.common.by import By

    browser.get(base + "/payroll/")
    paid = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#payroll tbody tr"):
        cells = [td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")]
        if len(cells) == 10:
            paid[cells[0]] = int(cells[5].replace(",", ""))
    return paid


def _message(browser: Any) -> str:
    # One script reads every message at once: the page reloads after each clock form, and element
    # handles found before a reload go stale between finding them and reading their text.
    return str(
        browser.execute_script(
            "return Array.from(document.querySelectorAll('.msg')).map(function (m) { return m.innerText; }).join(' ');"
        )
    )


def _open_shift_panel(browser: Any) -> None:
    from selenium.webdriver.common.by import By

    panel = browser.find_element(By.ID, "shift-panel")
    if panel.get_attribute("open") is None:
        panel.find_element(By.TAG_NAME, "summary").click()


def _clock(browser: Any, name: str, pin: str, done: str) -> None:
    """One person clocks in or out on the web POS's shift panel with their cashier PIN."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    _wait(browser, lambda b: b.find_elements(By.ID, "clock-form"))
    _open_shift_panel(browser)
    Select(browser.find_element(By.CSS_SELECTOR, "#clock-form [name=staff_id]")).select_by_visible_text(name)
    browser.find_element(By.CSS_SELECTOR, "#clock-form [name=pin]").send_keys(pin)
    browser.find_element(By.ID, "clock-button").click()
    _wait(browser, lambda b: f"{name} clocked {done}." in _message(b))


def _sell(browser: Any, stack: Stack, sats: int, tip: str) -> str:
    from selenium.webdriver.common.by import By

    browser.get(stack.base_url + "/")
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    for key in str(sats):
        browser.find_element(By.CSS_SELECTOR, f'.key[data-key="{key}"]').click()
    browser.find_element(By.CSS_SELECTOR, f'.chip[data-tip="{tip}"]').click()
    browser.find_element(By.ID, "charge").click()
    root = browser.find_element(By.ID, "pos")
    _wait(browser, lambda b: root.get_attribute("data-state") == "invoice")
    payment_hash = str(root.get_attribute("data-payment-hash"))
    httpx.post(f"{stack.fake_control_url}/pay", json={"payment_hash": payment_hash}, timeout=10).raise_for_status()
    _wait(browser, lambda b: root.get_attribute("data-state") == "paid")
    return payment_hash


def test_a_pooled_shift_pays_each_person_once_and_everyone_sees_it(
    live_stack: Stack, pooled_demo: None, browser: Any, network: Network, screenshot: Callable[[str], Path]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import Select

    base = live_stack.base_url
    before = _ledger(live_stack)
    wallets = _wallets(before)
    _sign_in(browser, base + "/login/", DEMO_USER, DEMO_PASSWORD)
    _wait(browser, lambda b: b.find_elements(By.ID, "pos"))
    paid_before = _payroll_paid(browser, base)

    # given: the merchant switches to pooled tips in Shifts
    browser.get(base + "/shifts/")
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    Select(browser.find_element(By.NAME, "tip_mode")).select_by_value("pooled")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/setup/mode/'] [type=submit]").click()
    _wait(browser, lambda b: "Saved." in _message(b))
    assert Select(browser.find_element(By.NAME, "tip_mode")).first_selected_option.get_attribute("value") == "pooled"
    screenshot("50-pooled-mode")

    # and: gives Bob and Carol a PIN for their own pages (Settings → Staff sign-in)
    browser.get(base + "/settings/staff-access/")
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    code = browser.find_element(By.CSS_SELECTOR, "#staff-code code").text.strip()
    for name in ("Bob", "Carol"):
        form = browser.find_element(By.CSS_SELECTOR, "form[action$='/staff-access/login/']")
        Select(form.find_element(By.NAME, "staff")).select_by_visible_text(name)
        form.find_element(By.NAME, "pin").send_keys(SIGN_IN_PINS[name])
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
        # the post-back page replaces this one (the table below is on both): wait for the old form
        # to go before reading the new page, or the next round finds the form of the page going away
        _wait(browser, staleness_of(form))
        _wait(browser, lambda b: b.find_elements(By.ID, "staff-logins"))
    logins = browser.find_elements(By.CSS_SELECTOR, "#staff-logins tbody tr")
    rows = {r.find_element(By.TAG_NAME, "td").text: r.text for r in logins}
    assert all(rows[name].endswith("set") for name in CREW), rows

    # when: the web POS stands in the demo's group and the three clock in there with their cashier PINs
    browser.get(base + "/")
    _open_shift_panel(browser)
    Select(browser.find_element(By.NAME, "group_id")).select_by_visible_text("Main room")
    browser.find_element(By.CSS_SELECTOR, "form[action$='/group/'] [type=submit]").click()
    for name, pin in CASHIER_PINS.items():
        _clock(browser, name, pin, "in")
    summary = browser.find_element(By.CSS_SELECTOR, "#shift-panel summary").text
    assert "3 clocked in" in summary and "tips pooled" in summary, summary
    network.assert_all_loaded(expect=("Document", "Stylesheet", "Script"))
    screenshot("51-pos-clocked-in")

    # and: two tipped sales are made there and paid by the customer
    for sats, tip in SALES:
        _sell(browser, live_stack, sats, tip)
    network.assert_all_loaded(expect=("Fetch",))

    # and: at the end of the shift the three clock out on the POS (the hours the review shows are final:
    # confirming clocks out at the moment of the confirmation whoever is still in, which moves the shares)
    browser.get(base + "/")
    for name, pin in CASHIER_PINS.items():
        _clock(browser, name, pin, "out")

    # then: the shift's review page shows the pool, shared among the three
    browser.get(base + "/shifts/")
    browser.find_element(By.CSS_SELECTOR, "#shifts tbody tr a").click()  # the newest shift first
    _wait(browser, lambda b: b.find_elements(By.ID, "preview"))
    shift_page = browser.current_url
    shift_id = int(re.search(r"/shifts/(\d+)/", shift_page).group(1))  # type: ignore[union-attr]
    preview = browser.find_element(By.ID, "preview")
    assert not browser.find_elements(By.ID, "still-clocked-in")  # everyone clocked out: these amounts are final
    assert f"Pool: {POOL} sats" in preview.text, preview.text
    shown = {}
    for row in preview.find_elements(By.CSS_SELECTOR, "tbody tr"):
        cells = [td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")]
        shown[cells[0]] = int(cells[6])
    assert set(shown) == set(CREW) and sum(shown.values()) == POOL, shown
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("52-shift-review")

    # when: the merchant confirms the close
    browser.find_element(By.ID, "confirm-close").click()
    _wait(browser, lambda b: "Shift closed" in _message(b))

    # then: each person's payout ends succeeded, for the amount the review showed
    def all_paid(b: Any) -> dict[str, tuple[int, str]] | None:
        b.get(shift_page)
        rows = {}
        for row in b.find_elements(By.CSS_SELECTOR, "#payouts tbody tr"):
            cells = [td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")]
            rows[cells[0]] = (int(cells[1]), cells[2])
        done = len(rows) == 3 and all(status == "succeeded" for _, status in rows.values())
        return rows if done else None

    payouts = _wait(browser, all_paid, timeout=WAIT)
    assert {name: sats for name, (sats, _) in payouts.items()} == shown
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("53-shift-paid")

    # and: the books agree: one succeeded PoolPayout per person, conserving the pool to the sat
    with psycopg.connect(live_stack.env["DATABASE_URL"]) as conn:
        pool_sats = conn.execute("select pool_sats from shifts where id = %s", (shift_id,)).fetchone()
        rows = conn.execute(
            "select s.display_name, p.amount_sats, p.status from pool_payouts p"
            " join staff_members s on s.id = p.staff_id"
            " where p.shift_id = %s order by s.display_name",
            (shift_id,),
        ).fetchall()
    assert pool_sats == (POOL,)
    assert [(name, status) for name, _, status in rows] == [(name, "succeeded") for name in sorted(CREW)]
    assert {name: sats for name, sats, _ in rows} == shown
    assert sum(sats for _, sats, _ in rows) == POOL

    # and: at the fake Blink each wallet received exactly one payment since the test began: their share
    after = _ledger(live_stack)
    for name, username in CREW.items():
        wallet = wallets[username]
        old = {t["id"] for t in _receives(before, wallet)}
        new = [t for t in _receives(after, wallet) if t["id"] not in old]
        assert [t["amount"] for t in new] == [shown[name]], (name, new)
        assert _balance(after, wallet) - _balance(before, wallet) == shown[name]

    # and: the merchant's payroll report shows the same amounts paid out
    paid_after = _payroll_paid(browser, base)
    assert {name: paid_after[name] - paid_before.get(name, 0) for name in CREW} == shown
    network.assert_all_loaded(expect=("Document", "Stylesheet"))
    screenshot("54-payroll")

    # and: each signs in to their own page and sees their share of this shift, paid
    for name, username in CREW.items():
        browser.delete_all_cookies()
        browser.get(base + "/staff/login/")
        form = browser.find_element(By.ID, "staff-pin-login")
        form.find_element(By.NAME, "code").send_keys(code)
        form.find_element(By.NAME, "name").send_keys(username)
        form.find_element(By.NAME, "pin").send_keys(SIGN_IN_PINS[name])
        form.find_element(By.CSS_SELECTOR, "[type=submit]").click()
        _wait(browser, lambda b: b.find_elements(By.ID, "staff-lines"))
        assert browser.find_element(By.TAG_NAME, "h1").text.startswith(name)
        lines = [
            [td.text.strip() for td in row.find_elements(By.TAG_NAME, "td")]
            for row in browser.find_elements(By.CSS_SELECTOR, "#staff-lines tbody tr")
        ]
        mine = [cells for cells in lines if len(cells) == 7 and f"shift {shift_id}" in cells[1]]
        assert len(mine) == 1, lines
        assert int(mine[0][2].replace(",", "")) == shown[name] and mine[0][4] == "succeeded", mine
        network.assert_all_loaded(expect=("Document", "Stylesheet"))
        screenshot(f"55-staff-{username}")
