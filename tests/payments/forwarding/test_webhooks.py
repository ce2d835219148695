"""The Svix webhook: an acknowledgement that answers before detection (one INSERT, a task carrying
only the delivery id), signatures checked with the real svix signing, deduplication on svix-id and on
the payment hash, the worker half (detection then forwarding in one task), the sweep that recovers a
lost publish, late and unmatched payments, ignored event types, the terminal "check" endpoint, and a
broker outage during a delivery."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from structlog.testing import capture_logs

from blinkpos.celery_app import app as celery_app
from fakeblink import FakeBlink
from payments.models import (
    LegStatus,
    PaymentEvent,
    PaymentLeg,
    PaymentSplit,
    SplitStatus,
    UnmatchedPayment,
    WebhookDelivery,
)
from payments.services.forwarding import forward_split
from payments.services.reconcile import reconcile_once
from payments.services.webhooks import deliveries_sweep, delivery_process
from tests.factories import TerminalFactory, random_hash
from tests.payments.forwarding.conftest import (
    SECRET,
    MakeSplit,
    assert_money_invariants,
    paid_body,
    queue_length,
    queued_messages,
    receive_body,
    sign,
)

URL = "/webhooks/blink"
TASK = "payments.tasks.forwarding.webhook_delivery_task"


def post(client: Client, body: bytes, headers: dict[str, str]):
    return client.post(URL, data=body, content_type="application/json", headers=headers)


def _paid_events(split: PaymentSplit) -> int:
    return PaymentEvent.objects.filter(split_id=split.payment_hash, event_type__in=["paid", "paid_late"]).count()


def _process_queued() -> list[str]:
    """Run the worker's half in this process for every queued delivery, oldest first."""
    ids = WebhookDelivery.objects.filter(outcome="queued").order_by("pk").values_list("pk", flat=True)
    return [delivery_process(delivery_id=delivery_id) for delivery_id in ids]


@pytest.mark.django_db(transaction=True)
def test_ack_answers_before_detection_with_one_insert_and_a_task_carrying_only_the_id(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # given a paid invoice and the body Blink sends for it, with the real preimage
    split = make_split()
    body, preimage = paid_body(fake_blink, split.payment_hash)

    # when it is delivered
    with CaptureQueriesContext(connection) as queries:
        response = post(client, body, sign(body))

    # then the answer is an acknowledgement, written in one statement; the split is not paid yet, it only
    # received the verified preimage (the customer's proof on the receipt) in that same statement
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "outcome": "queued"}
    assert len(queries.captured_queries) == 1
    sql = queries.captured_queries[0]["sql"]
    assert sql.startswith("WITH proof AS (UPDATE payment_splits") and "INSERT INTO webhook_deliveries" in sql
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING and split.preimage == preimage.lower()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.outcome, delivery.payment_hash, delivery.amount_sats) == (
        "queued",
        split.payment_hash,
        split.total_amount,
    )
    assert delivery.preimage_verified and delivery.processed_at is None
    # the preimage is stored nowhere on the row
    assert preimage not in json.dumps(list(WebhookDelivery.objects.values().get().values()), default=str)

    # and one task was published, carrying the delivery id and nothing else (no preimage, no bolt11)
    [message] = queued_messages()
    assert (message["task"], message["args"], message["kwargs"]) == (TASK, [delivery.pk], {})
    for secret in (preimage, split.payment_request, split.payment_hash):
        assert secret not in message["raw"]


@pytest.mark.django_db(transaction=True)
def test_worker_half_marks_paid_forwards_and_records_the_outcome_and_duplicates_do_no_work(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split()
    body, _preimage = paid_body(fake_blink, split.payment_hash)
    headers = sign(body)
    assert post(client, body, headers).json() == {"status": "accepted", "outcome": "queued"}

    # a Svix redelivery (same svix-id): acknowledged as a duplicate, no row, no second task
    again = post(client, body, headers)
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate", "outcome": "duplicate"}
    assert WebhookDelivery.objects.count() == 1 and queue_length() == 1

    # the worker's half: detection and forwarding in one task
    [outcome] = _process_queued()
    assert outcome == "paid:completed"
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED and split.received_amount == split.total_amount
    paid = PaymentEvent.objects.get(split_id=split.payment_hash, event_type="paid")
    assert paid.event_data["source"] == "webhook" and paid.event_data["preimage_verified"] is True
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "paid" and delivery.processed_at is not None
    assert queue_length() == 1  # forwarded in the same task: no forward_split_task was published

    # the same event under a new svix-id: a new row, final at once as already handled, no task
    other = post(client, body, sign(body))
    assert other.json() == {"status": "accepted", "outcome": "already_handled"}
    assert queue_length() == 1 and _process_queued() == []
    assert _paid_events(split) == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.django_db(transaction=True)
def test_the_task_run_twice_at_once_pays_and_forwards_exactly_once(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split(tips=(100,))
    body, _preimage = paid_body(fake_blink, split.payment_hash)
    post(client, body, sign(body))
    delivery_id = WebhookDelivery.objects.get().pk
    barrier = threading.Barrier(2)
    results: list[str] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(delivery_process(delivery_id=delivery_id))
        finally:
            connection.close()  # each thread had its own connection

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # one run detected it; the other saw the final outcome and found the forward done or under way
    assert sorted(r.split(":")[0] for r in results) == ["paid", "paid"]
    assert "paid:completed" in results
    assert _paid_events(split) == 1
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.COMPLETED
    for leg in PaymentLeg.objects.filter(split=split):
        assert leg.status == LegStatus.SUCCEEDED and fake_blink.debits_for(leg.payment_hash or "") == 1
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert fake_blink.balance(parties.staff[0].wallet_id) == 100
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.django_db(transaction=True)
def test_a_preimage_that_does_not_hash_to_the_payment_hash_is_rejected_and_nothing_is_forwarded(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    split = make_split()
    body, preimage = paid_body(fake_blink, split.payment_hash)
    forged_preimage = "ab" * 32
    forged = body.replace(preimage.encode(), forged_preimage.encode())
    assert forged != body

    with capture_logs() as logs:
        response = post(client, forged, sign(forged))

    assert response.status_code == 200  # authentic delivery; retrying it would not change the answer
    assert response.json() == {"status": "accepted", "outcome": "rejected"}
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "rejected" and not delivery.preimage_verified and delivery.processed_at is not None
    assert queue_length() == 0  # no task
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING and _paid_events(split) == 0
    assert not PaymentLeg.objects.filter(split=split).exclude(status=LegStatus.PLANNED).exists()
    assert any(entry["event"] == "webhook.preimage_mismatch" for entry in logs)
    assert forged_preimage not in repr(logs)  # never logged, not even the wrong one
    assert not _process_queued()


@pytest.mark.django_db(transaction=True)
def test_a_delivery_whose_publish_was_lost_is_swept_and_forwarded(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    # given a delivery recorded while the broker was away (the task was never published)
    split = make_split()
    body, _preimage = paid_body(fake_blink, split.payment_hash)
    dead = "redis://127.0.0.1:1/0"
    with broker_at(dead), override_settings(CELERY_BROKER_URL=dead), capture_logs() as logs:
        response = post(client, body, sign(body))
    assert response.json() == {"status": "accepted", "outcome": "queued"}
    assert [e["error"] for e in logs if e["event"] == "webhook.publish_failed"] == ["OperationalError"]
    assert queue_length() == 0

    # inside the grace period the sweep leaves it to its (possibly delayed) task
    assert deliveries_sweep(older_than=timezone.now() - timedelta(seconds=60)) == {"swept": 0, "sweep_errors": 0}
    assert WebhookDelivery.objects.get().outcome == "queued"

    # when the grace period is over, the reconciler's sweep (its first step, before it polls unpaid
    # invoices at the provider) acts on it, and forwarding is published after commit
    counts = reconcile_once(delivery_grace_seconds=0)
    assert counts["swept"] == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "paid" and delivery.processed_at is not None
    assert [m["task"] for m in queued_messages()] == ["payments.tasks.forwarding.forward_split_task"]
    assert reconcile_once(delivery_grace_seconds=0).get("swept") is None  # final: not swept twice

    # and the message the sweep published forwards it
    [message] = queued_messages()
    assert forward_split(split_id=message["args"][0]) == "completed"
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000
    assert_money_invariants(fake_blink, [split.pk])


@pytest.mark.django_db(transaction=True)
def test_the_sweep_gives_a_delivery_detection_cannot_act_on_a_final_error_outcome(
    fake_blink: FakeBlink, make_split: MakeSplit
) -> None:
    # A row the view would never write (its range check refuses negative amounts): the split's
    # CHECK constraint refuses it in detection. The sweep must not retry it on every pass.
    split = make_split()
    past = timezone.now() - timedelta(minutes=5)
    WebhookDelivery.objects.create(
        svix_id="msg_poison", event_type="receive.lightning", payment_hash=split.payment_hash, outcome="queued",
        amount_sats=-5,
    )  # fmt: skip
    WebhookDelivery.objects.update(received_at=past)
    with capture_logs() as logs:
        counts = reconcile_once(delivery_grace_seconds=0)
    assert counts["sweep_errors"] == 1
    assert WebhookDelivery.objects.get().outcome == "error"
    assert [e["error"] for e in logs if e["event"] == "webhook.sweep_failed"] == ["IntegrityError"]
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING  # the reconciler's status poll still owns this payment
    assert "sweep_errors" not in reconcile_once(delivery_grace_seconds=0)


@pytest.mark.django_db
@pytest.mark.parametrize("offset", [-299, 299])
def test_timestamps_within_five_minutes_are_accepted(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, offset: int
) -> None:
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    response = post(client, body, sign(body, offset=offset))
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "queued" and not delivery.preimage_verified  # the body has no preimage


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
    if kind == "malformed_signature_header":
        headers = sign(body)
        headers["svix-signature"] = "v1"
        return body, headers
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
        "malformed_signature_header",
    ],
)
def test_bad_signatures_are_rejected_with_a_generic_401_and_nothing_written(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, kind: str, django_capture_on_commit_callbacks
) -> None:
    split = make_split()
    body, headers = _tampered(kind, receive_body(fake_blink, split.payment_hash, split.total_amount))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, headers)

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_signature", "message": "Webhook signature verification failed.", "fields": {}}
    }
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
    assert not WebhookDelivery.objects.exists()
    assert not callbacks and queue_length() == 0


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
    ("event_type", "status", "outcome"),
    [
        ("send.lightning", "success", "ignored"),
        ("send.intraledger", "success", "ignored"),
        ("receive.onchain", "success", "ignored"),
        ("invoice.future", "success", "ignored"),
        ("receive.lightning", "pending", "ignored_not_success"),
    ],
)
def test_send_unknown_and_unsettled_events_are_classified_in_the_view_without_a_task(
    client: Client,
    fake_blink: FakeBlink,
    make_split: MakeSplit,
    event_type: str,
    status: str,
    outcome: str,
    django_capture_on_commit_callbacks,
) -> None:
    split = make_split()
    body = receive_body(fake_blink, split.payment_hash, split.total_amount, status=status, event_type=event_type)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(client, body, sign(body))
    assert response.status_code == 200
    assert response.json() == {"status": "accepted", "outcome": outcome}
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event_type, delivery.outcome) == (event_type, outcome)
    assert delivery.processed_at is not None  # final at once
    assert not callbacks and queue_length() == 0


@pytest.mark.django_db
def test_other_wallets_impossible_amounts_and_nul_bytes_are_final_in_the_view(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, django_capture_on_commit_callbacks
) -> None:
    split = make_split()
    other_wallet = json.loads(receive_body(fake_blink, split.payment_hash, split.total_amount))
    other_wallet["walletId"] = "someone-elses-wallet"
    negative = receive_body(fake_blink, split.payment_hash, -1)
    huge = receive_body(fake_blink, split.payment_hash, 2**63)
    nul_type = b'{"eventType": "send.\\u0000lightning"}'
    bodies = [json.dumps(other_wallet).encode(), negative, huge, nul_type]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcomes = [post(client, body, sign(body)).json()["outcome"] for body in bodies]
    assert outcomes == ["ignored_other_wallet", "ignored_bad_amount", "ignored_bad_amount", "ignored"]
    assert WebhookDelivery.objects.filter(event_type="send.lightning").exists()  # recorded, NUL dropped
    assert not callbacks and queue_length() == 0
    assert PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.PENDING


@pytest.mark.django_db
def test_signed_body_that_is_not_a_json_object_is_a_400_and_nothing_is_written(
    client: Client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for body in (b'["not", "an", "object"]', b"{nope", b'"text"', b"12"):
            response = post(client, body, sign(body))
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "invalid_body"
    assert not WebhookDelivery.objects.exists()
    assert not callbacks and queue_length() == 0


@pytest.mark.django_db
def test_webhook_only_accepts_post(client: Client) -> None:
    assert client.get(URL).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_unmatched_payment_is_recorded_once_for_an_operator(client: Client, fake_blink: FakeBlink) -> None:
    unknown = random_hash()
    body = receive_body(fake_blink, unknown, 777)
    assert post(client, body, sign(body)).json()["outcome"] == "queued"
    assert post(client, body, sign(body)).json()["outcome"] == "queued"
    assert _process_queued() == ["unmatched", "unmatched_duplicate"]
    assert list(WebhookDelivery.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "unmatched",
        "unmatched_duplicate",
    ]
    row = UnmatchedPayment.objects.get()
    assert (row.payment_hash, row.amount) == (unknown, 777)
    assert queue_length() == 2  # the two acknowledgements' tasks; no forward


@pytest.mark.django_db(transaction=True)
def test_late_payment_on_an_expired_split_is_paid_late_and_forwarded(
    client: Client, fake_blink: FakeBlink, make_split: MakeSplit, parties
) -> None:
    split = make_split(expires_in=timedelta(seconds=-1))
    PaymentSplit.objects.filter(pk=split.pk).update(status=SplitStatus.EXPIRED)
    body = receive_body(fake_blink, split.payment_hash, split.total_amount)
    assert post(client, body, sign(body)).json()["outcome"] == "queued"
    assert _process_queued() == ["paid_late:completed"]
    split.refresh_from_db()
    assert split.status == SplitStatus.COMPLETED
    assert PaymentEvent.objects.filter(split_id=split.payment_hash, event_type="paid_late").count() == 1
    assert WebhookDelivery.objects.get().outcome == "paid_late"
    assert fake_blink.balance(parties.merchant.wallet_id) == 1000


@pytest.mark.django_db(transaction=True)
def test_broker_down_during_webhook_still_answers_2xx_and_keeps_the_delivery(
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
    assert WebhookDelivery.objects.get().outcome == "queued"  # PostgreSQL has it; the sweep will act
    assert queue_length() == 0
    failures = [entry for entry in logs if entry["event"] == "webhook.publish_failed"]
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
