"""Two merchants, each with staff, a team, a terminal, a dashboard login and a paid-and-forwarded sale,
all real accounts at the fake Blink: merchant A's objects are what merchant B must never reach."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import (
    Merchant,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    PayCode,
    PaymentSplit,
    PoolPayout,
    Refund,
    Shift,
    SplitProfile,
    Staff,
    Terminal,
)
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.invoices import invoice_create
from payments.services.parties import split_profile_save
from payments.services.paycodes import paycode_create
from payments.services.refunds import RefundRequest, refund_create
from tests.factories import MerchantFactory, StaffFactory, TerminalFactory, UserFactory

PASSWORD = "correct horse battery staple"  # UserFactory's


@dataclass
class Shop:
    merchant: Merchant
    staff: list[Staff]
    team: SplitProfile
    terminal: Terminal
    key: str
    username: str
    paid: PaymentSplit
    pending: PaymentSplit
    refund: Refund
    pay_code: PayCode

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Api-Key {self.key}"}

    def browser(self) -> Client:
        client = Client(enforce_csrf_checks=True)
        assert client.login(username=self.username, password=PASSWORD)
        return client


@pytest.fixture
def make_shop(fake_blink: FakeBlink) -> Callable[[str], Shop]:
    def build(name: str) -> Shop:
        user = UserFactory(username=f"{name}_owner_user")
        merchant = MerchantFactory(
            user=user, blink_username=f"{name}_owner", wallet_id=fake_blink.add_account(f"{name}_owner")
        )
        staff = [
            StaffFactory(
                merchant=merchant, blink_username=f"{name}_s{i}", wallet_id=fake_blink.add_account(f"{name}_s{i}")
            )
            for i in range(2)
        ]
        team = split_profile_save(merchant=merchant, name="Floor", shares=[(staff[0], 6000), (staff[1], 4000)])
        terminal = TerminalFactory(merchant=merchant)
        paid = invoice_create(merchant=merchant, terminal=terminal, amount_sats=1000, tip_sats=100, split_profile=team)
        fake_blink.pay_invoice_as_customer(paid.payment_hash)
        payment_detected(payment_hash=paid.payment_hash, amount_sats=paid.total_amount, source="test")
        forward_split(split_id=paid.pk)
        pending = invoice_create(merchant=merchant, terminal=terminal, amount_sats=500, tip_sats=50, staff=staff[0])
        pay_code = paycode_create(merchant=merchant, kind="staff", username=f"{name}-tips", staff=staff[0])
        refund = refund_create(
            merchant=merchant,
            payment_hash=paid.payment_hash,
            request=RefundRequest(amount_sats=100, tip_refunded=False, reason="security walk"),
            requested_by="test",
        )
        return Shop(
            merchant=merchant, staff=staff, team=team, terminal=terminal, key=terminal.plain_key,
            username=user.username, paid=PaymentSplit.objects.get(pk=paid.pk), pending=pending, refund=refund,
            pay_code=pay_code,
        )  # fmt: skip

    return build


@pytest.fixture
def shop_a(make_shop: Callable[[str], Shop]) -> Shop:
    return make_shop("shopa")


@pytest.fixture
def shop_b(make_shop: Callable[[str], Shop]) -> Shop:
    return make_shop("shopb")


def money_snapshot() -> list[tuple[Any, ...]]:
    """Everything a cross-merchant request could change."""
    rows: list[tuple[Any, ...]] = []
    rows += list(PaymentSplit.objects.order_by("pk").values_list("pk", "status", "total_amount", "merchant_id"))
    rows += list(Terminal.objects.order_by("pk").values_list("pk", "revoked_at", "merchant_id", "can_refund"))
    rows += list(Refund.objects.order_by("pk").values_list("pk", "status", "amount_sats", "payout_hash"))
    rows += list(Staff.objects.order_by("pk").values_list("pk", "is_active", "merchant_id"))
    rows += list(PayCode.objects.order_by("pk").values_list("pk", "is_active", "merchant_id", "max_sendable_sats"))
    rows += list(
        Merchant.objects.order_by("pk").values_list(
            "pk", "display_currency", "tip_presets", "blink_api_key_encrypted", "tip_mode"
        )
    )
    rows += list(Shift.objects.order_by("pk").values_list("pk", "status", "pool_sats", "merchant_id"))
    rows += list(PoolPayout.objects.order_by("pk").values_list("pk", "status", "failures", "amount_sats"))
    rows += list(
        MerchantWebhookEndpoint.objects.order_by("pk").values_list(
            "pk", "url", "enabled", "secret_encrypted", "event_types", "notice_dismissed"
        )
    )
    rows += list(MerchantWebhookMessage.objects.order_by("pk").values_list("pk", "status", "attempts"))
    return rows
