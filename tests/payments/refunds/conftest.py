"""Fixtures for the refund tests: a shop with real accounts at the fake Blink, completed sales that
really went through the fake (paid by a customer, forwarded), and a customer with a Blink wallet who
issues the invoice a refund is paid to."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from fakeblink import FakeBlink
from payments.models import PaymentSplit, Refund, SplitStatus
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.refunds import RefundRequest, refund_create, refund_funding_check
from payments.wallet.provider import get_wallet_provider
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory


@dataclass
class Shop:
    merchant: Any
    staff: list[Any]


@pytest.fixture
def shop(fake_blink: FakeBlink) -> Shop:
    tag = uuid.uuid4().hex[:6]
    m_user = f"shop_{tag}"
    merchant = MerchantFactory(blink_username=m_user, wallet_id=fake_blink.add_account(m_user, balance=1_000_000))
    staff = []
    for i in range(2):
        username = f"staff{i}_{tag}"
        staff.append(
            StaffFactory(merchant=merchant, blink_username=username, wallet_id=fake_blink.add_account(username))
        )
    return Shop(merchant=merchant, staff=staff)


MakeSale = Callable[..., PaymentSplit]


@pytest.fixture
def make_sale(fake_blink: FakeBlink, shop: Shop) -> MakeSale:
    """A sale paid by a customer at the fake; forwarded to completion unless ``forward=False``."""

    def make(*, base: int = 1000, tips: tuple[int, ...] = (100, 50), forward: bool = True) -> PaymentSplit:
        total = base + sum(tips)
        external_id = uuid.uuid4().hex
        invoice = get_wallet_provider().create_invoice(
            amount_sats=total, memo="test sale", expires_in_minutes=15, external_id=external_id
        )
        split = PaymentSplitFactory(
            merchant=shop.merchant,
            payment_hash=invoice.payment_hash,
            external_id=external_id,
            base_amount=base,
            tip_amount=sum(tips),
            invoice_satoshis=total,
            payment_request=invoice.payment_request,
        )
        PaymentLegFactory(split=split, kind="merchant", amount=base)
        for person, amount in zip(shop.staff, tips, strict=False):
            PaymentLegFactory(
                split=split,
                kind="tip",
                staff=person,
                recipient_username=person.blink_username,
                recipient_wallet_id=person.wallet_id,
                amount=amount,
            )
        fake_blink.pay_invoice_as_customer(split.payment_hash)
        assert payment_detected(payment_hash=split.payment_hash, amount_sats=total, source="test") == "paid"
        if forward:
            assert forward_split(split_id=split.pk) == "completed"
        split.refresh_from_db()
        return split

    return make


@pytest.fixture
def customer(fake_blink: FakeBlink) -> Callable[[int], str]:
    """A customer's Blink wallet: ``customer(amount)`` is a bolt11 for exactly that many sats."""
    username = f"cust_{uuid.uuid4().hex[:6]}"
    wallet_id = fake_blink.add_account(username)

    def invoice(amount: int) -> str:
        created = get_wallet_provider().create_invoice_for_recipient(
            recipient_wallet_id=wallet_id, amount_sats=amount, memo="my refund", external_id=uuid.uuid4().hex
        )
        return created.payment_request

    invoice.wallet_id = wallet_id  # type: ignore[attr-defined]
    return invoice


def new_refund(
    split: PaymentSplit, *, amount: int | None = None, tip: bool = False, reason: str = "wrong item"
) -> Refund:
    return refund_create(
        merchant=split.merchant,
        payment_hash=split.payment_hash,
        request=RefundRequest(amount_sats=amount, tip_refunded=tip, reason=reason),
        requested_by="merchant:test",
    )


def funded_refund(fake: FakeBlink, split: PaymentSplit, **kwargs: Any) -> Refund:
    """A refund whose funding invoice the merchant paid (the fake pays it; the poll detects it)."""
    refund = new_refund(split, **kwargs)
    fake.pay_invoice_as_customer(refund.funding_payment_hash)
    assert refund_funding_check(refund_id=refund.pk) == "refund_funded"
    refund.refresh_from_db()
    return refund


def completed(split: PaymentSplit) -> bool:
    split.refresh_from_db()
    return split.status == SplitStatus.COMPLETED
