"""The ledger's lookups by external id and by payment hash (indexed, so a long load run does not make
every create and status query slower) answer as the scans they replaced did."""

from __future__ import annotations

import pytest

from fakeblink import FakeBlink
from fakeblink.records import BlinkFailure


def test_an_external_id_is_unique_per_account_not_across_accounts(fake_blink: FakeBlink) -> None:
    ledger = fake_blink.ledger
    platform = ledger.wallets[fake_blink.platform_wallet_id]
    other = ledger.wallets[fake_blink.add_account("olga")]
    ledger.create_invoice(wallet=platform, amount=10, memo=None, external_id="sale-1", expires_in=None)

    with pytest.raises(BlinkFailure) as taken:
        ledger.create_invoice(wallet=platform, amount=20, memo=None, external_id="sale-1", expires_in=None)
    assert taken.value.code == "INVALID_INPUT" and "already exists" in taken.value.message
    ledger.create_invoice(wallet=other, amount=10, memo=None, external_id="sale-1", expires_in=None)
    ledger.create_invoice(wallet=platform, amount=10, memo=None, external_id="sale-2", expires_in=None)


def test_transactions_by_hash_are_per_wallet_newest_first_and_debits_count_sends(fake_blink: FakeBlink) -> None:
    ledger = fake_blink.ledger
    platform = ledger.wallets[fake_blink.platform_wallet_id]
    olga = ledger.wallets[fake_blink.add_account("olga")]
    payout = ledger.create_invoice(wallet=olga, amount=300, memo=None, external_id=None, expires_in=None)
    unrelated = ledger.create_invoice(wallet=olga, amount=5, memo=None, external_id=None, expires_in=None)

    assert ledger.transactions_for(platform.id, payout.payment_hash) == []
    ledger.pay_invoice(payer=platform, payment_request=payout.payment_request, memo=None)
    ledger.pay_invoice(payer=platform, payment_request=unrelated.payment_request, memo=None)
    status, again = ledger.pay_invoice(payer=platform, payment_request=payout.payment_request, memo=None)

    (send,) = ledger.transactions_for(platform.id, payout.payment_hash)
    (receive,) = ledger.transactions_for(olga.id, payout.payment_hash)
    assert (send.direction, send.amount, receive.direction, receive.amount) == ("SEND", -300, "RECEIVE", 300)
    assert (status, again) == ("ALREADY_PAID", send)
    assert ledger.debits_for(payout.payment_hash, platform.id) == 1
    assert ledger.debits_for(payout.payment_hash, olga.id) == 0
