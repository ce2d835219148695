"""One refund per refund form (dashboard/refund_submit.py): a double click or a re-post of the same form
shows the refund the first submit created, with one funding invoice at Blink; the same form sent again
with other values, or without its key, is a 400 naming the form with nothing written; a refused submit
frees the key for the corrected one. The merchant's form and the cashier's alike."""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dashboard import refund_submit
from fakeblink import FakeBlink
from payments.models import IdempotencyRecord, Refund, Terminal
from payments.services.cashier_pins import cashier_pin_set
from tests.factories import StaffFactory, TerminalFactory
from tests.payments.refunds.conftest import MakeSale, Shop, make_sale, shop  # noqa: F401  (fixtures)

CREATE = "lnInvoiceCreate"
KEY = re.compile(r'<input type="hidden" name="form_key" value="([A-Za-z0-9_-]+)"')


@pytest.fixture
def owner(shop: Shop) -> Client:  # noqa: F811
    client = Client()
    client.force_login(shop.merchant.user)
    return client


def _rendered_key(client: Client, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200
    found = KEY.findall(page.content.decode())
    assert len(found) == 1
    return found[0]


def _filled(client: Client, url: str) -> dict[str, str]:
    """The form as the page rendered it, filled in: 300 sats, a reason."""
    return {"form_key": _rendered_key(client, url), "amount_sats": "300", "reason": "spilled"}


def _creates(fake_blink: FakeBlink, seen: int) -> int:
    return sum(CREATE in r["operations"] for r in fake_blink.requests()[seen:])


@pytest.mark.django_db
def test_each_rendered_form_carries_its_own_hidden_key(make_sale: MakeSale, owner: Client) -> None:  # noqa: F811
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    first, second = _rendered_key(owner, url), _rendered_key(owner, url)
    assert first != second and len(first) >= 16
    assert "Form key" not in owner.get(url).content.decode()  # hidden: no label on the page


@pytest.mark.django_db
def test_the_same_form_sent_twice_makes_one_refund_and_both_show_it(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
) -> None:
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    data = _filled(owner, url)
    seen = len(fake_blink.requests())

    first, again = owner.post(url, data), owner.post(url, data)

    refund = Refund.objects.get()
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == f"/refunds/{refund.pk}/"
    assert refund.amount_sats == 300 and _creates(fake_blink, seen) == 1


@pytest.mark.django_db
def test_the_same_form_with_other_values_is_refused_naming_the_form(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
) -> None:
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    key = _rendered_key(owner, url)
    assert owner.post(url, {"form_key": key, "amount_sats": "300", "reason": "spilled"}).status_code == 302
    seen = len(fake_blink.requests())

    other = owner.post(url, {"form_key": key, "amount_sats": "200", "reason": "spilled"})

    assert other.status_code == 400
    assert other.context["form"].errors["form_key"] == [refund_submit.RESUBMITTED_OTHER_VALUES]
    assert "already sent with other values" in other.content.decode()
    assert Refund.objects.count() == 1 and _creates(fake_blink, seen) == 0


@pytest.mark.django_db
def test_a_refused_submit_frees_the_key_for_the_corrected_form(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
) -> None:
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    key = _rendered_key(owner, url)
    refused = owner.post(url, {"form_key": key, "amount_sats": "1001", "reason": "too much"})
    assert refused.status_code == 400 and "amount_sats" in refused.context["form"].errors
    assert not Refund.objects.exists() and not IdempotencyRecord.objects.exists()
    assert KEY.findall(refused.content.decode()) == [key]  # the form shown again keeps its key

    fixed = owner.post(url, {"form_key": key, "amount_sats": "400", "reason": "too much"})

    assert fixed.status_code == 302 and Refund.objects.get().amount_sats == 400


@pytest.mark.django_db
@pytest.mark.parametrize("key", [None, "", "short", "x" * 65, "has spaces in it!", "ünïcode-key-ünïcode"])
def test_a_form_without_a_valid_key_is_a_400_naming_it_and_comes_back_with_a_fresh_one(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
    key: str | None,
) -> None:
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    data = {"amount_sats": "300", "reason": "spilled", **({"form_key": key} if key is not None else {})}
    seen = len(fake_blink.requests())

    response = owner.post(url, data)

    assert response.status_code == 400 and "form_key" in response.context["form"].errors
    assert "out of date" in response.content.decode()
    assert not Refund.objects.exists() and not IdempotencyRecord.objects.exists() and _creates(fake_blink, seen) == 0
    [fresh] = KEY.findall(response.content.decode())
    assert owner.post(url, {**data, "form_key": fresh}).status_code == 302  # sending it again works
    assert Refund.objects.count() == 1


def _double_click(client: Client, url: str, data: dict[str, str], *, gap: float) -> tuple[Any, Any]:
    """The same form posted twice, the second while the first is still creating the funding invoice."""
    results: dict[str, Any] = {}
    browser_tab = Client()  # the same browser session (the test client itself is not thread-safe)
    browser_tab.cookies = client.cookies

    def first() -> None:
        try:
            results["first"] = browser_tab.post(url, data)
        finally:
            connection.close()

    thread = threading.Thread(target=first)
    thread.start()
    threading.Event().wait(gap)
    second = client.post(url, data)
    thread.join(timeout=30)
    return results["first"], second


@pytest.mark.django_db(transaction=True)
def test_a_double_click_waits_for_the_first_submit_and_shows_its_refund(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
) -> None:
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    data = _filled(owner, url)
    seen = len(fake_blink.requests())
    fake_blink.set_latency(CREATE, 0.8)  # Blink slow to create the funding invoice

    first, second = _double_click(owner, url, data, gap=0.3)

    refund = Refund.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/refunds/{refund.pk}/"
    assert _creates(fake_blink, seen) == 1


@pytest.mark.django_db(transaction=True)
def test_a_first_submit_still_running_after_the_wait_is_named_on_the_form(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    owner: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(refund_submit, "WAIT_SECONDS", 0.3)
    url = f"/transactions/{make_sale().payment_hash}/refund/"
    data = _filled(owner, url)
    seen = len(fake_blink.requests())
    fake_blink.set_latency(CREATE, 1.0)  # under the tests' 1.5 s read timeout

    first, second = _double_click(owner, url, data, gap=0.2)

    assert first.status_code == 302 and second.status_code == 400
    assert second.context["form"].errors["form_key"] == [refund_submit.STILL_RUNNING]
    assert Refund.objects.count() == 1 and _creates(fake_blink, seen) == 1


@pytest.mark.django_db
def test_the_cashiers_form_makes_one_refund_per_form_too(
    fake_blink: FakeBlink,
    make_sale: MakeSale,  # noqa: F811
    shop: Shop,  # noqa: F811
) -> None:
    till: Terminal = TerminalFactory(merchant=shop.merchant, name="Front till")
    sale = make_sale()
    type(sale).objects.filter(pk=sale.pk).update(terminal=till)
    staff = StaffFactory(merchant=shop.merchant, display_name="Dana", blink_username=f"dana{till.pk}")
    cashier_pin_set(merchant=shop.merchant, terminal_id=till.pk, staff_id=staff.pk, pin="2468", can_refund=True)
    client = Client()
    login = client.post(
        f"/cashier/login/?terminal={till.key_prefix}", {"mode": "pin", "staff": staff.pk, "pin": "2468"}
    )
    assert login.status_code == 302
    url = f"/cashier/refund/{sale.payment_hash}/"
    data = _filled(client, url)
    seen = len(fake_blink.requests())

    first, again = client.post(url, data), client.post(url, data)

    refund = Refund.objects.get()
    assert first["Location"] == again["Location"] == f"/cashier/refunds/{refund.pk}/"
    assert _creates(fake_blink, seen) == 1
    other = client.post(url, {**data, "amount_sats": "100"})
    assert other.status_code == 400 and "form_key" in other.context["form"].errors
    assert Refund.objects.count() == 1
