"""The back office's shifts: pooled tips waiting shown as a liability, pool payouts read-only with the
bolt11 hidden, and the re-open action for failed ones."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from payments.models import PoolAllocation, PoolPayout, PoolPayoutStatus, Shift, ShiftStatus, TerminalGroup
from tests.factories import MerchantFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(UserFactory(username="operator", is_staff=True, is_superuser=True))
    return client


def failed_payout() -> PoolPayout:
    merchant = MerchantFactory()
    group = TerminalGroup.objects.create(merchant=merchant, name="Bar")
    staff = StaffFactory(merchant=merchant)
    shift = Shift.objects.create(
        merchant=merchant,
        group=group,
        opened_at=timezone.now(),
        status=ShiftStatus.CLOSED,
        closed_at=timezone.now(),
        pool_sats=500,
    )
    allocation = PoolAllocation.objects.create(shift=shift, staff=staff, share_sats=500, amount_sats=500)
    return PoolPayout.objects.create(
        allocation=allocation,
        shift=shift,
        staff=staff,
        external_id=uuid.uuid4().hex,
        amount_sats=500,
        status=PoolPayoutStatus.FAILED,
        failures=3,
        payment_request="lnbcrt5u1secretbolt11",
    )


def test_the_shift_list_shows_the_pooled_liability(operator: Client) -> None:
    response = operator.get(reverse("admin:payments_shift_changelist"))

    assert response.status_code == 200
    assert b"Pooled tips waiting on the platform wallet" in response.content


def test_a_failed_pool_payout_is_reopened_by_the_action(operator: Client) -> None:
    payout = failed_payout()
    detail = operator.get(reverse("admin:payments_poolpayout_change", args=[payout.pk]))

    response = operator.post(
        reverse("admin:payments_poolpayout_changelist"), {"action": "reopen", "_selected_action": [payout.pk]}
    )

    assert b"secretbolt11" not in detail.content
    assert response.status_code == 302
    payout.refresh_from_db()
    assert payout.status == PoolPayoutStatus.PLANNED and payout.failures == 0
