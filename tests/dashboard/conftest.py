"""Fixtures for the merchant dashboard: two merchants (for isolation checks) with logged-in clients."""

from __future__ import annotations

import secrets
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import LegStatus, Merchant, PaymentSplit, SplitStatus
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory, UserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def merchant() -> Merchant:
    return MerchantFactory(user=UserFactory(username="alice-owner"), name="Alice's Cafe", tip_presets=[10, 15, 20])


@pytest.fixture
def other_merchant() -> Merchant:
    return MerchantFactory(user=UserFactory(username="bob-owner"), name="Bob's Bar")


@pytest.fixture
def client_a(merchant: Merchant) -> Client:
    client = Client()
    client.force_login(merchant.user)
    return client


@pytest.fixture
def csrf_client_a(merchant: Merchant) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(merchant.user)
    return client


def paid_split(
    merchant: Merchant, *, staff: object = None, tip: int = 200, base: int = 1800, **kw: object
) -> PaymentSplit:
    """A paid, forwarded sale with a merchant leg and (when staff is given) a succeeded tip leg."""
    split = PaymentSplitFactory(
        merchant=merchant,
        base_amount=base,
        tip_amount=tip,
        status=kw.pop("status", SplitStatus.COMPLETED),
        paid_at=kw.pop("paid_at", timezone.now() - timedelta(minutes=5)),
        staff=staff,
        tip_recipient=getattr(staff, "blink_username", ""),
        **kw,
    )
    PaymentLegFactory(split=split, amount=base, status=LegStatus.SUCCEEDED)
    if staff is not None and tip:
        PaymentLegFactory(
            split=split,
            kind="tip",
            staff=staff,
            recipient_username=staff.blink_username,  # type: ignore[attr-defined]
            recipient_wallet_id=staff.wallet_id,  # type: ignore[attr-defined]
            amount=tip,
            status=LegStatus.SUCCEEDED,
            payment_hash=secrets.token_hex(32),
            preimage=secrets.token_hex(32),
        )
    return split


@pytest.fixture
def staff_a(merchant: Merchant) -> object:
    return StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")
