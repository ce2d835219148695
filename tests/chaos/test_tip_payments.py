"""The soak's tip-payment helper against the real server (live_server) and the fake Blink over HTTP:
it reads a staff code's LUD-16 address, gets an invoice from the callback and pays it at the fake;
the payment is then detected and forwarded to that staff member like any tip."""

from __future__ import annotations

import random

import httpx
import pytest

from chaos.tip_payments import tip_payment
from fakeblink import FakeBlink
from payments.models import PaymentSplit, SplitKind
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.paycodes import paycode_create
from tests.factories import MerchantFactory, StaffFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_tip_payment_pays_a_staff_code_end_to_end(live_server, fake_blink: FakeBlink) -> None:
    merchant = MerchantFactory(blink_username="chaosshop", wallet_id=fake_blink.add_account("chaosshop"))
    staff = StaffFactory(merchant=merchant, blink_username="chaosdana", wallet_id=fake_blink.add_account("chaosdana"))
    paycode_create(merchant=merchant, kind="staff", username="t0-c", staff=staff, max_sendable_sats=800)

    with httpx.Client(timeout=10) as client:
        result = tip_payment(
            client, base_url=live_server.url, fake_url=fake_blink.base_url, username="t0-c", rng=random.Random(3)
        )
        missing = tip_payment(
            client, base_url=live_server.url, fake_url=fake_blink.base_url, username="nobody", rng=random.Random(3)
        )

    assert result.paid and not result.error and 1 <= result.amount_sats <= 800
    split = PaymentSplit.objects.get(payment_hash=result.payment_hash)
    assert (split.kind, split.tip_amount, split.base_amount) == (SplitKind.TIP_ONLY, result.amount_sats, 0)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    assert forward_split(split_id=split.pk) == "completed"
    assert fake_blink.balance(staff.wallet_id) == result.amount_sats
    assert not missing.paid and missing.error == "payRequest 404"
