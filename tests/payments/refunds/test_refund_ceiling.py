"""The database refuses refunds over what a sale received (trigger ``refunds_within_paid``), whatever
code inserts them, including two concurrent inserts on two connections."""

from __future__ import annotations

import secrets
import threading
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from payments.models import PaymentSplit, Refund, RefundStatus, SplitStatus
from tests.factories import MerchantFactory, PaymentSplitFactory


def _sale(base: int = 1000, tip: int = 150) -> PaymentSplit:
    return PaymentSplitFactory(
        merchant=MerchantFactory(),
        base_amount=base,
        tip_amount=tip,
        status=SplitStatus.COMPLETED,
        received_amount=base + tip,
    )


def _insert(split: PaymentSplit, amount: int, *, tip: int = 0, status: str = RefundStatus.AWAITING_FUNDING) -> Refund:
    return Refund.objects.create(
        split=split,
        merchant_id=split.merchant_id,
        requested_by="test",
        amount_sats=amount,
        tip_refunded=tip > 0,
        tip_part_sats=tip,
        base_part_sats=amount - tip,
        reason="test",
        status=status,
        funding_payment_hash=secrets.token_hex(32),
        funding_external_id=uuid.uuid4().hex,
        funding_payment_request="lnbc1test",
        funding_expires_at=timezone.now() + timedelta(hours=1),
        claim_token=secrets.token_urlsafe(32),
        claim_k1=secrets.token_hex(32),
    )


@pytest.mark.django_db
def test_partial_refunds_up_to_exactly_the_paid_amount_pass_and_one_sat_more_is_refused() -> None:
    # given a sale that received 1150 sats
    split = _sale()

    # when partial refunds add up to exactly 1150
    _insert(split, 400)
    _insert(split, 600)
    _insert(split, 150, tip=150)

    # then one more sat is refused by the database
    with pytest.raises(IntegrityError, match="refunds_within_paid"), transaction.atomic():
        _insert(split, 1)
    assert Refund.objects.filter(split=split).count() == 3


@pytest.mark.django_db
def test_expired_and_cancelled_refunds_free_their_room_and_cannot_come_back_over_the_ceiling() -> None:
    split = _sale()
    gone = _insert(split, 1150, status=RefundStatus.EXPIRED)
    _insert(split, 1150)  # the expired one does not count

    with pytest.raises(IntegrityError, match="refunds_within_paid"), transaction.atomic():
        Refund.objects.filter(pk=gone.pk).update(status=RefundStatus.FUNDED)


@pytest.mark.django_db
def test_refunded_tip_parts_cannot_exceed_the_tip() -> None:
    split = _sale(tip=150)
    _insert(split, 100, tip=100)

    with pytest.raises(IntegrityError, match="refunds_tip_within_tip"), transaction.atomic():
        _insert(split, 100, tip=51)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refunds_over_the_ceiling_one_is_refused_at_the_database() -> None:
    # given a sale of 1150 sats and two refunds of 700 each, inserted on two connections at once
    split = _sale()
    barrier = threading.Barrier(2)
    results: list[str] = []

    def refund() -> None:
        try:
            with transaction.atomic():
                barrier.wait(timeout=10)
                _insert(split, 700)
            results.append("ok")
        except IntegrityError as exc:
            results.append("refused" if "refunds_within_paid" in str(exc) else f"other: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=refund) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # then exactly one was written
    assert sorted(results) == ["ok", "refused"]
    assert Refund.objects.filter(split=split).count() == 1
