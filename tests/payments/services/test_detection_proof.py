"""The customer's proof of payment: a verified preimage is stored on the split when the payment is
detected (for the receipt), never a wrong one, never overwritten, and never in Redis or the audit trail."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

import pytest
from django.db import transaction
from django_redis import get_redis_connection

from payments import store
from payments.models import PaymentEvent, PaymentSplit, SplitStatus
from payments.services.detection import detect, payment_detected
from tests.factories import PaymentSplitFactory

pytestmark = pytest.mark.django_db


def _split_with_preimage(**kwargs: Any) -> tuple[PaymentSplit, str]:
    preimage = secrets.token_hex(32)
    split = PaymentSplitFactory(payment_hash=hashlib.sha256(bytes.fromhex(preimage)).hexdigest(), **kwargs)
    return split, preimage


def test_detection_stores_the_verified_preimage_and_nowhere_else(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    split, preimage = _split_with_preimage()
    caplog.set_level(logging.DEBUG)

    with django_capture_on_commit_callbacks(execute=False):  # no forward task needed here
        outcome = payment_detected(
            payment_hash=split.payment_hash, amount_sats=split.total_amount, source="check", preimage=preimage.upper()
        )

    split.refresh_from_db()
    assert outcome == "paid" and split.status == SplitStatus.PAID and split.preimage == preimage
    event = PaymentEvent.objects.get(split_id=split.payment_hash, event_type="paid")
    assert event.event_data["preimage_verified"] is True and preimage not in json.dumps(event.event_data)
    assert preimage not in caplog.text
    store.put(split)
    raw = get_redis_connection(store.HOT_ALIAS).get(store.tip_key(split.payment_hash))
    assert raw is not None and preimage not in raw.decode()


def test_a_wrong_preimage_is_rejected_and_stores_nothing() -> None:
    split, _ = _split_with_preimage()
    outcome = payment_detected(
        payment_hash=split.payment_hash, amount_sats=split.total_amount, source="check", preimage=secrets.token_hex(32)
    )
    split.refresh_from_db()
    assert outcome == "rejected" and split.status == SplitStatus.PENDING and split.preimage == ""


def test_a_later_detection_adds_a_missing_proof_but_never_replaces_one() -> None:
    # given a split paid through a detection that carried no preimage
    split, preimage = _split_with_preimage(status=SplitStatus.COMPLETED)

    # when another source reports it with the preimage
    with transaction.atomic():
        found = detect(
            payment_hash=split.payment_hash,
            amount_sats=split.total_amount,
            source="reconciler",
            preimage_verified=True,
            preimage=preimage,
        )

    # then it is already handled, and the proof is now stored
    split.refresh_from_db()
    assert found.outcome == "already_handled" and split.preimage == preimage
    with transaction.atomic():
        detect(
            payment_hash=split.payment_hash,
            amount_sats=split.total_amount,
            source="webhook",
            preimage_verified=True,
            preimage="0" * 64,
        )
    split.refresh_from_db()
    assert split.preimage == preimage
