"""Outgoing webhooks: stored with the status change, signed (verified with the Standard Webhooks
reference implementation), retried on 5xx and timeouts, not on 410, disabled after 3 days of failures,
never sent to a private address under production settings, and secret rotation's overlap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import WebhookVerificationError

from payments.models import (
    MerchantWebhookAttempt,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    MessageStatus,
    PaymentSplit,
    SplitStatus,
)
from payments.net.safe_http import SafeHttpPolicy
from payments.services import webhook_delivery
from payments.services.transitions import lock_split, transition_split
from payments.services.webhook_delivery import FAILURE_WINDOW, MAX_ATTEMPTS, message_deliver, messages_sweep
from payments.services.webhook_endpoints import endpoint_rotate_secret
from tests.factories import PaymentSplitFactory
from tests.payments.merchant_webhooks.conftest import Clock
from tests.webhook_receiver import Answer, Receiver, verify

pytestmark = pytest.mark.django_db

Endpoint = tuple[MerchantWebhookEndpoint, str]


def pay(split: PaymentSplit) -> None:
    with transaction.atomic():
        locked = lock_split(split_id=split.pk)
        assert locked is not None
        transition_split(locked, SplitStatus.PAID, event_type="paid", paid_at=timezone.now(), received_amount=1150)


def only_message() -> MerchantWebhookMessage:
    return MerchantWebhookMessage.objects.get()


def test_a_status_change_stores_its_message_in_the_same_transaction_and_the_delivery_verifies(
    endpoint: Endpoint, receiver: Receiver
) -> None:
    # given a merchant's pending sale and an endpoint subscribed to invoice.paid
    ep, secret = endpoint
    split = PaymentSplitFactory(merchant=ep.merchant, payment_request="lnbc1secretinvoice", preimage="")

    # when it is paid, and the message is sent
    pay(split)
    message = only_message()
    assert message.status == MessageStatus.PENDING and message.event_type == "invoice.paid"
    assert message_deliver(message_id=message.pk) == "succeeded"

    # then the receiver got one request that the reference implementation verifies
    assert len(receiver.received) == 1
    got = receiver.received[0]
    payload = verify(secret, got)
    assert got.headers["webhook-id"] == message.msg_id
    assert payload["type"] == "invoice.paid"
    assert payload["data"]["payment_hash"] == split.payment_hash
    assert payload["data"]["status"] == "paid" and payload["data"]["total_sats"] == split.total_amount
    assert b"lnbc1" not in got.body and b"preimage" not in got.body
    attempt = MerchantWebhookAttempt.objects.get()
    assert attempt.status_code == 200 and attempt.succeeded and attempt.response_body == "ok"
    assert only_message().status == MessageStatus.SUCCEEDED


def test_a_rolled_back_status_change_leaves_no_message(endpoint: Endpoint) -> None:
    ep, _ = endpoint
    split = PaymentSplitFactory(merchant=ep.merchant)
    with pytest.raises(RuntimeError), transaction.atomic():
        pay(split)
        raise RuntimeError("the transition's transaction fails later")
    assert not MerchantWebhookMessage.objects.exists()


def test_unsubscribed_events_and_disabled_endpoints_get_nothing(endpoint: Endpoint, merchant: Any) -> None:
    ep, _ = endpoint
    ep.event_types = ["payment.completed"]
    ep.save()
    pay(PaymentSplitFactory(merchant=merchant))
    ep.event_types = ["invoice.paid"]
    ep.enabled = False
    ep.save()
    pay(PaymentSplitFactory(merchant=merchant))
    assert not MerchantWebhookMessage.objects.exists()


def test_a_5xx_is_retried_on_the_schedule_and_each_attempt_is_logged(
    endpoint: Endpoint, receiver: Receiver, clock: Clock
) -> None:
    ep, secret = endpoint
    receiver.answer(Answer(status=503, body=b"busy" * 400))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    message = only_message()

    assert message_deliver(message_id=message.pk) == "retry"
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING
    assert message.next_attempt_at == clock.now + timedelta(seconds=5)
    # not due yet: nothing is sent
    assert message_deliver(message_id=message.pk) == "not_due"

    clock.advance(timedelta(seconds=5))
    assert message_deliver(message_id=message.pk) == "succeeded"
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the same message id on a retry
    verify(secret, second, at=clock.now)
    codes = list(MerchantWebhookAttempt.objects.order_by("attempted_at").values_list("status_code", "response_body"))
    assert codes[0][0] == 503 and len(codes[0][1]) == 1024  # the answer's first KB only
    assert codes[1][0] == 200
    ep.refresh_from_db()
    assert ep.failing_since is None and ep.enabled


def test_a_timeout_is_retried(endpoint: Endpoint, receiver: Receiver, settings: Any) -> None:
    ep, _ = endpoint
    settings.MERCHANT_WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.answer(Answer(delay=1.5))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    assert message_deliver(message_id=only_message().pk) == "retry"
    attempt = MerchantWebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error == "timeout" and not attempt.succeeded
    assert only_message().status == MessageStatus.PENDING


def test_a_410_disables_the_endpoint_and_is_not_retried(
    endpoint: Endpoint, receiver: Receiver, merchant: Any, django_capture_on_commit_callbacks: Any
) -> None:
    ep, _ = endpoint
    receiver.answer(Answer(status=410))
    pay(PaymentSplitFactory(merchant=merchant))
    pay(PaymentSplitFactory(merchant=merchant))
    first, waiting = MerchantWebhookMessage.objects.order_by("pk")

    with django_capture_on_commit_callbacks(execute=True):
        assert message_deliver(message_id=first.pk) == "failed"

    ep.refresh_from_db()
    assert not ep.enabled and "410" in ep.disabled_reason
    assert set(MerchantWebhookMessage.objects.values_list("status", flat=True)) == {MessageStatus.FAILED}
    assert message_deliver(message_id=waiting.pk) == "not_due"
    assert len(receiver.received) == 1
    assert len(mail.outbox) == 1 and "disabled" in mail.outbox[0].subject


def test_failing_for_three_days_disables_the_endpoint_and_tells_the_merchant(
    endpoint: Endpoint, receiver: Receiver, clock: Clock, django_capture_on_commit_callbacks: Any
) -> None:
    ep, _ = endpoint
    receiver.default = Answer(status=500)
    pay(PaymentSplitFactory(merchant=ep.merchant))
    message = only_message()
    started = clock.now

    outcomes = []
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(MAX_ATTEMPTS + 3):
            outcome = message_deliver(message_id=message.pk)
            outcomes.append(outcome)
            if outcome == "failed":
                break
            message.refresh_from_db()
            assert message.next_attempt_at is not None
            clock.set(message.next_attempt_at)

    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert clock.now - started >= FAILURE_WINDOW  # the last attempt came 3 days after the first
    assert MerchantWebhookAttempt.objects.count() == MAX_ATTEMPTS == len(receiver.received)
    ep.refresh_from_db()
    assert not ep.enabled and ep.disabled_at == clock.now and "3 days" in ep.disabled_reason
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["owner@shop.example"]


def test_an_endpoint_that_succeeds_in_between_is_not_disabled_by_an_old_failure(
    endpoint: Endpoint, receiver: Receiver, clock: Clock
) -> None:
    ep, _ = endpoint
    receiver.answer(Answer(status=500))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    assert message_deliver(message_id=only_message().pk) == "retry"
    clock.advance(timedelta(days=4))
    assert message_deliver(message_id=only_message().pk) == "succeeded"
    pay(PaymentSplitFactory(merchant=ep.merchant))
    receiver.answer(Answer(status=500))
    newest = MerchantWebhookMessage.objects.order_by("-pk").first()
    assert newest is not None and message_deliver(message_id=newest.pk) == "retry"
    ep.refresh_from_db()
    assert ep.enabled


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:{port}/hooks", "https://127.0.0.1:{port}/hooks", "https://localhost:{port}/"]
)
def test_production_policy_never_sends_to_a_private_address(
    endpoint: Endpoint, receiver: Receiver, settings: Any, url: str
) -> None:
    # given an endpoint whose URL points at loopback (stored before the allowance was withdrawn)
    ep, _ = endpoint
    MerchantWebhookEndpoint.objects.filter(pk=ep.pk).update(url=url.format(port=receiver.port))
    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = []  # production: no allowance at all
    pay(PaymentSplitFactory(merchant=ep.merchant))

    assert message_deliver(message_id=only_message().pk) == "retry"

    assert receiver.received == []
    attempt = MerchantWebhookAttempt.objects.get()
    assert attempt.status_code is None and attempt.error in {"private_address", "insecure_scheme"}


def test_production_policy_from_settings_allows_no_plain_http_host() -> None:
    policy = webhook_delivery.policy_from_settings()
    assert isinstance(policy, SafeHttpPolicy) and policy.allow_http_hosts == frozenset()


def test_production_settings_refuse_plain_http_webhook_hosts() -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "blinkpos.settings.production",
        "SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": "ZmRlZmF1bHRrZXlmb3J0ZXN0aW5nb25seTEyMzQ1Njc=",
        "ALLOWED_HOSTS": "pos.example.com",
        "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS": "127.0.0.1:21000",
    }
    env.pop("LNURL_ALLOW_HTTP_HOSTS", None)
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS must be empty in production" in done.stderr


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new_one(
    endpoint: Endpoint, receiver: Receiver, clock: Clock
) -> None:
    ep, old = endpoint
    new = endpoint_rotate_secret(endpoint=ep)
    assert new != old and new.startswith("whsec_")

    pay(PaymentSplitFactory(merchant=ep.merchant))
    message_deliver(message_id=only_message().pk)
    during = receiver.received[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert verify(old, during, at=clock.now)["type"] == "invoice.paid"
    assert verify(new, during, at=clock.now)["type"] == "invoice.paid"

    clock.advance(timedelta(hours=24, seconds=1))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    latest = MerchantWebhookMessage.objects.order_by("-pk").first()
    assert latest is not None
    message_deliver(message_id=latest.pk)
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verify(new, after, at=clock.now)["type"] == "invoice.paid"
    with pytest.raises(WebhookVerificationError):
        verify(old, after, at=clock.now)


def test_two_workers_never_send_the_same_attempt(endpoint: Endpoint, receiver: Receiver) -> None:
    ep, _ = endpoint
    pay(PaymentSplitFactory(merchant=ep.merchant))
    message = only_message()
    now = timezone.now()
    token = webhook_delivery._claim(message.pk, now)
    assert token is not None
    # a second worker (or the sweep's task) finds it claimed
    assert webhook_delivery._claim(message.pk, now) is None
    assert message_deliver(message_id=message.pk) == "not_due"
    assert receiver.received == []


def test_the_sweep_frees_a_lapsed_claim_and_republishes_due_messages(
    endpoint: Endpoint, receiver: Receiver, clock: Clock
) -> None:
    ep, _ = endpoint
    pay(PaymentSplitFactory(merchant=ep.merchant))
    message = only_message()
    assert webhook_delivery._claim(message.pk, clock.now) is not None  # a worker died holding it

    clock.advance(timedelta(minutes=5))
    counts = messages_sweep()

    assert counts == {"reclaimed": 1, "published": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.PENDING and message.published_at == clock.now
    assert messages_sweep() == {"reclaimed": 0, "published": 0}  # just published: not again at once
    assert message_deliver(message_id=message.pk) == "succeeded"
    assert json.loads(receiver.received[0].body)["type"] == "invoice.paid"


def test_cleanup_removes_final_messages_past_retention_with_their_log_and_keeps_pending_ones(
    endpoint: Endpoint, receiver: Receiver, clock: Clock
) -> None:
    from payments.services.maintenance import old_data_cleanup

    ep, _ = endpoint
    pay(PaymentSplitFactory(merchant=ep.merchant))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    done, waiting = MerchantWebhookMessage.objects.order_by("pk")
    assert message_deliver(message_id=done.pk) == "succeeded"
    clock.advance(timedelta(days=31))

    assert old_data_cleanup(dry_run=True).merchant_webhooks_deleted == 1
    result = old_data_cleanup()

    assert result.merchant_webhooks_deleted == 1
    assert list(MerchantWebhookMessage.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not MerchantWebhookAttempt.objects.exists()


def test_a_redirect_is_never_followed_and_counts_as_a_failed_attempt(endpoint: Endpoint, receiver: Receiver) -> None:
    ep, _ = endpoint
    receiver.answer(Answer(status=307, body=b""))
    pay(PaymentSplitFactory(merchant=ep.merchant))
    assert message_deliver(message_id=only_message().pk) == "retry"
    assert len(receiver.received) == 1
    assert MerchantWebhookAttempt.objects.get().status_code == 307
