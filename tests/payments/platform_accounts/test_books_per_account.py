"""The books reconciliation per platform account (issue 21): each account's wallet history is walked,
matched to the sales made on that account and balanced on its own; findings name their account."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from fakeblink import FakeBlink
from payments.models import BooksDifference, BooksRun, BooksTransaction, Merchant, PaymentSplit, UnmatchedPayment
from payments.platform_accounts import provider_for
from payments.selectors import books_status
from payments.services.books import books_reconcile_accounts
from payments.services.detection import payment_detected
from payments.services.forwarding import forward_split
from payments.services.invoices import invoice_create
from tests.factories import MerchantFactory, StaffFactory
from tests.payments.platform_accounts.conftest import SecondAccount

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _judge_at_once(settings: Any) -> None:
    settings.BOOKS_SETTLE_SECONDS = 0
    settings.BOOKS_PAGE_SIZE = 3
    settings.BOOKS_HELD_SATS = 0


def _merchant(fake: FakeBlink, name: str, account: SecondAccount | None) -> Merchant:
    merchant = MerchantFactory(
        blink_username=f"{name}_owner",
        wallet_id=fake.add_account(f"{name}_owner"),
        platform_account=None if account is None else account.account,
    )
    StaffFactory(merchant=merchant, blink_username=f"{name}_tips", wallet_id=fake.add_account(f"{name}_tips"))
    return merchant


def _paid_sale(fake: FakeBlink, merchant: Merchant, amount: int) -> PaymentSplit:
    split = invoice_create(
        merchant=merchant, terminal=None, amount_sats=amount, tip_percent=Decimal("10"), staff=merchant.staff.get()
    )
    fake.pay_invoice_as_customer(split.payment_hash)
    assert payment_detected(payment_hash=split.payment_hash, amount_sats=split.total_amount, source="test") == "paid"
    assert forward_split(split_id=split.pk) == "completed"
    return split


def test_each_account_is_walked_matched_and_balanced_on_its_own(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given a sale on each account, both paid and forwarded
    on_a = _paid_sale(fake_blink, _merchant(fake_blink, "ashop", None), 1_000)
    on_b = _paid_sale(fake_blink, _merchant(fake_blink, "bshop", account_b), 2_000)
    # and money B's wallet received for no sale of ours (an invoice made on B outside BlinkPOS)
    stray = provider_for(account_id=account_b.account.pk).create_invoice(
        amount_sats=777, memo=None, expires_in_minutes=10, external_id="stray-1"
    )
    fake_blink.pay_invoice_as_customer(stray.payment_hash)

    # when the books run for every account
    results = books_reconcile_accounts()

    # then one complete run per account, each on its own wallet
    runs = {r.run.platform_account_id: r.run for r in results if not isinstance(r, Exception)}
    assert set(runs) == {None, account_b.account.pk}
    run_a, run_b = runs[None], runs[account_b.account.pk]
    assert run_a.balance_actual == run_a.balance_expected == fake_blink.balance(fake_blink.platform_wallet_id)
    assert run_b.balance_actual == run_b.balance_expected == fake_blink.balance(account_b.wallet_id)
    assert run_b.balance_parts["received"] == on_b.total_amount and run_b.balance_parts["unmatched"] == 777
    # each receive matched to the sale made on that account, in that account's mirror only
    a_receives = BooksTransaction.objects.filter(platform_account__isnull=True, direction="RECEIVE")
    assert {tx.split_id for tx in a_receives} == {on_a.pk}
    b_receives = BooksTransaction.objects.filter(platform_account=account_b.account, direction="RECEIVE")
    assert {tx.split_id for tx in b_receives} == {on_b.pk, None}

    # and the stray money is B's finding, not A's: A agrees to the sat
    assert run_a.ok and run_a.differences == 0
    assert not run_b.ok and run_b.by_kind == {"received_without_split": 1}
    difference = BooksDifference.objects.get()
    assert (difference.platform_account_id, difference.payment_hash) == (account_b.account.pk, stray.payment_hash)
    assert UnmatchedPayment.objects.get().platform_account_id == account_b.account.pk

    # and the metrics see both accounts: one difference in all, B's
    status = books_status()
    assert status["differences"] == 1
    assert status["accounts"]["default"]["differences"] == 0
    assert status["accounts"][str(account_b.account.pk)]["differences"] == 1


def test_a_run_of_one_account_does_not_close_another_accounts_differences(
    fake_blink: FakeBlink, account_b: SecondAccount
) -> None:
    # given B's stray receive found by a first pass
    stray = provider_for(account_id=account_b.account.pk).create_invoice(
        amount_sats=500, memo=None, expires_in_minutes=10, external_id="stray-2"
    )
    fake_blink.pay_invoice_as_customer(stray.payment_hash)
    books_reconcile_accounts()
    assert BooksDifference.objects.filter(status="open").count() == 1

    # when the accounts run again
    books_reconcile_accounts()

    # then B's difference is still the one open row (the default account's clean run left it alone)
    assert BooksDifference.objects.filter(status="open").count() == 1
    assert BooksRun.objects.filter(platform_account=account_b.account, status="complete").count() == 2
