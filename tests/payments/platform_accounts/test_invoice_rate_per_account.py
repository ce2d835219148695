"""The invoice-creation limit is per platform account (issue 21): BlinkPOS counts each account's
creations like Blink does and answers the one past Blink's limit with a clean 429 before Blink would
block the account; a block Blink imposes anyway stops that account's merchants only. The fake Blink
runs with Blink's limits on and counts each API key's account separately."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django_redis import get_redis_connection

from analytics.services.metrics import alerts_evaluate, metrics_collect
from fakeblink import FakeBlink
from payments.models import IdempotencyRecord, Merchant, PaymentSplit
from payments.provider_limits import invoice_block_key, invoice_rate_key, limit_status
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.invoices import invoice_create
from tests.factories import MerchantFactory, TerminalFactory
from tests.payments.platform_accounts.conftest import SecondAccount

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/invoices"


def _terminal_key(fake: FakeBlink, name: str, account: SecondAccount | None) -> tuple[Merchant, str]:
    merchant = MerchantFactory(
        blink_username=f"{name}_owner",
        wallet_id=fake.add_account(f"{name}_owner"),
        platform_account=None if account is None else account.account,
    )
    return merchant, TerminalFactory(merchant=merchant).plain_key


def _create(key: str, **headers: str) -> Any:
    return Client().post(
        URL,
        data=json.dumps({"amount_sats": 100}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        **headers,
    )


def _creates_at_blink(fake: FakeBlink) -> int:
    return sum("lnInvoiceCreate" in r["operations"] for r in fake.requests())


def test_the_account_past_its_limit_gets_a_429_before_blink_and_the_other_account_keeps_selling(
    fake_blink: FakeBlink, account_b: SecondAccount, settings: Any
) -> None:
    # given Blink's limits at the fake (60 a minute per account, then blocked) and BlinkPOS counting the same
    fake_blink.configure_limits({"invoice_rate": {}}, reset_counters=True)
    settings.BLINK_INVOICE_RATE_POINTS = 60
    a_merchant, a_key = _terminal_key(fake_blink, "shopa", None)
    _b_merchant, b_key = _terminal_key(fake_blink, "shopb", account_b)
    for n in range(60):
        assert _create(a_key, HTTP_IDEMPOTENCY_KEY=f"a-{n}").status_code == 201

    # when account A's merchant makes a 61st sale within the minute
    asked = _creates_at_blink(fake_blink)
    refused = _create(a_key, HTTP_IDEMPOTENCY_KEY="a-60")

    # then a clean 429 naming the wait (the rest of the window), nothing written, Blink not asked, and
    # Blink never blocked account A
    assert refused.status_code == 429, refused.content
    assert refused.json()["error"]["code"] == "provider_rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert _creates_at_blink(fake_blink) == asked
    assert PaymentSplit.objects.filter(merchant=a_merchant).count() == 60
    assert not IdempotencyRecord.objects.filter(key="a-60").exists()
    assert fake_blink.limits_state()["invoice_windows"][fake_blink.platform.id]["blocked_until"] is None

    # and account B's merchants keep selling: their own count, their own window at Blink
    for n in range(5):
        assert _create(b_key, HTTP_IDEMPOTENCY_KEY=f"b-{n}").status_code == 201
    assert PaymentSplit.objects.filter(platform_account=account_b.account).count() == 5


def test_a_block_blink_imposes_on_one_account_stops_only_that_accounts_merchants(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given Blink allowing 2 invoices per account per minute, lower than BlinkPOS was told
    fake_blink.configure_limits({"invoice_rate": {"points": 2}}, reset_counters=True)
    _a, a_key = _terminal_key(fake_blink, "shopa", None)
    _b, b_key = _terminal_key(fake_blink, "shopb", account_b)
    assert [_create(b_key).status_code for _ in range(2)] == [201, 201]

    # when B's third create is refused by Blink (TOO_MANY_REQUEST: B is blocked for 300 s)
    blocked = _create(b_key)

    # then a 429 with Blink's block, remembered for B only
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "provider_rate_limited"
    assert 290 <= int(blocked["Retry-After"]) <= 300
    redis = get_redis_connection("default")
    assert redis.exists(invoice_block_key(account_b.account.pk))
    assert not redis.exists(invoice_block_key(None))

    # and B is refused without asking Blink again, while the default account's merchants sell
    asked = _creates_at_blink(fake_blink)
    assert _create(b_key).status_code == 429
    assert _creates_at_blink(fake_blink) == asked
    assert _create(a_key).status_code == 201


def test_an_account_whose_limit_blink_raised_counts_to_its_own_figure(
    fake_blink: FakeBlink, account_b: SecondAccount, settings: Any
) -> None:
    # given the default limit of 3 and account B's raised to 5 (the operator recorded Blink's raise)
    settings.BLINK_INVOICE_RATE_POINTS = 3
    account_b.account.invoice_rate_points = 5
    account_b.account.save()
    _a, a_key = _terminal_key(fake_blink, "shopa", None)
    _b, b_key = _terminal_key(fake_blink, "shopb", account_b)

    statuses_a = [_create(a_key).status_code for _ in range(4)]
    statuses_b = [_create(b_key).status_code for _ in range(6)]

    assert statuses_a == [201, 201, 201, 429]
    assert statuses_b == [201] * 5 + [429]
    assert get_redis_connection("default").ttl(invoice_rate_key(account_b.account.pk)) <= 61


def test_an_inactive_account_refuses_new_sales_with_503_and_writes_nothing(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    account_b.account.is_active = False
    account_b.account.save()
    _b, b_key = _terminal_key(fake_blink, "shopb", account_b)

    response = _create(b_key, HTTP_IDEMPOTENCY_KEY="off")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "platform_account_inactive"
    assert not PaymentSplit.objects.exists() and not IdempotencyRecord.objects.exists()
    assert _creates_at_blink(fake_blink) == 0


def test_forwards_held_by_one_accounts_daily_limit_are_reported_under_that_account(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given B's daily intraledger volume used up at Blink, and a paid sale on B
    merchant, _key = _terminal_key(fake_blink, "shopb", account_b)
    split = invoice_create(merchant=merchant, terminal=None, amount_sats=5_000, tip_percent=Decimal("0"))
    fake_blink.pay_invoice_as_customer(split.payment_hash)
    payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test")
    fake_blink.configure_limits({"intraledger_daily_cents": 0}, reset_counters=True)

    # when it is forwarded, Blink refuses the send (TRANSACTION_RESTRICTED) and the leg waits
    forward_split(split_id=split.pk)

    # then the wait is B's, and the alert names B
    assert limit_status().limited_legs_by_account == {str(account_b.account.pk): 1}
    alert = next(a for a in alerts_evaluate(metrics_collect()) if a.name == "forwards_waiting_for_daily_limit")
    assert f"{account_b.account.pk} (1)" in alert.message
