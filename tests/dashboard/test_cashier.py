"""The cashier's view: PIN and terminal-key sign-in, this terminal only, no dashboard, PIN lockout,
the shift summary, the refund control only when granted, and bad input on every form."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import (
    CashierPin,
    LegStatus,
    Merchant,
    PaymentSplit,
    PayoutState,
    Refund,
    RefundStatus,
    SplitStatus,
    Staff,
    Terminal,
)
from payments.services.cashier_pins import cashier_pin_set
from payments.services.refunds import RefundRequest, refund_create
from payments.services.terminals import terminal_revoke
from tests.factories import PaymentLegFactory, PaymentSplitFactory, StaffFactory, TerminalFactory

pytestmark = pytest.mark.django_db
LOGIN = "/cashier/login/"


@pytest.fixture
def till(merchant: Merchant) -> Terminal:
    return TerminalFactory(merchant=merchant, name="Front till")


@pytest.fixture
def dana(merchant: Merchant, till: Terminal) -> Staff:
    staff = StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")
    cashier_pin_set(merchant=merchant, terminal_id=till.pk, staff_id=staff.pk, pin="2468")
    return staff


def _sale(terminal: Terminal, *, status: str = SplitStatus.COMPLETED, **kwargs: Any) -> PaymentSplit:
    return PaymentSplitFactory(
        merchant=terminal.merchant,
        terminal=terminal,
        status=status,
        paid_at=timezone.now() if status != SplitStatus.PENDING else None,
        receipt_token=secrets.token_urlsafe(32),
        **kwargs,
    )


def _sign_in(client: Client, terminal: Terminal, staff: Staff, pin: str = "2468") -> Any:
    return client.post(f"{LOGIN}?terminal={terminal.key_prefix}", {"mode": "pin", "staff": staff.pk, "pin": pin})


def test_pin_sign_in_shows_this_terminals_sales_only(
    client: Client, merchant: Merchant, other_merchant: Merchant, till: Terminal, dana: Staff
) -> None:
    # given sales on this till, a sibling till, another merchant's terminal, and yesterday
    mine = _sale(till, memo="mine")
    waiting = _sale(till, status=SplitStatus.PENDING)
    sibling = _sale(TerminalFactory(merchant=merchant))
    foreign = _sale(TerminalFactory(merchant=other_merchant))
    old = _sale(till)
    PaymentSplit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))

    # when
    page = client.get(f"{LOGIN}?terminal={till.key_prefix}")
    assert page.status_code == 200 and b"Dana" in page.content
    signed_in = _sign_in(client, till, dana)

    # then
    assert signed_in.status_code == 302 and signed_in["Location"] == "/cashier/"
    html = client.get("/cashier/").content.decode()
    assert f"/r/{mine.receipt_token}/" in html and f"/r/{mine.receipt_token}/?paper=58&amp;print=1" in html
    assert f"/r/{mine.receipt_token}/qr.svg" in html
    assert waiting.receipt_token not in html  # not paid: no receipt
    for split in (sibling, foreign, old):
        assert split.receipt_token not in html
    assert "Sign out Dana" in html and "/cashier/refund/" not in html


def test_cashier_session_opens_no_dashboard_view_or_setting(
    client: Client, merchant: Merchant, till: Terminal, dana: Staff
) -> None:
    # given the owner was signed in on this browser before the cashier
    client.force_login(merchant.user)
    assert client.get("/settings/").status_code == 200
    _sign_in(client, till, dana)

    # then the owner's login is gone and nothing of the dashboard or the merchant API opens
    for url in ("/", "/settings/", "/transactions/", "/tips/", "/report/", "/charts/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    for url in ("/api/v1/invoices", "/api/v1/merchant", "/api/v1/staff", "/api/v1/terminal/sales"):
        assert client.get(url).status_code in (401, 403), url
    assert client.get("/cashier/").status_code == 200


def test_refund_control_only_when_granted(client: Client, merchant: Merchant, till: Terminal, dana: Staff) -> None:
    sale = _sale(till)
    _sign_in(client, till, dana)
    assert "/cashier/refund/" not in client.get("/cashier/").content.decode()

    cashier_pin_set(merchant=merchant, terminal_id=till.pk, staff_id=dana.pk, pin="1357", can_refund=True)
    # the PIN changed: the old session is over
    assert client.get("/cashier/")["Location"] == LOGIN
    _sign_in(client, till, dana, pin="1357")
    assert f"/cashier/refund/{sale.payment_hash}" in client.get("/cashier/").content.decode()


def test_terminal_key_alone_signs_in_and_revocation_ends_it(client: Client, till: Terminal) -> None:
    sale = _sale(till)
    response = client.post(LOGIN, {"mode": "key", "key": till.plain_key})
    assert response.status_code == 302
    html = client.get("/cashier/").content.decode()
    assert sale.receipt_token in html and "Sign out Front till" in html and "/cashier/refund/" not in html

    terminal_revoke(terminal=till)
    assert client.get("/cashier/")["Location"] == LOGIN
    assert client.post(LOGIN, {"mode": "key", "key": till.plain_key}).status_code == 400


def test_terminal_key_session_refunds_when_the_terminal_may(client: Client, till: Terminal) -> None:
    sale = _sale(till)
    client.post(LOGIN, {"mode": "key", "key": till.plain_key})
    assert "/cashier/refund/" not in client.get("/cashier/").content.decode()

    Terminal.objects.filter(pk=till.pk).update(can_refund=True)
    assert f"/cashier/refund/{sale.payment_hash}" in client.get("/cashier/").content.decode()

    Terminal.objects.filter(pk=till.pk).update(can_refund=False)  # withdrawn: at once
    assert "/cashier/refund/" not in client.get("/cashier/").content.decode()


def test_wrong_pins_lock_the_pin(client: Client, till: Terminal, dana: Staff, settings: Any) -> None:
    settings.CASHIER_PIN_MAX_FAILURES = 3
    answers = [_sign_in(client, till, dana, pin="0000").status_code for _ in range(3)]
    assert answers == [400, 400, 429]
    pin = CashierPin.objects.get()
    assert pin.locked_until is not None and pin.locked_until > timezone.now()

    # the right PIN is refused while locked, and says so
    locked = _sign_in(client, till, dana)
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert client.get("/cashier/")["Location"] == LOGIN

    # after the lock, the right PIN works again and the count starts over
    CashierPin.objects.update(locked_until=timezone.now() - timedelta(seconds=1))
    assert _sign_in(client, till, dana).status_code == 302
    assert CashierPin.objects.get().failed_attempts == 0


def test_failures_per_address_are_throttled(client: Client, till: Terminal, dana: Staff, settings: Any) -> None:
    settings.AUTH_FAILURE_LIMITS = {**settings.AUTH_FAILURE_LIMITS, "cashier": [2, 600]}
    assert client.post(LOGIN, {"mode": "key", "key": "bpos_00000000_nope"}).status_code == 400
    assert client.get(f"{LOGIN}?terminal=0badc0de").status_code == 400
    refused = _sign_in(client, till, dana)  # even the right PIN: the address is blocked first
    assert refused.status_code == 429 and "Retry-After" in refused


def test_shift_summary_of_this_terminal(client: Client, merchant: Merchant, till: Terminal, dana: Staff) -> None:
    eli = StaffFactory(merchant=merchant, display_name="Eli", blink_username="eli")
    for _ in range(2):
        sale = _sale(till, base_amount=10_000, tip_amount=1_500)
        for staff, amount in ((dana, 900), (eli, 600)):
            PaymentLegFactory(
                split=sale,
                kind="tip",
                staff=staff,
                recipient_username=staff.blink_username,
                recipient_wallet_id=staff.wallet_id,
                amount=amount,
                status=LegStatus.SUCCEEDED,
            )
    _sale(till, status=SplitStatus.PENDING)
    _sale(till, status=SplitStatus.FAILED, base_amount=500, tip_amount=0)
    _sale(TerminalFactory(merchant=merchant), base_amount=99_999, tip_amount=0)
    _sign_in(client, till, dana)

    html = client.get("/cashier/summary/").content.decode()

    assert '<strong id="sales-count">3</strong>' in html
    assert '<strong id="base-sats">20500</strong>' in html and '<strong id="tip-sats">3000</strong>' in html
    assert '<td>Dana</td><td class="num">2</td><td class="num">1800</td>' in html
    assert '<td>Eli</td><td class="num">2</td><td class="num">1200</td>' in html
    assert "Waiting for payment: <strong>1</strong>" in html
    assert "Paid but stuck (tell the manager): <strong>1</strong>" in html
    assert '<strong id="refunds">0</strong>' in html
    assert "99999" not in html


def test_shift_summary_shows_this_terminals_refunds_only(
    fake_blink: FakeBlink, client: Client, merchant: Merchant, till: Terminal, dana: Staff
) -> None:
    mine = _sale(till, base_amount=1_000, tip_amount=0)
    theirs = _sale(TerminalFactory(merchant=merchant), base_amount=1_000, tip_amount=0)
    paid = _refund(mine, 300)
    Refund.objects.filter(pk=paid.pk).update(status=RefundStatus.PAID, payout_state=PayoutState.SUCCEEDED)
    _refund(mine, 200)
    _refund(theirs, 777)
    _sign_in(client, till, dana)

    html = client.get("/cashier/summary/").content.decode()

    assert '<strong id="refunds">2</strong>' in html
    assert '<small id="refunds-sats">300 sats paid back</small>' in html
    assert "0 sats waiting for the customer, 200 sats for funding" in html
    assert "777" not in html


def _refund(split: PaymentSplit, amount: int) -> Refund:
    return refund_create(
        merchant=split.merchant,
        payment_hash=split.payment_hash,
        request=RefundRequest(amount_sats=amount, tip_refunded=False, reason="wrong item"),
        requested_by="merchant:test",
    )


@pytest.mark.parametrize(("query", "field"), [({"since": "25:00"}, "since"), ({"since": "23:59:59"}, "since")])
def test_shift_summary_bad_since_is_400(
    client: Client, till: Terminal, dana: Staff, query: dict[str, str], field: str
) -> None:
    _sign_in(client, till, dana)
    now = timezone.localtime()
    if query["since"] == "23:59:59" and now.hour == 23 and now.minute == 59:
        pytest.skip("the last minute of the day is not in the future")
    response = client.get("/cashier/summary/", query)
    assert response.status_code == 400 and 'class="field invalid"' in response.content.decode()
    assert response.context["form"].errors[field]


@pytest.mark.parametrize(
    ("url", "data", "field"),
    [
        (f"{LOGIN}?terminal=XYZ", None, "terminal"),
        (f"{LOGIN}?terminal=", None, "terminal"),
        (f"{LOGIN}?terminal=0badc0de", None, "terminal"),
        ("pin", {"mode": "pin", "staff": "", "pin": "2468"}, "staff"),
        ("pin", {"mode": "pin", "staff": "999999", "pin": "2468"}, "staff"),
        ("pin", {"mode": "pin", "staff": "dana", "pin": "12"}, "pin"),
        ("pin", {"mode": "pin", "staff": "dana", "pin": "abcd"}, "pin"),
        ("pin", {"mode": "pin", "staff": "dana", "pin": "1111"}, "pin"),
        (LOGIN, {"mode": "pin", "staff": "dana", "pin": "2468"}, "terminal"),
        (LOGIN, {"mode": "key", "key": ""}, "key"),
        (LOGIN, {"mode": "key", "key": "x" * 101}, "key"),
    ],
)
def test_sign_in_bad_input_is_400_naming_the_field(
    client: Client, till: Terminal, dana: Staff, url: str, data: dict[str, str] | None, field: str
) -> None:
    if url == "pin":
        url = f"{LOGIN}?terminal={till.key_prefix}"
    if data and data.get("staff") == "dana":
        data = {**data, "staff": str(dana.pk)}
    response = client.post(url, data) if data is not None else client.get(url)
    assert response.status_code == 400
    forms = [response.context[name] for name in ("code_form", "pin_form", "key_form") if name in response.context]
    assert any(field in form.errors for form in forms), [form.errors for form in forms]
    assert "blinkpos_cashier" not in client.session


def test_pin_of_another_terminal_does_not_open_this_one(
    client: Client, merchant: Merchant, till: Terminal, dana: Staff
) -> None:
    other_till = TerminalFactory(merchant=merchant)
    response = _sign_in(client, other_till, dana)
    assert response.status_code == 400 and b"No one has a PIN on this terminal" in response.content


def test_session_ends_with_the_shift_or_the_staff_member(
    client: Client, till: Terminal, dana: Staff, settings: Any
) -> None:
    assert client.get("/cashier/")["Location"] == LOGIN  # no session: sign in first
    _sign_in(client, till, dana)
    assert client.get("/cashier/").status_code == 200

    settings.CASHIER_SESSION_SECONDS = 0  # the shift is over
    assert client.get("/cashier/")["Location"] == LOGIN

    settings.CASHIER_SESSION_SECONDS = 3600
    _sign_in(client, till, dana)
    Staff.objects.filter(pk=dana.pk).update(is_active=False)
    assert client.get("/cashier/summary/")["Location"] == LOGIN


def test_sign_out(client: Client, till: Terminal, dana: Staff) -> None:
    _sign_in(client, till, dana)
    assert client.post("/cashier/logout/")["Location"] == LOGIN
    assert client.get("/cashier/")["Location"] == LOGIN
    assert client.get("/cashier/logout/").status_code == 405
