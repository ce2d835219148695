"""The soak's judges judged: the invariant checker catches a double debit, a stuck leg, an illegal
transition and a sat gone missing; the secret scanner catches keys, preimages, bolt11 and Celery
messages with non-id arguments, and leaves payment hashes alone."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

from chaos.invariants import Books, check
from chaos.secrets_scan import SecretScanner

P, R = "platform-wallet", "recipient-wallet"
H_SPLIT, H_LEG, H_OLD = "a" * 64, "b" * 64, "c" * 64


def _books() -> tuple[Books, dict[str, Any]]:
    split = {"id": 1, "payment_hash": H_SPLIT, "status": "completed", "total_amount": 110, "base_amount": 100,
             "tip_amount": 10, "received_amount": 110, "error_message": ""}  # fmt: skip
    legs = [
        {"id": 1, "split_id": 1, "status": "succeeded", "amount": 110, "payment_hash": H_LEG, "recipient_wallet_id": R,
         "last_error_code": "", "last_error": "", "resolution_note": ""},
    ]  # fmt: skip
    trail = [("created", "", "pending", None), ("paid", "pending", "paid", None),
             ("forwarding_started", "paid", "processing", None), ("leg_invoice_created", "planned", "invoice_ready", 1),
             ("leg_sent", "invoice_ready", "sending", 1), ("leg_succeeded", "sending", "succeeded", 1),
             ("forwarding_completed", "processing", "completed", None),
             ("completed", "processing", "completed", None)]  # fmt: skip
    events = [
        {"id": i, "split_id": H_SPLIT, "leg_id": leg, "event_type": t, "from_status": f, "to_status": to}
        for i, (t, f, to, leg) in enumerate(trail, 1)
    ]
    ledger = {
        "platform": {"wallet_id": P},
        "invoices": [{"payment_hash": H_SPLIT, "status": "PAID"}, {"payment_hash": H_LEG, "status": "PAID"}],
        "transactions": [
            {"wallet_id": P, "direction": "RECEIVE", "status": "SUCCESS", "amount": 110, "payment_hash": H_SPLIT},
            {"wallet_id": P, "direction": "SEND", "status": "SUCCESS", "amount": -110, "payment_hash": H_LEG},
        ],
    }
    return Books(splits=[split], legs=legs, events=events, unmatched=[]), ledger


def _failed(books: Books, ledger: dict[str, Any]) -> set[str]:
    return {r.name for r in check(books, ledger).results if not r.ok}


def test_a_clean_sale_passes_every_invariant() -> None:
    assert _failed(*_books()) == set()


def test_a_second_debit_fails_the_debit_and_ledger_invariants() -> None:
    books, ledger = _books()
    ledger["transactions"].append(copy.deepcopy(ledger["transactions"][1]))
    assert {"at_most_one_debit_per_leg", "ledgers_reconcile_to_the_sat"} <= _failed(books, ledger)


def _with_replaced_payout_invoice() -> tuple[Books, dict[str, Any]]:
    """The leg's first payout invoice (H_OLD) expired unpaid after a failed send and was replaced by
    H_LEG, which was paid: two ``leg_invoice_created`` events, one debit."""
    books, ledger = _books()
    first = {"id": 90, "split_id": H_SPLIT, "leg_id": 1, "event_type": "leg_invoice_created",
             "from_status": "planned", "to_status": "invoice_ready", "payout_hash": H_OLD}  # fmt: skip
    books.events[3]["payout_hash"] = H_LEG
    replaced = [("leg_sent", "invoice_ready", "sending"), ("leg_failed", "sending", "failed"),
                ("leg_retry", "failed", "planned")]  # fmt: skip
    books.events[3:3] = [first] + [
        {"id": 91 + i, "split_id": H_SPLIT, "leg_id": 1, "event_type": t, "from_status": f, "to_status": to}
        for i, (t, f, to) in enumerate(replaced)
    ]
    ledger["invoices"].append({"payment_hash": H_OLD, "status": "EXPIRED"})
    return books, ledger


def test_a_replaced_payout_invoice_still_counts_one_debit() -> None:
    # given a leg whose expired payout invoice was replaced, and only the replacement paid
    books, ledger = _with_replaced_payout_invoice()

    # when the books are checked, then every invariant holds
    assert _failed(books, ledger) == set()


def test_paying_the_old_and_the_new_payout_invoice_of_one_leg_is_a_double_debit() -> None:
    # given the same leg, but the old invoice was paid as well (the double payment the current hash alone
    # cannot see: the leg's payment_hash is the new invoice, which was paid once)
    books, ledger = _with_replaced_payout_invoice()
    ledger["transactions"].append(
        {"wallet_id": P, "direction": "SEND", "status": "SUCCESS", "amount": -110, "payment_hash": H_OLD}
    )

    # when the books are checked, then the leg's debits are two and the sats do not reconcile
    report = check(books, ledger)
    failed = {r.name for r in report.results if not r.ok}
    assert {"at_most_one_debit_per_leg", "ledgers_reconcile_to_the_sat"} <= failed
    debit = next(r for r in report.results if r.name == "at_most_one_debit_per_leg")
    assert debit.detail == {"over_debited": 1, "refunds_over_debited": 0}
    assert {"leg": 1, "debits": 2, "invoices": 2} in debit.examples


def test_a_leg_left_unknown_is_stuck_and_the_split_not_completed() -> None:
    books, ledger = _books()
    books.splits[0]["status"] = "processing"
    books.legs[0]["status"] = "unknown"
    ledger["transactions"].pop()
    assert {"nothing_stuck", "paid_splits_completed_exactly_once"} <= _failed(books, ledger)


def test_an_illegal_or_broken_trail_is_caught() -> None:
    books, ledger = _books()
    books.events.append({"id": 99, "split_id": H_SPLIT, "leg_id": None, "event_type": "paid",
                         "from_status": "completed", "to_status": "paid"})  # fmt: skip
    assert _failed(books, ledger) == {"only_legal_transitions"}
    books, ledger = _books()
    books.events[2]["from_status"] = "pending"  # pending -> processing skipped "paid"
    assert "only_legal_transitions" in _failed(books, ledger)


def test_a_paid_invoice_blinkpos_never_saw_is_stuck() -> None:
    books, ledger = _books()
    books.splits[0]["status"] = "pending"
    assert "nothing_stuck" in _failed(books, ledger)


def test_the_scanner_finds_secrets_but_not_payment_hashes() -> None:
    preimage = "c" * 64
    scanner = SecretScanner(known={"fernet": ["Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo="]}, preimages=[preimage])
    scanner.scan_text("log", json.dumps({"event": "ok", "payment_hash": H_SPLIT, "amount": 5}))
    assert scanner.result.ok
    for line in (
        "key Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo= leaked",
        f"preimage {preimage}",
        "Authorization: Api-Key bpos_0a1b2c3d_abcdefghijklmnopqrstuv",
        "pr=lnbc11000n1p" + "qpzry9x8gf2tvdw0s3jn54khce6mua7l" * 3,
        "BLINK_API_KEY=blink_0123456789abcdef0123",
    ):
        scanner.scan_text("log", line)
    kinds = sorted(f.kind for f in scanner.result.findings)
    assert kinds == ["blink_api_key", "bolt11", "known:fernet", "preimage", "terminal_api_key"]


def test_the_scanner_decodes_celery_messages_and_checks_ids_only() -> None:
    scanner = SecretScanner(known={}, preimages=[])

    def message(args: list[Any], task_id: str) -> str:
        body = base64.b64encode(json.dumps([args, {}, {}]).encode()).decode()
        return json.dumps({"body": body, "headers": {"task": "t", "id": task_id},
                           "properties": {"body_encoding": "base64"}})  # fmt: skip

    scanner._maybe_celery(message([42], "1"), "celery")
    assert scanner.result.ok and scanner.result.celery_messages == 1
    scanner._maybe_celery(message(["lnbc11000n1p" + "q" * 80], "2"), "celery")
    assert not scanner.result.ok
    assert scanner.result.celery_non_id_args and scanner.result.findings[0].kind == "bolt11"


def test_a_refunds_trail_is_judged_as_a_refund_not_as_its_sale() -> None:
    # given a completed sale whose refund went awaiting_funding -> funded -> paying -> paid on its trail
    books, ledger = _books()
    refund_trail = [("refund_created", "", "awaiting_funding"), ("refund_funded", "awaiting_funding", "funded"),
                    ("refund_payout_committed", "funded", "paying"), ("refund_paid", "paying", "paid")]  # fmt: skip
    for i, (t, f, to) in enumerate(refund_trail, 50):
        books.events.append({"id": i, "split_id": H_SPLIT, "leg_id": None, "event_type": t, "from_status": f,
                             "to_status": to, "refund_id": "7"})  # fmt: skip
    assert "only_legal_transitions" not in _failed(books, ledger)

    # and a refund going from paid back to funded is illegal
    books.events.append({"id": 90, "split_id": H_SPLIT, "leg_id": None, "event_type": "refund_payout_failed",
                         "from_status": "paid", "to_status": "funded", "refund_id": "7"})  # fmt: skip
    assert "only_legal_transitions" in _failed(books, ledger)
