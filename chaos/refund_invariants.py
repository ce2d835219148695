"""The refunds' part of the money invariants (``chaos.invariants.check`` calls it), from the books alone.

A refund is merchant-funded (docs/ARCHITECTURE.md, Refunds): its funding invoice brings ``amount_sats``
onto the platform wallet, its payout sends them (plus the routing fee) to the customer. So, per refund:

- the fake received its funding exactly when BlinkPOS counts it funded, to the sat;
- at most one payout debit over every payout invoice ever committed for it (exactly one when paid),
  costing the amount plus the fee BlinkPOS recorded; none while it waits for a claim or an operator;
- its parts add up (base + tip = amount, tip only when the tip is refunded, within the sale's tip), and
  a sale's refunds never exceed what the sale received;
- it ends final (paid, expired, cancelled), waiting on a person (funded: the customer's claim), or
  operator-visible (failed, or a payout ``unknown`` with a reason): never mid-flight.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_EXAMPLES = 10
FUNDED = frozenset({"funded", "paying", "paid", "failed"})
ACTIVE = FUNDED | {"awaiting_funding"}

Debits = Callable[[list[Mapping[str, Any]]], tuple[int, int]]


@dataclass
class RefundMoney:
    """What the refunds moved on the platform wallet, by both ledgers, and the refunds' own faults."""

    hashes: set[str] = field(default_factory=set)  # funding and payout hashes: known money
    funded_fake: int = 0
    funded_pos: int = 0
    paid_fake: int = 0
    paid_pos: int = 0
    over_debited: int = 0
    debit_bad: list[Any] = field(default_factory=list)
    ledger_bad: list[Any] = field(default_factory=list)
    stuck: list[Any] = field(default_factory=list)
    ceiling_bad: list[Any] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def held(self) -> int:
        """Funded and not (yet) paid out: the customers' money the platform holds, each with a refund row."""
        return self.funded_pos - self.paid_pos

    def ledger_detail(self) -> dict[str, int]:
        return {
            "refund_funding_fake": self.funded_fake,
            "refund_funding_pos": self.funded_pos,
            "refund_payouts_fake": self.paid_fake,
            "refund_payouts_pos": self.paid_pos,
            "held_for_refunds": self.held,
        }


def payout_hashes_by_refund(events: list[Mapping[str, Any]], refunds: list[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Every payout invoice committed per refund (a failed payout re-opens the claim for a new one)."""
    hashes: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("refund_id") and event.get("payout_hash"):
            hashes[str(event["refund_id"])].add(str(event["payout_hash"]))
    for refund in refunds:
        if refund["payout_hash"]:
            hashes[str(refund["id"])].add(refund["payout_hash"])
    return hashes


def refund_money(
    *,
    refunds: list[Mapping[str, Any]],
    splits: list[Mapping[str, Any]],
    events: list[Mapping[str, Any]],
    invoices: Mapping[str, Mapping[str, Any]],
    platform_txs: Mapping[str, list[Mapping[str, Any]]],
    net_debits: Debits,
) -> RefundMoney:
    money = RefundMoney()
    payouts = payout_hashes_by_refund(events, refunds)
    by_split: dict[int, list[Mapping[str, Any]]] = defaultdict(list)
    for refund in refunds:
        by_split[refund["split_id"]].append(refund)
        money.statuses[refund["status"]] += 1
        rid, status, amount = refund["id"], refund["status"], refund["amount_sats"]
        funding = refund["funding_payment_hash"]
        money.hashes.add(funding)
        money.hashes.update(payouts.get(str(rid), ()))
        fake_in = sum(int(t["amount"]) for t in platform_txs.get(funding, []) if t["direction"] == "RECEIVE")
        pos_in = amount if status in FUNDED else 0
        money.funded_fake += fake_in
        money.funded_pos += pos_in
        if fake_in != pos_in:
            money.ledger_bad.append({"refund": rid, "status": status, "funding_fake": fake_in, "funding_pos": pos_in})
        counts = [net_debits(list(platform_txs.get(h, []))) for h in payouts.get(str(rid), ())]
        debits, sats = sum(c for c, _ in counts), sum(s for _, s in counts)
        if debits > 1:
            money.over_debited += 1
            money.debit_bad.append({"refund": rid, "debits": debits, "invoices": len(payouts[str(rid)])})
        if status == "paid":
            cost = amount + (refund["payout_fee_sats"] or 0)
            money.paid_fake += sats
            money.paid_pos += cost
            if debits != 1:
                money.debit_bad.append({"refund": rid, "status": "paid", "debits": debits})
            if sats != cost:
                money.ledger_bad.append({"refund": rid, "cost": cost, "fake_sent": sats})
        elif status != "paying" and (debits or sats):
            money.ledger_bad.append({"refund": rid, "status": status, "fake_sent": sats, "problem": "sent, not paid"})
        if refund["base_part_sats"] + refund["tip_part_sats"] != amount or (
            refund["tip_part_sats"] and not refund["tip_refunded"]
        ):
            parts = {
                "base": refund["base_part_sats"],
                "tip": refund["tip_part_sats"],
                "tip_refunded": refund["tip_refunded"],
            }
            money.ceiling_bad.append({"refund": rid, "amount": amount, **parts})
        operator_visible = status == "failed" or (refund["payout_state"] == "unknown" and refund["last_error_code"])
        funding_paid = invoices.get(funding, {}).get("status") == "PAID"
        if (status == "paying" and not operator_visible) or (status == "awaiting_funding" and funding_paid):
            money.stuck.append({"refund": rid, "status": status, "payout_state": refund["payout_state"]})
        if status == "failed" and not (refund["last_error_code"] or refund["last_error"]):
            money.stuck.append({"refund": rid, "status": status, "reason": "none recorded"})
    for split in splits:
        active = [r for r in by_split.get(split["id"], ()) if r["status"] in ACTIVE]
        received = split["received_amount"] if split["received_amount"] is not None else split["total_amount"]
        refunded, tip = sum(r["amount_sats"] for r in active), sum(r["tip_part_sats"] for r in active)
        if active and (refunded > received or tip > split["tip_amount"]):
            money.ceiling_bad.append({"split": split["id"], "received": received, "refunded": refunded, "tip": tip})
    return money
