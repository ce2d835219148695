"""``Idempotency-Key`` on refund creation (``POST /api/v1/invoices/{hash}/refunds``): a client that retries
after a timeout gets the refund it already created, never a second one; the same key with another body
is a 422 naming the header; a refused create frees the key; a malformed key is a 400 with nothing made."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import IdempotencyRecord, Refund
from payments.services.idempotency import idempotency_begin, request_fingerprint
from tests.factories import TerminalFactory
from tests.payments.refunds.conftest import MakeSale, Shop

pytestmark = pytest.mark.django_db

CREATE = "lnInvoiceCreate"


def _post(client: Client, url: str, body: Any, terminal: Any, key: str | None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {terminal.plain_key}"}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(url, data=json.dumps(body), content_type="application/json", **headers)


def _funding_invoices(fake_blink: FakeBlink, seen: int) -> int:
    return sum(CREATE in r["operations"] for r in fake_blink.requests()[seen:])


def test_a_retry_with_the_same_key_replays_the_refund_instead_of_creating_another(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    url = f"/api/v1/invoices/{split.payment_hash}/refunds"
    body = {"amount_sats": 300, "reason": "cold coffee"}
    seen = len(fake_blink.requests())

    first = _post(Client(), url, body, terminal, key="refund-7f3a")
    again = _post(Client(), url, {"reason": "cold coffee", "amount_sats": 300}, terminal, key="refund-7f3a")

    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert again["Location"] == first["Location"] == f"/api/v1/refunds/{first.json()['id']}"
    assert Refund.objects.filter(split=split).count() == 1
    assert _funding_invoices(fake_blink, seen) == 1  # one funding invoice at Blink

    # another key is another refund
    other = _post(Client(), url, body, terminal, key="refund-8b11")
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert Refund.objects.filter(split=split).count() == 2


def test_the_same_key_with_another_body_is_a_422_and_creates_nothing(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    url = f"/api/v1/invoices/{split.payment_hash}/refunds"
    assert _post(Client(), url, {"amount_sats": 300, "reason": "x"}, terminal, key="k1").status_code == 201
    seen = len(fake_blink.requests())

    reused = _post(Client(), url, {"amount_sats": 200, "reason": "x"}, terminal, key="k1")

    assert reused.status_code == 422, reused.content
    error = reused.json()["error"]
    assert error["code"] == "idempotency_key_reused" and "Idempotency-Key" in error["fields"]
    assert Refund.objects.filter(split=split).count() == 1 and _funding_invoices(fake_blink, seen) == 0


def test_a_refused_create_frees_the_key_for_the_retry(fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    url = f"/api/v1/invoices/{split.payment_hash}/refunds"
    body = {"amount_sats": 300, "reason": "x"}
    fake_blink.script(CREATE, ["HTTP_503"])  # Blink busy: nothing created anywhere

    busy = _post(Client(), url, body, terminal, key="k2")

    assert busy.status_code == 503, busy.content
    assert not Refund.objects.exists() and not IdempotencyRecord.objects.filter(key="k2").exists()
    retried = _post(Client(), url, body, terminal, key="k2")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Refund.objects.filter(split=split).count() == 1


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\there"])
def test_a_malformed_key_is_a_400_naming_the_header_with_nothing_written(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, key: str
) -> None:
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    seen = len(fake_blink.requests())

    response = _post(Client(), f"/api/v1/invoices/{split.payment_hash}/refunds", {"reason": "x"}, terminal, key=key)

    assert response.status_code == 400, response.content
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert not Refund.objects.exists() and not IdempotencyRecord.objects.exists()
    assert _funding_invoices(fake_blink, seen) == 0


def test_a_key_still_in_use_is_a_409_with_retry_after(fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop) -> None:
    # the first request with the key is still running (its claim is there, no answer stored yet)
    split = make_sale()
    terminal = TerminalFactory(merchant=shop.merchant, can_refund=True)
    url = f"/api/v1/invoices/{split.payment_hash}/refunds"
    body = {"amount_sats": 300, "reason": "x"}
    idempotency_begin(
        merchant_id=shop.merchant.pk, key="k3", fingerprint=request_fingerprint(method="POST", path=url, body=body)
    )

    response = _post(Client(), url, body, terminal, key="k3")

    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert not Refund.objects.exists()
