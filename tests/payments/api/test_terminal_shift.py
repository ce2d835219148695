"""Receipt links in the invoice status, and the terminal's own day: ``/terminal/sales`` and
``/terminal/summary`` (terminal keys only, this terminal only, strict query strings)."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from fakeblink import FakeBlink
from payments.models import LegStatus, PaymentSplit, PayoutState, Refund, RefundStatus, SplitStatus
from payments.services.refunds import RefundRequest, refund_create
from tests.factories import PaymentLegFactory, PaymentSplitFactory, TerminalFactory
from tests.payments.api.conftest import Shop

pytestmark = pytest.mark.django_db
SALES, SUMMARY = "/api/v1/terminal/sales", "/api/v1/terminal/summary"


def _sale(shop: Shop, *, terminal: Any = None, status: str = SplitStatus.COMPLETED, **kwargs: Any) -> PaymentSplit:
    paid = status in (SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.COMPLETED, SplitStatus.FAILED)
    return PaymentSplitFactory(
        merchant=shop.merchant,
        terminal=terminal or shop.terminal,
        status=status,
        paid_at=kwargs.pop("paid_at", timezone.now()) if paid else None,
        receipt_token=secrets.token_urlsafe(32),
        **kwargs,
    )


def _team_sale(shop: Shop, **kwargs: Any) -> PaymentSplit:
    split = _sale(shop, base_amount=10_000, tip_amount=1_500, **kwargs)
    PaymentLegFactory(split=split, amount=10_000, status=LegStatus.SUCCEEDED)
    for staff, amount in ((shop.alice, 900), (shop.bob, 600)):
        PaymentLegFactory(
            split=split,
            kind="tip",
            staff=staff,
            recipient_username=staff.blink_username,
            recipient_wallet_id=staff.wallet_id,
            amount=amount,
            status=LegStatus.SUCCEEDED,
        )
    return split


def test_paid_invoice_status_carries_the_receipt_links_and_the_preimage_is_kept(
    api: Client, shop: Shop, fake_blink: FakeBlink, django_capture_on_commit_callbacks: Any
) -> None:
    # given a team sale created by the terminal
    body = {"amount_sats": 10_000, "tip_sats": 1_500, "split_profile_id": shop.team.pk, "memo": "Table 4"}
    created = api.post("/api/v1/invoices", json.dumps(body), content_type="application/json", **shop.auth).json()
    assert created["receipt_url"] is None and created["receipt_escpos_url"] is None
    hash_ = created["payment_hash"]
    assert api.get(f"/api/v1/invoices/{hash_}", **shop.auth).json()["receipt_url"] is None

    # when the customer pays and the terminal's check finds it
    fake_blink.pay_invoice_as_customer(hash_)
    with django_capture_on_commit_callbacks(execute=True):  # the hot store is synced after the commit
        assert api.post(f"/api/v1/invoices/{hash_}/check", **shop.auth).json()["status"] == "paid"

    # then the status (served from the hot store) has the links, and the split the verified preimage
    status = api.get(f"/api/v1/invoices/{hash_}", **shop.auth).json()
    split = PaymentSplit.objects.get(payment_hash=hash_)
    assert status["receipt_url"] == f"/r/{split.receipt_token}/"
    assert status["receipt_escpos_url"] == f"/r/{split.receipt_token}/receipt.escpos"
    assert hashlib.sha256(bytes.fromhex(split.preimage)).hexdigest() == hash_
    page = Client().get(status["receipt_url"]).content.decode()
    assert split.preimage in page and "Table 4" in page and "11,500 sats" in page
    assert shop.alice.display_name in page and shop.bob.display_name in page


def test_sales_lists_this_terminals_day_only(api: Client, shop: Shop, other_shop: Shop) -> None:
    # given sales on this terminal, on a sibling terminal of the same merchant, another merchant's, yesterday's
    mine = [_team_sale(shop), _sale(shop, status=SplitStatus.PENDING)]
    sibling = _sale(shop, terminal=TerminalFactory(merchant=shop.merchant))
    foreign = _sale(other_shop)
    old = _sale(shop)
    PaymentSplit.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))

    # when
    response = api.get(SALES, **shop.auth)

    # then
    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["payment_hash"] for r in results} == {s.payment_hash for s in mine}
    for split in (sibling, foreign, old):
        assert split.payment_hash not in response.content.decode()
    by_hash = {r["payment_hash"]: r for r in results}
    assert by_hash[mine[0].payment_hash]["receipt_url"] == f"/r/{mine[0].receipt_token}/"
    assert by_hash[mine[1].payment_hash]["receipt_url"] is None  # not paid: no receipt
    assert response.json()["truncated"] is False
    only_pending = api.get(SALES, {"status": "pending"}, **shop.auth).json()["results"]
    assert [r["payment_hash"] for r in only_pending] == [mine[1].payment_hash]


def test_summary_counts_this_terminals_shift(api: Client, shop: Shop, other_shop: Shop) -> None:
    # given: two paid team sales, one open, one expired, one failed (stuck), one late in forwarding
    _team_sale(shop)
    _team_sale(shop)
    _sale(shop, status=SplitStatus.PENDING)
    _sale(shop, status=SplitStatus.EXPIRED)
    failed = _sale(shop, status=SplitStatus.FAILED, base_amount=100, tip_amount=0)
    late = _sale(shop, status=SplitStatus.PROCESSING, base_amount=200, tip_amount=0)
    PaymentSplit.objects.filter(pk=late.pk).update(paid_at=timezone.now() - timedelta(hours=1))
    _sale(shop, status=SplitStatus.PROCESSING, base_amount=300, tip_amount=0)  # just paid: not stuck
    _team_sale(other_shop)  # another merchant's terminal
    _team_sale(shop, terminal=TerminalFactory(merchant=shop.merchant))  # a sibling terminal

    # when
    body = api.get(SUMMARY, **shop.auth).json()

    # then
    assert body["sales_count"] == 5
    assert body["base_sats"] == 2 * 10_000 + 100 + 200 + 300
    assert body["tip_sats"] == 2 * 1_500
    assert body["total_sats"] == body["base_sats"] + body["tip_sats"]
    assert body["tips_by_staff"] == [
        {"name": shop.alice.display_name, "sats": 1_800, "count": 2},
        {"name": shop.bob.display_name, "sats": 1_200, "count": 2},
    ]
    assert (body["open_count"], body["abandoned_count"]) == (1, 1)
    assert {s["payment_hash"] for s in body["stuck"]} == {failed.payment_hash, late.payment_hash}
    assert body["refunds"] == {"count": 0, "sats": 0, "open_sats": 0, "awaiting_sats": 0}


def test_summary_counts_this_terminals_refunds_only(api: Client, shop: Shop) -> None:
    # given: a refund of this terminal's sale (paid out) and one of a sibling terminal's sale
    mine = _sale(shop, base_amount=1_000, tip_amount=0, received_amount=1_000)
    sibling = _sale(shop, terminal=TerminalFactory(merchant=shop.merchant), base_amount=1_000, tip_amount=0)
    paid = _refund(mine, 300)
    Refund.objects.filter(pk=paid.pk).update(status=RefundStatus.PAID, payout_state=PayoutState.SUCCEEDED)
    _refund(mine, 200)  # still waiting for the merchant's funding
    _refund(sibling, 400)

    refunds = api.get(SUMMARY, **shop.auth).json()["refunds"]

    assert refunds == {"count": 2, "sats": 300, "open_sats": 0, "awaiting_sats": 200}


def _refund(split: PaymentSplit, amount: int) -> Refund:
    return refund_create(
        merchant=split.merchant,
        payment_hash=split.payment_hash,
        request=RefundRequest(amount_sats=amount, tip_refunded=False, reason="wrong item"),
        requested_by="merchant:test",
    )


def test_summary_since_starts_the_shift(api: Client, shop: Shop) -> None:
    earlier = _team_sale(shop)
    PaymentSplit.objects.filter(pk=earlier.pk).update(created_at=timezone.now() - timedelta(hours=3))
    _team_sale(shop)
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert api.get(SUMMARY, {"since": since}, **shop.auth).json()["sales_count"] == 1


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (SALES, {"status": "shipped"}, "status"),
        (SALES, {"status": ""}, "status"),
        (SALES, {"terminal_id": "1"}, "terminal_id"),
        (SUMMARY, {"since": "yesterday"}, "since"),
        (SUMMARY, {"since": ""}, "since"),
        (SUMMARY, {"since": "2000-01-01T00:00:00Z"}, "since"),
        (SUMMARY, {"since": "2999-01-01T00:00:00Z"}, "since"),
        (SUMMARY, {"until": "2999-01-01T00:00:00Z"}, "until"),
    ],
)
def test_bad_query_is_400_naming_the_field(
    api: Client, shop: Shop, url: str, params: dict[str, str], field: str
) -> None:
    response = api.get(url, params, **shop.auth)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and field in error["fields"], error


@pytest.mark.parametrize("url", [SALES, SUMMARY])
def test_only_terminal_keys(api: Client, shop: Shop, url: str) -> None:
    assert api.get(url).status_code == 401
    assert api.get(url, HTTP_AUTHORIZATION="Api-Key bpos_00000000_wrong").status_code == 401
    owner = Client()
    owner.force_login(shop.merchant.user)
    refused = owner.get(url)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "terminal_key_required"
    assert api.post(url, **shop.auth).status_code == 405
