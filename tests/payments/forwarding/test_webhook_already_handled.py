"""A receive for a sale already past detection is final in the acknowledgement (``already_handled``,
exactly what the worker's ``detect`` would record) and publishes no task: the terminal's check or the
status poll often sees the payment before Blink's webhook arrives. A sale detection can still act on
(pending, expired, cancelled) is queued for the worker as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from fakeblink import FakeBlink
from payments.models import PaymentEvent, PaymentSplit, SplitStatus, WebhookDelivery
from payments.services.detection import payment_detected
from tests.payments.forwarding.conftest import MakeSplit, paid_body, queue_length, queued_messages, receive_body, sign

URL = "/webhooks/blink"
pytestmark = pytest.mark.django_db(transaction=True)


def _post(client: Client, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    response = client.post(URL, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 200
    answer: dict[str, str] = response.json()
    return answer


def _events(split: PaymentSplit) -> list[str]:
    return list(PaymentEvent.objects.filter(split_id=split.payment_hash).values_list("event_type", flat=True))


def test_a_receive_for_a_sale_the_terminal_check_already_detected_is_final_without_a_task(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given a sale the customer paid and the terminal's check detected, without the preimage
    split = make_split()
    body, preimage = paid_body(fake_blink, split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="check") == "paid"
    events_before = _events(split)
    published_before = queue_length()

    # when Blink's webhook for it arrives
    with CaptureQueriesContext(connection) as queries:
        answer = _post(client, body, sign(body))

    # then it is acknowledged as already handled, in the one statement, and no task is published
    assert answer == {"status": "accepted", "outcome": "already_handled"}
    assert len(queries.captured_queries) == 1
    assert queue_length() == published_before
    assert not [m for m in queued_messages() if m["task"].endswith("webhook_delivery_task")]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.payment_hash, delivery.amount_sats) == (
        "already_handled",
        split.payment_hash,
        split.total_amount,
    )
    assert delivery.processed_at is not None and delivery.preimage_verified
    # nothing about the sale changed but the receipt's proof, which the check's answer did not carry
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID and split.preimage == preimage.lower()
    assert _events(split) == events_before

    # and Svix's redelivery of that message is still a duplicate
    again = client.post(URL, data=body, content_type="application/json", headers=sign(body, svix_id=delivery.svix_id))
    assert again.json() == {"status": "duplicate", "outcome": "duplicate"}
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (SplitStatus.PENDING, "queued"),
        (SplitStatus.EXPIRED, "queued"),
        (SplitStatus.CANCELLED, "queued"),
        (SplitStatus.PAID, "already_handled"),
        (SplitStatus.PROCESSING, "already_handled"),
        (SplitStatus.COMPLETED, "already_handled"),
        (SplitStatus.FAILED, "already_handled"),
    ],
)
def test_only_a_sale_detection_can_no_longer_act_on_is_final_in_the_acknowledgement(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, status: SplitStatus, outcome: str
) -> None:
    split = make_split()
    PaymentSplit.objects.filter(pk=split.pk).update(status=status)
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)

    answer = _post(client, body, sign(body))

    assert answer["outcome"] == outcome
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == outcome and (delivery.processed_at is None) == (outcome == "queued")
    assert queue_length() == (1 if outcome == "queued" else 0)
    assert PaymentSplit.objects.get(pk=split.pk).status == status  # the acknowledgement moves no sale


def test_a_receive_for_an_unknown_hash_is_still_queued_for_the_worker(client: Client, fake_blink: FakeBlink) -> None:
    # no split at all: the worker decides (a refund's funding, a payout's returned fee, or unmatched)
    body = receive_body(fake_blink, "ab" * 32, 500)
    assert _post(client, body, sign(body))["outcome"] == "queued"
    assert queue_length() == 1
