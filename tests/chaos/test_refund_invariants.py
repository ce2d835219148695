"""The refunds' and tip-only payments' part of the soak's money invariants, judged on hand-made books:
a clean refund passes; a double payout debit, a refund beyond the sale, a refund stuck mid-payout, a
funding payment BlinkPOS never saw, money on the platform wallet nobody accounts for and a tip-only
split with a base are each caught."""

from __future__ import annotations

from typing import Any

from chaos.invariants import Books, check
from tests.chaos.test_checkers import H_SPLIT, P, _books

H_FUND, H_PAYOUT, H_OLD_PAYOUT = "d" * 64, "e" * 64, "f" * 64


def _refunded() -> tuple[Books, dict[str, Any]]:
    """The clean sale of test_checkers (110 sats, tip 10), refunded 50 sats with its tip, funded by the
    merchant and paid to the customer for a 1-sat routing fee."""
    books, ledger = _books()
    books.refunds = [
        {"id": 5, "split_id": 1, "status": "paid", "amount_sats": 50, "base_part_sats": 40, "tip_part_sats": 10,
         "tip_refunded": True, "funding_payment_hash": H_FUND, "payout_hash": H_PAYOUT, "payout_state": "succeeded",
         "payout_fee_sats": 1, "last_error_code": "", "last_error": ""},
    ]  # fmt: skip
    trail = [("refund_created", "", "awaiting_funding", None),
             ("refund_funded", "awaiting_funding", "funded", None),
             ("refund_payout_committed", "funded", "paying", H_PAYOUT),
             ("refund_paid", "paying", "paid", H_PAYOUT)]  # fmt: skip
    books.events += [
        {"id": 50 + i, "split_id": H_SPLIT, "leg_id": None, "event_type": t, "from_status": f, "to_status": to,
         "refund_id": "5", "payout_hash": payout}
        for i, (t, f, to, payout) in enumerate(trail)
    ]  # fmt: skip
    ledger["invoices"] += [{"payment_hash": H_FUND, "status": "PAID"}, {"payment_hash": H_PAYOUT, "status": "PAID"}]
    ledger["transactions"] += [
        {"wallet_id": P, "direction": "RECEIVE", "status": "SUCCESS", "amount": 50, "payment_hash": H_FUND},
        {"wallet_id": P, "direction": "SEND", "status": "SUCCESS", "amount": -51, "payment_hash": H_PAYOUT, "fee": 1},
    ]
    return books, ledger


def _failed(books: Books, ledger: dict[str, Any]) -> set[str]:
    return {r.name for r in check(books, ledger).results if not r.ok}


def _result(books: Books, ledger: dict[str, Any], name: str) -> Any:
    return next(r for r in check(books, ledger).results if r.name == name)


def test_a_clean_refund_passes_and_its_money_is_counted_in_both_ledgers() -> None:
    books, ledger = _refunded()

    assert _failed(books, ledger) == set()
    detail = _result(books, ledger, "ledgers_reconcile_to_the_sat").detail
    assert (detail["refund_funding_fake"], detail["refund_funding_pos"]) == (50, 50)
    assert (detail["refund_payouts_fake"], detail["refund_payouts_pos"]) == (51, 51)
    assert detail["unknown_platform_txs"] == 0
    assert _result(books, ledger, "refunds_within_sales").detail == {"paid": 1}


def test_paying_an_old_and_a_new_payout_invoice_of_one_refund_is_a_double_debit() -> None:
    books, ledger = _refunded()
    # the first claim's invoice (failed, re-opened) was paid after all, and so was the second
    books.events.insert(6, {"id": 49, "split_id": H_SPLIT, "leg_id": None, "event_type": "refund_payout_failed",
                            "from_status": "paying", "to_status": "funded", "refund_id": "5",
                            "payout_hash": H_OLD_PAYOUT})  # fmt: skip
    ledger["transactions"].append(
        {"wallet_id": P, "direction": "SEND", "status": "SUCCESS", "amount": -51, "payment_hash": H_OLD_PAYOUT}
    )

    assert {"at_most_one_debit_per_leg", "ledgers_reconcile_to_the_sat"} <= _failed(books, ledger)
    assert _result(books, ledger, "at_most_one_debit_per_leg").detail["refunds_over_debited"] == 1


def test_refunds_beyond_what_the_sale_received_are_caught() -> None:
    books, ledger = _refunded()
    second = dict(books.refunds[0], id=6, status="funded", amount_sats=70, base_part_sats=70, tip_part_sats=0,
                  tip_refunded=False, funding_payment_hash="9" * 64, payout_hash=None, payout_state="")  # fmt: skip
    books.refunds.append(second)
    ledger["transactions"].append(
        {"wallet_id": P, "direction": "RECEIVE", "status": "SUCCESS", "amount": 70, "payment_hash": "9" * 64}
    )

    assert _failed(books, ledger) == {"refunds_within_sales"}
    assert {"split": 1, "received": 110, "refunded": 120, "tip": 10} in _result(
        books, ledger, "refunds_within_sales"
    ).examples


def test_a_refund_whose_parts_do_not_add_up_is_caught() -> None:
    books, ledger = _refunded()
    books.refunds[0]["tip_refunded"] = False  # a tip part on a refund that keeps the tip

    assert _failed(books, ledger) == {"refunds_within_sales"}


def test_a_refund_mid_payout_is_stuck_unless_an_operator_was_told() -> None:
    books, ledger = _refunded()
    books.refunds[0].update(status="paying", payout_state="sending", payout_fee_sats=None)
    books.events.pop()
    ledger["transactions"].pop()

    assert _failed(books, ledger) == {"nothing_stuck"}
    books.refunds[0].update(payout_state="unknown", last_error_code="PAID_NOT_BY_US")
    assert _failed(books, ledger) == set()


def test_a_funding_payment_blinkpos_never_saw_is_stuck_and_unreconciled() -> None:
    books, ledger = _refunded()
    books.refunds[0].update(status="awaiting_funding", payout_hash=None, payout_state="", payout_fee_sats=None)
    del books.events[-3:]
    ledger["transactions"].pop()

    assert {"nothing_stuck", "ledgers_reconcile_to_the_sat"} <= _failed(books, ledger)


def test_money_on_the_platform_wallet_nobody_accounts_for_is_caught() -> None:
    books, ledger = _refunded()
    ledger["transactions"].append(
        {"wallet_id": P, "direction": "SEND", "status": "SUCCESS", "amount": -7, "payment_hash": "7" * 64}
    )

    assert _failed(books, ledger) == {"ledgers_reconcile_to_the_sat"}
    assert _result(books, ledger, "ledgers_reconcile_to_the_sat").detail["unknown_platform_txs"] == 1


def test_a_tip_only_split_must_be_all_tip() -> None:
    books, ledger = _books()
    books.splits[0].update(kind="tip_only", base_amount=0, tip_amount=110)
    assert _failed(books, ledger) == set()
    assert _result(books, ledger, "ledgers_reconcile_to_the_sat").detail["tip_only_splits"] == 1

    books.splits[0].update(base_amount=100, tip_amount=10)
    assert _failed(books, ledger) == {"ledgers_reconcile_to_the_sat"}
