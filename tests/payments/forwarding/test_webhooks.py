"""The Svix webhook: signatures checked with the real svix signing, deduplication on svix-id and on
the payment hash, late and unmatched payments, ignored event types, the terminal "check" endpoint,
and a broker outage during a delivery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from structlog.testing import capture_logs

from blinkpos.celery_app import app as celery_app
from payments.models import PaymentEvent, PaymentSplit, SplitStatus, UnmatchedPayment, WebhookDelivery
from payments.wallet.fake import FakeBlink
from tests.factories import TerminalFactory, random_hash
from tests.payments.forwarding.conftest import SECRET, MakeSplit, queue_length, receive_body, sign

URL = "/webhooks/blink"


def post(client: Client, body: bytes, headers: dict[str, str]):
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def _paid_events(split: PaymentSplit) -> int:
    return PaymentEvent.objects.filter(split_id=split.payment_hash, event_type__in=["paid", "paid_late"]).count()


@pytest.mark.django_db(transaction=True)
def test_valid_webhook_marks_paid_and_enqueues_once_then_duplicates_are_acknowledged(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = make_split()
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    headers = sign(body)

    first = post(client, body, headers)
    again = post(client, body, headers)  # Svix redelivery: same svix-id
    other_id = post(client, body, sign(body))  # the same event under a new svix-id

    assert first.status_code == again.status_code == other_id.status_code == 200
    assert first.json()["outcome"] == "paid"
    assert again.json()["status"] == "duplicate"
    assert other_id.json()["outcome"] == "already_handled"
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID and split.received_amount == split.total_amount
    assert _paid_events(split) == 1
    assert WebhookDelivery.objects.count() == 2
    assert queue_length() == 1  # forwarding enqueued once, after commit


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_within_five_minutes_are_accepted(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, offset: int
) -> None:
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    assert post(client, body, sign(body, offset=offset)).status_code == 200
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID


def _tampered(kind: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    if kind == "wrong_secret":
        return body, sign(body, secret="whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldC0zMmJ5dGU=")
    if kind == "one_byte_changed":
        headers = sign(body)
        return body.replace(b'"success"', b'"succesS"'), headers
    if kind.startswith("missing_"):
        headers = sign(body)
        del headers[kind.removeprefix("missing_")]
        return body, headers
    if kind == "reserialised_json":
        headers = sign(body)
        return json.dumps(json.loads(body), indent=1).encode(), headers
    if kind == "too_old":
        return body, sign(body, offset=-301)
    if kind == "too_new":
        return body, sign(body, offset=301)
    raise AssertionError(kind)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind",
    [
        "wrong_secret",
        "one_byte_changed",
        "missing_svix-id",
        "missing_svix-signature",
        "missing_svix-timestamp",
        "reserialised_json",
        "too_old",
        "too_new",
    ],
)
def test_bad_signatures_are_rejected_with_a_generic_401_and_nothing_written(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, kind: str
) -> None:
    split = make_split()
    body, headers = _tampered(kind, receive_body(fake_blink, split.payment_hash, split.total_amount))

    response = post(client, body, headers)

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_signature", "message": "Webhook signature verification failed.", "fields": {}}
    }
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
    assert not WebhookDelivery.objects.exists()
    assert queue_length() == 0


@pytest.mark.django_db
def test_rotation_accepts_every_configured_secret(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, settings
) -> None:
    new = "whsec_" + "bmV3LXNlY3JldC1uZXctc2VjcmV0LW5ldy1zZWNyZXQ="
    settings.BLINK_WEBHOOK_SECRETS = [new, SECRET]
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    assert post(client, body, sign(body, secret=SECRET)).status_code == 200
    assert post(client, body, sign(body, secret=new)).status_code == 200
    settings.BLINK_WEBHOOK_SECRETS = []
    assert post(client, body, sign(body)).status_code == 401  # nothing configured: nothing verifies


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("send.lightning", "success"),
        ("send.intraledger", "success"),
        ("receive.onchain", "success"),
        ("invoice.future", "success"),
        ("receive.lightning", "pending"),
    ],
)
def test_send_unknown_and_unsettled_events_are_acknowledged_and_ignored(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, event_type: str, status: str
) -> None:
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount, status=status, event_type=event_type)
    response = post(client, body, sign(body))
    assert response.status_code == 200
    assert response.json()["outcome"].startswith("ignored")
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
    assert WebhookDelivery.objects.get().event_type == event_type


@pytest.mark.django_db
def test_signed_body_that_is_not_a_json_object_is_a_400(client: Client) -> None:
    body = b'["not", "an", "object"]'
    assert post(client, body, sign(body)).status_code == 400
    assert post(client, b"{nope", sign(b"{nope")).status_code == 400
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_webhook_only_accepts_post(client: Client) -> None:
    assert client.get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_unmatched_payment_is_recorded_once_for_an_operator(client: Client, fake_blink: FakeBlink) -> None:
    unknown = random_hash()
    body = receive_body(fake_blink, unknown, 777)
    assert post(client, body, sign(body)).json()["outcome"] == "unmatched"
    assert post(client, body, sign(body)).json()["outcome"] == "unmatched_duplicate"
    row = UnmatchedPayment.objects.get()
    assert (row.payment_hash, row.amount) == (unknown, 777)
    assert queue_length() == 0


@pytest.mark.django_db(transaction=True)
def test_late_payment_on_an_expired_split_is_paid_late_and_forwarded(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = make_split(expires_in=timedelta(seconds=-1))
    PaymentSplit.objects.filter(pk=split.pk).update(status=SplitStatus.EXPIRED)
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    assert post(client, body, sign(body)).json()["outcome"] == "paid_late"
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID
    assert PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="paid_late").count() == 1
    assert queue_length() == 1


@pytest.mark.django_db(transaction=True)
def test_broker_down_during_webhook_still_answers_2xx_and_keeps_the_payment(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    dead = "redis://127.0.0.1:1/0"  # nothing listens there: every publish attempt is refused
    with broker_at(dead), override_settings(CELERY_BROKER_URL=dead), capture_logs() as logs:
        started = time.monotonic()
        response = post(client, body, sign(body))
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    split.refresh_from_db()
    assert split.status == SplitStatus.PAID  # PostgreSQL has it; the reconciler will forward it
    assert queue_length() == 0
    failures = [entry for entry in logs if entry["event"] == "forwarding.enqueue_failed"]
    assert failures and failures[0]["error"] == "OperationalError"
    assert elapsed < 10  # bounded publish retries, not a hung request


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """Point this process's Celery app at another broker (its pools are rebuilt on next use)."""
    good = celery_app.conf.broker_url

    def reset() -> None:
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    celery_app.conf.broker_url = url
    reset()
    try:
        yield
    finally:
        celery_app.conf.broker_url = good
        reset()


@pytest.mark.django_db(transaction=True)
def test_terminal_check_asks_the_provider_and_never_trusts_the_client(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split()
    terminal = TerminalFactory(merchant=parties.merchant)
    auth = {"Authorization": f"Api-Key {terminal.plain_key}"}
    url = f"/api/v1/invoices/{split.payment_hash}/check"

    unpaid = client.post(url, headers=auth)
    assert unpaid.status_code == 200 and unpaid.json()["status"] == "pending"

    fake_blink.pay_invoice_as_customer(split.payment_hash)
    paid = client.post(url, headers=auth)
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    assert PaymentEvent.objects.get(split_id=split.payment_hash, event_type="paid").event_data["source"] == "check"
    assert queue_length() == 1

    bad = client.post("/api/v1/invoices/not-a-hash/check", headers=auth)
    assert bad.status_code == 400 and "payment_hash" in bad.json()["error"]["fields"]
    other = TerminalFactory()
    assert client.post(url, headers={"Authorization": f"Api-Key {other.plain_key}"}).status_code == 404
    assert client.post(url).status_code == 401


@pytest.mark.django_db
def test_terminal_check_when_the_provider_is_down_is_a_503(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split()
    terminal = TerminalFactory(merchant=parties.merchant)
    fake_blink.script("lnInvoicePaymentStatusByHash", ["HTTP_503"])
    response = client.post(
        f"/api/v1/invoices/{split.payment_hash}/check", headers={"Authorization": f"Api-Key {terminal.plain_key}"}
    )
    assert response.status_code == 503 and response.json()["error"]["code"] == "provider_unavailable"
    assert response.has_header("Retry-After")
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
