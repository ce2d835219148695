"""The refund endpoints over HTTP: terminals need the merchant's refund permission, every bad input is
a 4xx naming the field with nothing written, and the customer's LNURL-withdraw claim pays once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import bech32
import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import PaymentEvent, Refund, RefundStatus
from payments.services.refund_payouts import refund_pay
from tests.factories import TerminalFactory
from tests.payments.refunds.conftest import MakeSale, Shop, funded_refund

pytestmark = pytest.mark.django_db


def _auth(terminal: Any) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {terminal.plain_key}"}


def _post(client: Client, url: str, body: Any, terminal: Any) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", **_auth(terminal))


def _nothing_written() -> bool:
    return not Refund.objects.exists() and not PaymentEvent.objects.filter(event_type__startswith="refund").exists()


def test_a_terminal_with_the_refund_permission_creates_and_follows_a_refund(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    client = Client()

    created = _post(
        client, f"/api/v1/invoices/{split.payment_hash}/refunds", {"amount_sats": 300, "reason": "cold"}, terminal
    )

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "awaiting_funding" and body["amount_sats"] == 300 and body["tip_part_sats"] == 0
    assert body["funding_payment_request"].startswith("lnbc") and body["claim_lnurl"] is None
    refund = Refund.objects.get(pk=body["id"])
    assert refund.terminal_id == terminal.pk and refund.requested_by == f"terminal:{terminal.pk}"

    fake_blink.pay_invoice_as_customer(refund.funding_payment_hash)
    status = client.get(f"/api/v1/refunds/{refund.pk}", **_auth(terminal))
    listed = client.get(f"/api/v1/invoices/{split.payment_hash}/refunds", **_auth(terminal))
    assert status.status_code == 200 and listed.status_code == 200
    assert [r["id"] for r in listed.json()] == [refund.pk]


def test_a_terminal_without_the_permission_is_refused_with_nothing_written(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant)

    response = _post(
        Client(), f"/api/v1/invoices/{split.payment_hash}/refunds", {"amount_sats": 300, "reason": "x"}, terminal
    )

    assert response.status_code == 403
    assert _nothing_written()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount_sats": 0, "reason": "x"}, "amount_sats"),
        ({"amount_sats": -5, "reason": "x"}, "amount_sats"),
        ({"amount_sats": "lots", "reason": "x"}, "amount_sats"),
        ({"amount_sats": 1.5, "reason": "x"}, "amount_sats"),
        ({"amount_sats": 1001, "reason": "x"}, "amount_sats"),
        ({"amount_sats": 1151, "tip_refunded": True, "reason": "x"}, "amount_sats"),
        ({"amount_sats": 10}, "reason"),
        ({"amount_sats": 10, "reason": ""}, "reason"),
        ({"amount_sats": 10, "reason": "x" * 501}, "reason"),
        ({"amount_sats": 10, "reason": "x", "tip_refunded": "maybe"}, "tip_refunded"),
        ({"amount_sats": 10, "reason": "x", "surprise": 1}, "surprise"),
    ],
)
def test_bad_refund_input_is_a_400_naming_the_field_with_nothing_written(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, body: dict[str, Any], field: str
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)

    response = _post(Client(), f"/api/v1/invoices/{split.payment_hash}/refunds", body, terminal)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert _nothing_written()


def test_unknown_and_foreign_sales_and_refunds_are_404(fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop) -> None:
    split = make_sale()
    stranger = TerminalFactory(can_refund=True)  # another merchant's terminal
    client = Client()

    assert _post(client, f"/api/v1/invoices/{split.payment_hash}/refunds", {"reason": "x"}, stranger).status_code == 404
    assert _post(client, f"/api/v1/invoices/{'0' * 64}/refunds", {"reason": "x"}, stranger).status_code == 404
    assert client.get("/api/v1/refunds/999999", **_auth(stranger)).status_code == 404
    assert _nothing_written()


def test_the_payout_endpoint_checks_its_input(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=200)
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    client = Client()
    url = f"/api/v1/refunds/{refund.pk}/payout"

    for body, field in [
        ({}, "payment_request"),
        ({"payment_request": customer(201)}, "payment_request"),
        ({"payment_request": "lnbc1nonsense"}, "payment_request"),
        ({"address": "not an address"}, "address"),
        ({"payment_request": customer(200), "address": "a@b.c"}, "payment_request"),
    ]:
        response = _post(client, url, body, terminal)
        assert response.status_code == 400, response.content
        assert field in response.json()["error"]["fields"]
    refund.refresh_from_db()
    assert refund.status == RefundStatus.FUNDED and refund.payout_hash is None

    accepted = _post(client, url, {"payment_request": customer(200)}, terminal)
    assert accepted.status_code == 202 and accepted.json()["status"] == "paying"
    again = _post(client, url, {"payment_request": customer(200)}, terminal)
    assert again.status_code == 409


def test_the_lnurl_withdraw_claim_pays_the_wallets_invoice_once(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str]
) -> None:
    # given a funded refund; its LNURL decodes to the claim URL
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=400)
    terminal = TerminalFactory(merchant=shop.merchant)
    client = Client()
    lnurl = client.get(f"/api/v1/refunds/{refund.pk}", **_auth(terminal)).json()["claim_lnurl"]
    hrp, data = bech32.bech32_decode(lnurl.lower()) if len(lnurl) <= 90 else _decode_long(lnurl)
    url = bytes(bech32.convertbits(data, 5, 8, False)).decode()
    assert hrp == "lnurl"

    # when the customer's wallet reads it and calls back with its invoice
    params = client.get(urlparse(url).path).json()
    assert params["tag"] == "withdrawRequest" and params["minWithdrawable"] == params["maxWithdrawable"] == 400_000
    callback = urlparse(params["callback"]).path
    bad = client.get(callback, {"k1": params["k1"], "pr": customer(399)})
    assert bad.status_code == 400 and bad.json()["status"] == "ERROR" and bad.json()["field"] == "pr"
    assert client.get(callback, {"k1": "f" * 64, "pr": customer(400)}).status_code == 404
    assert client.get(callback, {"pr": customer(400)}).json()["field"] == "k1"
    ok = client.get(callback, {"k1": params["k1"], "pr": customer(400)})
    second = client.get(callback, {"k1": params["k1"], "pr": customer(400)})

    # then one claim is committed, the second refused, and the payout is made once
    assert ok.json() == {"status": "OK"}
    assert second.status_code == 409 and second.json()["status"] == "ERROR"
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    assert fake_blink.balance(customer.wallet_id) == 400  # type: ignore[attr-defined]
    assert client.get(urlparse(url).path).status_code == 409


def _decode_long(lnurl: str) -> tuple[str, list[int]]:
    """bech32_decode refuses strings over 90 characters; LNURLs are longer (LUD-01 lifts the limit)."""
    text = lnurl.lower()
    pos = text.rfind("1")
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    data = [charset.find(c) for c in text[pos + 1 :]]
    assert bech32.bech32_verify_checksum(text[:pos], data)
    return text[:pos], data[:-6]
