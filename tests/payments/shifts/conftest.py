"""Fixtures for shifts and pooled tips: a merchant in pooled mode with a terminal group, a terminal in
it, roles and three staff with real accounts at the fake Blink, and sales that really go through the
fake (created by ``invoice_create``, paid by a customer, forwarded)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import ClockEntry, PaymentSplit, Shift, StaffRole, TerminalGroup
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.invoices import invoice_create
from payments.services.shifts import clock_in
from tests.factories import MerchantFactory, StaffFactory, TerminalFactory


@dataclass
class PooledShop:
    merchant: Any
    group: TerminalGroup
    terminal: Any
    staff: list[Any]
    server: StaffRole
    kitchen: StaffRole


@pytest.fixture
def pooled_shop(fake_blink: FakeBlink) -> PooledShop:
    tag = uuid.uuid4().hex[:6]
    m_user = f"bistro_{tag}"
    merchant = MerchantFactory(
        blink_username=m_user, wallet_id=fake_blink.add_account(m_user, balance=1_000_000), tip_mode="pooled"
    )
    group = TerminalGroup.objects.create(merchant=merchant, name="Main room")
    terminal = TerminalFactory(merchant=merchant, group=group)
    server = StaffRole.objects.create(merchant=merchant, name="server", weight=100)
    kitchen = StaffRole.objects.create(merchant=merchant, name="kitchen", weight=100)
    staff = []
    for i, role in enumerate((server, server, kitchen)):
        username = f"crew{i}_{tag}"
        staff.append(
            StaffFactory(
                merchant=merchant,
                display_name=f"Crew {i}",
                blink_username=username,
                wallet_id=fake_blink.add_account(username),
                role=role,
            )
        )
    return PooledShop(merchant=merchant, group=group, terminal=terminal, staff=staff, server=server, kitchen=kitchen)


Sell = Callable[..., PaymentSplit]


@pytest.fixture
def sell(fake_blink: FakeBlink, pooled_shop: PooledShop) -> Sell:
    """A sale on the shop's terminal through the product's own path, paid and forwarded."""

    def make(*, base: int = 1000, tip: int = 100, forward: bool = True, terminal: Any = None) -> PaymentSplit:
        split = invoice_create(
            merchant=pooled_shop.merchant,
            terminal=terminal or pooled_shop.terminal,
            amount_sats=base,
            tip_sats=tip,
            staff=pooled_shop.staff[0],
        )
        fake_blink.pay_invoice_as_customer(split.payment_hash)
        assert payment_detected(payment_hash=split.payment_hash, amount_sats=base + tip, source="test") == "paid"
        if forward:
            assert forward_split(split_id=split.pk) == "completed"
        split.refresh_from_db()
        return split

    return make


def work(shop: PooledShop, hours: dict[int, float]) -> Shift:
    """Clock staff (by index) in on the shop's group, then set their worked time (test setup: the
    product's own corrections are tested on their own)."""
    shift = None
    now = timezone.now()
    for index, worked in hours.items():
        result = clock_in(merchant=shop.merchant, group=shop.group, staff_id=shop.staff[index].pk, source="api")
        shift = result.shift
        ClockEntry.objects.filter(pk=result.entry.pk).update(
            clock_in_at=now - timedelta(hours=worked), clock_out_at=now
        )
    assert shift is not None
    return shift
