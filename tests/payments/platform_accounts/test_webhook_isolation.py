"""Each platform account's webhook endpoint acts on its own account's sales only: a delivery signed
validly for account A that names a sale of account B is recorded and ignored, and B's sale is untouched
(issue 21: multi-account isolation). Real fake Blink over HTTP, two platform accounts."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import PaymentEvent, PaymentSplit, SplitStatus, WebhookDelivery
from payments.services.invoices import invoice_create
from payments.services.webhooks import delivery_process
from tests.factories import MerchantFactory, StaffFactory
from tests.payments.forwarding.conftest import SECRET, sign, wait_for
from tests.payments.platform_accounts.conftest import SecondAccount, assert_forwarded_by, paid_message, post_webhook

pytestmark = pytest.mark.django_db(transaction=True)
DEFAULT_URL = "/webhooks/blink"


def _sale(fake: FakeBlink, name: str, account: SecondAccount | None) -> PaymentSplit:
    merchant = MerchantFactory(
        blink_username=f"{name}_owner",
        wallet_id=fake.add_account(f"{name}_owner"),
        platform_account=None if account is None else account.account,
    )
    staff = StaffFactory(merchant=merchant, blink_username=f"{name}_tips", wallet_id=fake.add_account(f"{name}_tips"))
    return invoice_create(merchant=merchant, terminal=None, amount_sats=1000, tip_percent=Decimal("10"), staff=staff)


def _process(delivery_id: object) -> str:
    assert isinstance(delivery_id, int)
    return delivery_process(delivery_id=delivery_id)


def test_a_sale_on_account_b_is_invoiced_paid_and_forwarded_by_account_b(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given a merchant on account B
    split = _sale(fake_blink, "bshop", account_b)

    # then its invoice was created on B's wallet, and the split remembers B
    assert split.platform_account_id == account_b.account.pk
    assert fake_blink.invoice(split.payment_hash)["wallet_id"] == account_b.wallet_id

    # when the customer pays and B's endpoint receives Blink's webhook, signed with B's secret
    body = paid_message(fake_blink, split, username=account_b.username)
    status, answer = post_webhook(account_b.webhook_url, body, account_b.secret)
    assert (status, answer["outcome"]) == (200, "queued")
    delivery = WebhookDelivery.objects.get(payment_hash=split.payment_hash)
    assert delivery.platform_account_id == account_b.account.pk
    split.refresh_from_db()  # the customer's proof of payment, verified, kept for the receipt
    assert hashlib.sha256(bytes.fromhex(split.preimage)).hexdigest() == split.payment_hash

    # then the worker marks it paid and forwards every leg from B's wallet, none from the default one
    assert _process(delivery.pk).startswith("paid:")
    assert_forwarded_by(fake_blink, split, wallet_id=account_b.wallet_id, not_by=fake_blink.platform_wallet_id)


def test_a_webhook_signed_for_the_default_account_cannot_touch_account_b_splits(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given a pending sale on B, and a delivery for the DEFAULT account's endpoint, validly signed with
    # the default account's secret, naming B's payment hash (walletId: the default platform's)
    split = _sale(fake_blink, "bshop", account_b)
    forged = paid_message(fake_blink, split, username=account_b.username)
    forged = forged.replace(account_b.wallet_id.encode(), fake_blink.platform_wallet_id.encode())

    # when it is delivered and processed
    status, answer = post_webhook(DEFAULT_URL, forged, SECRET)
    assert (status, answer["outcome"]) == (200, "queued")
    delivery = WebhookDelivery.objects.get(payment_hash=split.payment_hash)
    outcome = _process(delivery.pk)

    # then it is recorded as another account's and B's split is untouched: still pending, no event
    assert outcome == "ignored_other_account"
    delivery.refresh_from_db()
    assert (delivery.outcome, delivery.platform_account_id) == ("ignored_other_account", None)
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING and split.received_amount is None
    assert split.preimage == ""  # not even the receipt's proof is written from another account's delivery
    assert list(PaymentEvent.objects.filter(split_id=split.payment_hash).values_list("event_type", flat=True)) == [
        "created"
    ]


def test_account_b_endpoint_cannot_touch_a_default_account_split(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given a pending sale on the default account, and B's endpoint receiving a delivery signed with B's
    # secret that names it (walletId rewritten to B's, so only the account check can refuse it)
    split = _sale(fake_blink, "ashop", None)
    body = paid_message(fake_blink, split, username=None)
    body = body.replace(fake_blink.platform_wallet_id.encode(), account_b.wallet_id.encode())

    status, _ = post_webhook(account_b.webhook_url, body, account_b.secret)
    assert status == 200
    outcome = _process(WebhookDelivery.objects.get(payment_hash=split.payment_hash).pk)

    assert outcome == "ignored_other_account"
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING


def test_a_delivery_naming_another_account_s_paid_sale_is_left_to_the_worker_not_final_at_once(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given B's sale, paid, delivered to B's endpoint and detected
    split = _sale(fake_blink, "bshop", account_b)
    body = paid_message(fake_blink, split, username=account_b.username)
    status, answer = post_webhook(account_b.webhook_url, body, account_b.secret)
    assert (status, answer["outcome"]) == (200, "queued")
    assert _process(WebhookDelivery.objects.get(platform_account_id=account_b.account.pk).pk).startswith("paid:")

    # when a delivery to the DEFAULT endpoint names it (signed with the default account's secret)
    forged = body.replace(account_b.wallet_id.encode(), fake_blink.platform_wallet_id.encode())
    status, answer = post_webhook(DEFAULT_URL, forged, SECRET)

    # then the acknowledgement does not call it handled (it is not this account's sale): the worker
    # records it as another account's, logged for an operator
    assert (status, answer["outcome"]) == (200, "queued")
    delivery = WebhookDelivery.objects.get(platform_account_id=None)
    assert _process(delivery.pk) == "ignored_other_account"


def test_each_endpoint_verifies_with_its_own_account_secrets_only(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    split = _sale(fake_blink, "bshop", account_b)
    body = paid_message(fake_blink, split, username=account_b.username)

    # B's secret on the default endpoint, and the default secret on B's endpoint: 401, nothing recorded
    assert post_webhook(DEFAULT_URL, body, account_b.secret)[0] == 401
    assert post_webhook(account_b.webhook_url, body, SECRET)[0] == 401
    # an endpoint nobody has: 404 before anything is read
    assert post_webhook("/webhooks/blink/not-a-token", body, account_b.secret)[0] == 404
    assert not WebhookDelivery.objects.exists()


def test_a_receive_on_another_wallet_is_ignored_at_the_endpoint(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given B's endpoint receiving, validly signed, a receive on the DEFAULT platform wallet
    split = _sale(fake_blink, "bshop", account_b)
    body = paid_message(fake_blink, split, username=account_b.username)
    body = body.replace(account_b.wallet_id.encode(), fake_blink.platform_wallet_id.encode())

    status, answer = post_webhook(account_b.webhook_url, body, account_b.secret)

    # then the view classifies it at once, queues no work, and the split stays pending
    assert (status, answer["outcome"]) == (200, "ignored_other_wallet")
    split.refresh_from_db()
    assert split.status == SplitStatus.PENDING


def test_a_rotated_secret_of_account_b_verifies_too(fake_blink: FakeBlink, account_b: SecondAccount) -> None:
    from payments.platform_accounts import webhook_secrets_of

    old, new = webhook_secrets_of(account_b.account)
    split = _sale(fake_blink, "bshop", account_b)
    body = paid_message(fake_blink, split, username=account_b.username)

    assert old == account_b.secret
    assert post_webhook(account_b.webhook_url, body, new)[1]["outcome"] == "queued"


def test_a_real_worker_forwards_account_b_sale_from_account_b(
    fake_blink: FakeBlink, account_b: SecondAccount, start_worker: Any
) -> None:
    # given a Celery worker process (its own provider clients, built from the database and settings)
    start_worker()
    split = _sale(fake_blink, "bshop", account_b)

    # when B's endpoint acknowledges Blink's webhook and publishes the delivery's task
    body = paid_message(fake_blink, split, username=account_b.username)
    assert post_webhook(account_b.webhook_url, body, account_b.secret)[1]["outcome"] == "queued"

    # then the worker forwards every leg from B's wallet
    assert wait_for(lambda: PaymentSplit.objects.get(pk=split.pk).status == SplitStatus.COMPLETED, timeout=30)
    assert_forwarded_by(fake_blink, split, wallet_id=account_b.wallet_id, not_by=fake_blink.platform_wallet_id)


@pytest.mark.parametrize(
    ("body", "signed", "status"),
    [
        (b'{"eventType": "receive.lightning"}', False, 401),  # no svix headers
        (b"not json at all", True, 400),  # signed junk is still junk
        (b'["a", "list"]', True, 400),  # JSON, not an object
    ],
)
def test_bad_deliveries_to_an_account_endpoint_are_refused_and_write_nothing(
    account_b: SecondAccount, body: bytes, signed: bool, status: int
) -> None:
    headers = sign(body, secret=account_b.secret) if signed else {"content-type": "application/json"}
    response = Client().post(account_b.webhook_url, data=body, content_type="application/json", headers=headers)

    assert response.status_code == status
    assert response.json()["error"]["code"]
    assert not WebhookDelivery.objects.exists()
