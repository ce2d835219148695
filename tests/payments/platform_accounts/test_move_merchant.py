"""Moving a merchant to another platform account affects only new sales: a sale made before the move
is detected, forwarded, reconciled and cancelled on the account that created it (issue 21)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fakeblink import FakeBlink
from payments.models import Merchant, PaymentSplit, SplitStatus
from payments.services.forwarding import forward_split
from payments.services.invoice_cancel import invoice_cancel
from payments.services.invoices import invoice_create
from payments.services.platform_accounts import merchant_move_to_account
from payments.services.reconcile import reconcile_once
from tests.factories import MerchantFactory, StaffFactory
from tests.payments.platform_accounts.conftest import SecondAccount, assert_forwarded_by

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def merchant(fake_blink: FakeBlink) -> Merchant:
    merchant = MerchantFactory(blink_username="mover_owner", wallet_id=fake_blink.add_account("mover_owner"))
    StaffFactory(merchant=merchant, blink_username="mover_tips", wallet_id=fake_blink.add_account("mover_tips"))
    return merchant


def _sell(merchant: Merchant) -> PaymentSplit:
    merchant.refresh_from_db()
    return invoice_create(
        merchant=merchant,
        terminal=None,
        amount_sats=2000,
        tip_percent=Decimal("15"),
        staff=merchant.staff.get(),
    )


def _detect_and_forward(split: PaymentSplit) -> None:
    """No webhook: the reconciler's poll finds the payment on the split's own account."""
    reconcile_once(lease_seconds=0, stale_seconds=0)
    split.refresh_from_db()
    assert split.status in (SplitStatus.PAID, SplitStatus.PROCESSING, SplitStatus.COMPLETED), split.status
    forward_split(split_id=split.pk)


def test_a_sale_in_flight_when_the_merchant_moves_completes_on_its_own_account(
    fake_blink: FakeBlink, account_b: SecondAccount, merchant: Merchant
) -> None:
    # given a sale on the default account (A), then the merchant moved to account B
    before = _sell(merchant)
    merchant_move_to_account(merchant=merchant, account=account_b.account, actor="test")

    # when the merchant sells again
    after = _sell(merchant)

    # then the new sale is B's and the old one stays A's, at BlinkPOS and at Blink
    assert (before.platform_account_id, after.platform_account_id) == (None, account_b.account.pk)
    assert fake_blink.invoice(before.payment_hash)["wallet_id"] == fake_blink.platform_wallet_id
    assert fake_blink.invoice(after.payment_hash)["wallet_id"] == account_b.wallet_id

    # when the customer of the OLD sale pays it (no webhook: the reconciler polls A), and it is forwarded
    fake_blink.pay_invoice_as_customer(before.payment_hash)
    _detect_and_forward(before)

    # then account A paid every leg of it, B none
    assert_forwarded_by(fake_blink, before, wallet_id=fake_blink.platform_wallet_id, not_by=account_b.wallet_id)

    # and the new sale, paid, is found on B's wallet and forwarded by B
    fake_blink.pay_invoice_as_customer(after.payment_hash)
    _detect_and_forward(after)
    assert_forwarded_by(fake_blink, after, wallet_id=account_b.wallet_id, not_by=fake_blink.platform_wallet_id)


def test_cancelling_an_old_sale_after_a_move_cancels_it_on_its_own_account(
    fake_blink: FakeBlink, account_b: SecondAccount, merchant: Merchant
) -> None:
    # given a sale on B, then the merchant moved back to the default account
    merchant_move_to_account(merchant=merchant, account=account_b.account, actor="test")
    sale = _sell(merchant)
    merchant_move_to_account(merchant=merchant, account=None, actor="test")

    # when the cashier cancels it
    cancelled = invoice_cancel(split=PaymentSplit.objects.get(pk=sale.pk))

    # then B cancelled the invoice at Blink (A could not have: it is not A's invoice)
    assert cancelled.status == SplitStatus.CANCELLED
    invoice = fake_blink.invoice(sale.payment_hash)
    assert invoice is not None and invoice["cancelled"] is True
    assert cancelled.events.filter(event_type="cancelled").get().event_data["cancelled_at_provider"] is True


def test_a_merchant_cannot_be_moved_to_an_inactive_account(account_b: SecondAccount, merchant: Merchant) -> None:
    from django.core.exceptions import ValidationError

    account_b.account.is_active = False
    account_b.account.save()

    with pytest.raises(ValidationError) as refused:
        merchant_move_to_account(merchant=merchant, account=account_b.account, actor="test")

    assert "platform_account" in refused.value.message_dict
    merchant.refresh_from_db()
    assert merchant.platform_account_id is None
