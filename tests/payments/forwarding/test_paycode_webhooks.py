"""A pay code's invoice is created on the platform wallet through the on-behalf mutation (for its
description hash): Blink's webhook for its payment is the platform account's like any sale's, and the
worker's half detects it and forwards the tip-only split to the staff member, once."""

from __future__ import annotations

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.lnurl.server import pay_metadata
from payments.models import PaymentLeg, SplitKind, SplitStatus, WebhookDelivery
from payments.services.paycodes import paycode_create
from payments.services.tip_invoices import paycode_invoice_create
from payments.services.webhooks import delivery_process
from tests.payments.forwarding.conftest import assert_money_invariants, paid_body, sign


@pytest.mark.django_db(transaction=True)
def test_webhook_for_a_tip_code_payment_forwards_it_to_the_staff_member(
    client: Client, fake_blink: FakeBlink, parties
) -> None:
    member = parties.staff[1]
    code = paycode_create(merchant=parties.merchant, kind="staff", username="tips-1", staff=member)
    split = paycode_invoice_create(pay_code=code, amount_sats=777, metadata=pay_metadata(text="Tip", identifier="x@y"))

    body, _preimage = paid_body(fake_blink, split.payment_hash)
    response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))
    assert response.json() == {"status": "accepted", "outcome": "queued"}
    outcomes = [delivery_process(delivery_id=d) for d in WebhookDelivery.objects.values_list("pk", flat=True)]

    assert outcomes == ["paid:completed"]
    split.refresh_from_db()
    assert (split.kind, split.status, split.received_amount) == (SplitKind.TIP_ONLY, SplitStatus.COMPLETED, 777)
    assert [(leg.kind, leg.amount, leg.staff_id) for leg in PaymentLeg.objects.filter(split=split)] == [
        ("tip", 777, member.pk)
    ]
    assert fake_blink.balance(member.wallet_id) == 777
    assert fake_blink.balance(parties.merchant.wallet_id) == 0
    assert_money_invariants(fake_blink, [split.pk])
