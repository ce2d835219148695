"""Refunds tell the merchant's webhook endpoint each step (refund.created, refund.funded, refund.paid),
stored with the step itself; the payloads carry no bolt11 and no claim secret."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from fakeblink import FakeBlink
from payments.models import MerchantWebhookEndpoint, MerchantWebhookMessage, PayoutVia
from payments.services.refund_payouts import refund_pay, refund_payout_commit
from payments.services.webhook_endpoints import endpoint_create
from tests.payments.refunds.conftest import MakeSale, Shop, funded_refund

pytestmark = pytest.mark.django_db


def endpoint_for(shop: Shop, settings: object) -> MerchantWebhookEndpoint:
    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = ["127.0.0.1:21999"]  # type: ignore[attr-defined]
    endpoint, _ = endpoint_create(
        merchant=shop.merchant,
        url="http://127.0.0.1:21999/hooks",
        event_types=["refund.created", "refund.funded", "refund.paid", "refund.failed"],
    )
    return endpoint


def test_each_refund_step_stores_its_event_without_secrets(
    fake_blink: FakeBlink, make_sale: MakeSale, shop: Shop, customer: Callable[[int], str], settings: object
) -> None:
    endpoint = endpoint_for(shop, settings)
    split = make_sale()
    refund = funded_refund(fake_blink, split, amount=400)
    bolt11 = customer(400)
    refund_payout_commit(refund_id=refund.pk, payment_request=bolt11, via=PayoutVia.INVOICE)
    assert refund_pay(refund_id=refund.pk) == "succeeded"
    refund.refresh_from_db()

    messages = list(MerchantWebhookMessage.objects.filter(endpoint=endpoint).order_by("pk"))
    assert [m.event_type for m in messages] == ["refund.created", "refund.funded", "refund.paid"]
    last = json.loads(messages[-1].body)
    assert last["data"]["id"] == refund.pk and last["data"]["status"] == "paid"
    assert last["data"]["amount_sats"] == 400 and last["data"]["payment_hash"] == split.payment_hash
    for message in messages:
        for secret in (bolt11, refund.funding_payment_request, refund.claim_token, refund.claim_k1):
            assert secret not in message.body
