"""The money invariants, checked from the books alone: BlinkPOS's PostgreSQL and the fake Blink's ledger.

``load_books()`` reads PostgreSQL (Django ORM, so it runs in the test process and in the soak's
Django-configured helper); ``ledger`` is ``FakeBlink.dump()`` (or ``GET /control/ledger``).
``check()`` is pure: it returns one ``Result`` per invariant with counts and the first offenders.

1. every paid split completed exactly once (or failed with a reason an operator sees);
2. at most one debit per leg at the fake (exactly one for a succeeded leg), counted over every payout
   invoice ever committed for the leg (``leg_invoice_created`` events), not only its current one; the
   same for each refund's payout;
3. every sat received is forwarded or owed with a reason: fake ledger and BlinkPOS ledger agree to the sat,
   refunds' funding and payouts included, every platform transaction is known money (a sale, a payout,
   a refund's funding or payout) and a tip-only split's legs carry its whole amount (base 0);
4. nothing stuck: no split paid/processing, no leg in flight, no paid invoice left undetected, no refund
   mid-payout or funded-but-undetected (``chaos.refund_invariants``);
5. only legal transitions, and each entity's trail is a chain (one event's ``to`` is the next ``from``);
6. refunds within their sales: a sale's refunds never exceed what it received, each refund's parts add up.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models.fields.json import KeyTextTransform

from chaos.refund_invariants import refund_money
from payments.models import PaymentEvent, PaymentLeg, PaymentSplit, Refund, UnmatchedPayment
from payments.services.refund_transitions import REFUND_TRANSITIONS
from payments.services.transitions import LEG_TRANSITIONS, SPLIT_TRANSITIONS

MAX_EXAMPLES = 10
IN_FLIGHT_LEG = frozenset({"invoice_ready", "sending", "pending", "unknown"})
STUCK_SPLIT = frozenset({"paid", "processing"})
# Final states a paid split may end in: completed, or failed with a reason (a leg needs an operator).
PAID_STATES = frozenset({"paid", "processing", "completed", "failed"})


@dataclass
class Books:
    splits: list[Any]  # rows as dicts (``.values()``)
    legs: list[Any]
    events: list[Any]
    unmatched: list[Any]
    refunds: list[Any] = field(default_factory=list)


@dataclass
class Result:
    name: str
    ok: bool
    checked: int
    detail: dict[str, Any] = field(default_factory=dict)
    examples: list[Any] = field(default_factory=list)


@dataclass
class Report:
    results: list[Result]
    totals: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "totals": self.totals, "invariants": [asdict(r) for r in self.results]}

    def lines(self) -> list[str]:
        out = []
        for r in self.results:
            mark = "PASS" if r.ok else "FAIL"
            extra = ", ".join(f"{k}={v}" for k, v in r.detail.items())
            out.append(f"  [{mark}] {r.name}: checked {r.checked}{'; ' + extra if extra else ''}")
            for example in r.examples[:3]:
                out.append(f"         e.g. {example}")
        return out


def load_books(*, split_ids: Iterable[int] | None = None) -> Books:
    """Splits, legs, events and unmatched payments as ONE consistent snapshot.

    The stack may still be forwarding while the books are read; separate reads would then pair a split
    read before a transition with events read after it and report violations that never happened.
    REPEATABLE READ gives every query below the same snapshot.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _read_books(split_ids)


def _read_books(split_ids: Iterable[int] | None) -> Books:
    splits_qs = PaymentSplit.objects.all()
    if split_ids is not None:
        splits_qs = splits_qs.filter(pk__in=list(split_ids))
    splits = list(
        splits_qs.values(
            "id", "payment_hash", "status", "total_amount", "base_amount", "tip_amount", "received_amount",
            "error_message", "kind",
        )
    )  # fmt: skip
    ids = [s["id"] for s in splits]
    hashes = [s["payment_hash"] for s in splits]
    legs = list(
        PaymentLeg.objects.filter(split_id__in=ids).values(
            "id", "split_id", "status", "amount", "payment_hash", "recipient_wallet_id", "last_error_code",
            "last_error", "resolution_note", "payout_amount", "fee_sats", "fee_reimbursed_sats", "route_kind",
        )
    )  # fmt: skip
    events = list(
        PaymentEvent.objects.filter(split_id__in=hashes)
        .order_by("id")
        .values("id", "split_id", "leg_id", "event_type", "from_status", "to_status")
        # The payout invoice a leg_invoice_created event committed (None for every other event).
        .annotate(payout_hash=KeyTextTransform("payout_hash", "event_data"))
        # A refund's events ride on its sale's trail; their statuses are the refund's (REFUND_TRANSITIONS).
        .annotate(refund_id=KeyTextTransform("refund_id", "event_data"))
    )
    unmatched = list(UnmatchedPayment.objects.values())
    refunds = list(
        Refund.objects.filter(split_id__in=ids).values(
            "id", "split_id", "status", "amount_sats", "base_part_sats", "tip_part_sats", "tip_refunded",
            "funding_payment_hash", "payout_hash", "payout_state", "payout_fee_sats", "last_error_code", "last_error",
        )
    )  # fmt: skip
    return Books(splits=splits, legs=legs, events=events, unmatched=unmatched, refunds=refunds)


def _net_debits(txs: list[Mapping[str, Any]]) -> tuple[int, int]:
    """(debits, sats) a payout invoice cost the platform: successful sends minus refunds. A RECEIVE no
    larger than a send's fee is the unused routing fee Blink returns after an outside payment: it
    lowers the sats, it is not a refund of the send (payments/wallet/mapping.py)."""
    sends = [t for t in txs if t["direction"] == "SEND" and t["status"] in ("SUCCESS", "PENDING")]
    max_fee = max((int(t.get("fee") or 0) for t in sends), default=0)
    receives = [t for t in txs if t["direction"] == "RECEIVE"]
    refunds = [t for t in receives if not 0 < int(t["amount"]) <= max_fee]
    fee_back = sum(int(t["amount"]) for t in receives if 0 < int(t["amount"]) <= max_fee)
    count = len(sends) - len(refunds)
    sats = -sum(int(t["amount"]) for t in sends) - sum(int(t["amount"]) for t in refunds) - fee_back
    return count, sats


def payout_hashes_by_leg(books: Books) -> dict[Any, set[str]]:
    """Every payout invoice ever committed per leg: the hash each ``leg_invoice_created`` event records
    (an expired invoice is replaced by a new one) plus the leg's current hash. A leg's debits are
    counted over all of them, so paying both an old invoice and its replacement is seen as two."""
    hashes: dict[Any, set[str]] = defaultdict(set)
    for event in books.events:
        if event["event_type"] == "leg_invoice_created" and event.get("payout_hash") and event["leg_id"]:
            hashes[event["leg_id"]].add(event["payout_hash"])
    for leg in books.legs:
        if leg["payment_hash"]:
            hashes[leg["id"]].add(leg["payment_hash"])
    return hashes


def check(books: Books, ledger: Mapping[str, Any]) -> Report:
    platform_wallet = ledger["platform"]["wallet_id"]
    invoices = {i["payment_hash"]: i for i in ledger["invoices"]}
    platform_txs: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for tx in ledger["transactions"]:
        if tx["wallet_id"] == platform_wallet:
            platform_txs[tx["payment_hash"]].append(tx)
    legs_by_split: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for leg in books.legs:
        legs_by_split[leg["split_id"]].append(leg)
    events_by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in books.events:
        events_by_split[event["split_id"]].append(event)

    def paid_at_fake(split: Mapping[str, Any]) -> bool:
        invoice = invoices.get(split["payment_hash"])
        return invoice is not None and invoice["status"] == "PAID"

    results: list[Result] = []
    refunds = refund_money(
        refunds=books.refunds, splits=books.splits, events=books.events, invoices=invoices,
        platform_txs=platform_txs, net_debits=_net_debits,
    )  # fmt: skip

    # 1. completed exactly once
    bad: list[Any] = []
    statuses: Counter[str] = Counter()
    paid = [s for s in books.splits if paid_at_fake(s)]
    for split in paid:
        statuses[split["status"]] += 1
        kinds = Counter(e["event_type"] for e in events_by_split[split["payment_hash"]])
        if split["status"] == "completed":
            if kinds["completed"] != 1 or kinds["forwarding_completed"] != 1:
                bad.append({"split": split["id"], "completed_events": kinds["completed"]})
        elif split["status"] == "failed":
            if not split["error_message"]:
                bad.append({"split": split["id"], "status": "failed", "reason": "none recorded"})
        else:
            bad.append({"split": split["id"], "status": split["status"]})
    for split in books.splits:
        if not paid_at_fake(split) and split["status"] in PAID_STATES:
            bad.append({"split": split["id"], "status": split["status"], "problem": "paid in BlinkPOS, not at Blink"})
    results.append(Result("paid_splits_completed_exactly_once", not bad, len(paid), dict(statuses), bad[:MAX_EXAMPLES]))

    # 2. at most one debit per leg, over every payout invoice ever committed for it
    payout_hashes = payout_hashes_by_leg(books)

    def leg_debits(leg: Mapping[str, Any]) -> tuple[int, int]:
        counts = [_net_debits(platform_txs.get(h, [])) for h in payout_hashes.get(leg["id"], ())]
        return sum(c for c, _ in counts), sum(s for _, s in counts)

    bad = []
    multi = 0
    for leg in books.legs:
        if not payout_hashes.get(leg["id"]):
            continue
        debits, _ = leg_debits(leg)
        expected_max = 1
        if debits > expected_max:
            multi += 1
            bad.append({"leg": leg["id"], "debits": debits, "invoices": len(payout_hashes[leg["id"]])})
        if leg["status"] == "succeeded" and debits != 1:
            bad.append({"leg": leg["id"], "status": "succeeded", "debits": debits})
    bad += refunds.debit_bad
    legs_with_invoice = sum(1 for leg in books.legs if payout_hashes.get(leg["id"]))
    results.append(
        Result(
            "at_most_one_debit_per_leg",
            not bad,
            legs_with_invoice + len(books.refunds),
            {"over_debited": multi, "refunds_over_debited": refunds.over_debited},
            bad[:10],
        )
    )

    # 3. the two ledgers reconcile to the sat
    bad = []
    received_fake = received_pos = forwarded_fake = forwarded_pos = owed = conserve_bad = 0
    owed_reasons: Counter[str] = Counter()
    for split in paid:
        legs = legs_by_split[split["id"]]
        fake_in = sum(
            int(t["amount"]) for t in platform_txs.get(split["payment_hash"], []) if t["direction"] == "RECEIVE"
        )
        received_fake += fake_in
        pos_in = split["received_amount"] if split["received_amount"] is not None else split["total_amount"]
        received_pos += pos_in
        if sum(leg["amount"] for leg in legs) != split["total_amount"] or fake_in != pos_in:
            conserve_bad += 1
            bad.append({"split": split["id"], "fake_received": fake_in, "pos_received": pos_in,
                        "legs_sum": sum(leg["amount"] for leg in legs), "total": split["total_amount"]})  # fmt: skip
        outflow = 0
        for leg in legs:
            # What a succeeded leg cost the platform by our books: its payout invoice (the share, or the
            # share less the routing fee the recipient pays) plus the fee charged less what came back.
            _, sats = leg_debits(leg)
            outflow += sats
            if leg["status"] == "succeeded":
                payout = int(leg["payout_amount"] if leg.get("payout_amount") is not None else leg["amount"])
                cost = payout + (leg.get("fee_sats") or 0) - (leg.get("fee_reimbursed_sats") or 0)
                forwarded_pos += cost
                forwarded_fake += sats
                if sats != cost:
                    bad.append({"leg": leg["id"], "amount": leg["amount"], "cost": cost, "fake_sent": sats})
                owed += leg["amount"] - cost  # kept by the platform for the fee (never negative: below)
            else:
                reason = leg["last_error_code"] or leg["resolution_note"] or leg["last_error"] or split["error_message"]
                owed += leg["amount"]
                label = leg["last_error_code"] or ("noted" if reason else "NO_REASON")
                owed_reasons[f"{leg['status']}:{label}"] += 1
                if not reason or sats:
                    bad.append({"leg": leg["id"], "status": leg["status"], "reason": reason, "fake_sent": sats})
        if outflow > pos_in:  # the platform never pays out more than the split brought in
            bad.append({"split": split["id"], "outflow": outflow, "received": pos_in})
    tip_only = [s for s in paid if s.get("kind") == "tip_only"]
    for split in tip_only:  # a tip-only payment (pay code) is all tip: its legs carry the whole amount
        if split["base_amount"] != 0 or split["tip_amount"] != split["total_amount"]:
            bad.append({"split": split["id"], "kind": "tip_only", "base": split["base_amount"],
                        "tip": split["tip_amount"], "total": split["total_amount"]})  # fmt: skip
    if received_pos != forwarded_pos + owed:
        bad.append({"received": received_pos, "forwarded": forwarded_pos, "owed": owed})
    # Every sat on the platform wallet belongs to a sale, a leg's payout, or a refund's funding or payout.
    known = {s["payment_hash"] for s in books.splits} | refunds.hashes
    known.update(h for hashes in payout_hashes.values() for h in hashes)
    unknown = sorted(h for h in platform_txs if h not in known)
    bad += [{"platform_tx": h[:12], "problem": "not a sale, payout or refund"} for h in unknown]
    bad += refunds.ledger_bad
    results.append(
        Result(
            "ledgers_reconcile_to_the_sat",
            not bad
            and received_fake == received_pos
            and forwarded_fake == forwarded_pos
            and refunds.funded_fake == refunds.funded_pos
            and refunds.paid_fake == refunds.paid_pos,
            len(paid),
            {
                "received_fake": received_fake,
                "received_pos": received_pos,
                "forwarded_fake": forwarded_fake,
                "forwarded_pos": forwarded_pos,
                "owed_with_reason": owed,
                "owed_by_reason": dict(owed_reasons),
                "unmatched_payments": len(books.unmatched),
                "tip_only_splits": len(tip_only),
                "unknown_platform_txs": len(unknown),
                **refunds.ledger_detail(),
            },
            bad[:MAX_EXAMPLES],
        )
    )

    # 4. nothing stuck
    bad = []
    for split in books.splits:
        if split["status"] in STUCK_SPLIT:
            bad.append({"split": split["id"], "status": split["status"]})
        elif split["status"] in ("pending", "expired", "cancelled") and paid_at_fake(split):
            bad.append({"split": split["id"], "status": split["status"], "problem": "paid at Blink, undetected"})
    for leg in books.legs:
        if leg["status"] in IN_FLIGHT_LEG:
            bad.append({"leg": leg["id"], "status": leg["status"]})
    bad += refunds.stuck
    checked = len(books.splits) + len(books.legs) + len(books.refunds)
    results.append(Result("nothing_stuck", not bad, checked, {"stuck": len(bad)}, bad[:10]))

    # 5. legal transitions, as chains
    bad = []
    last_split: dict[Any, str] = {}
    last_leg: dict[Any, str] = {}
    last_refund: dict[Any, str] = {}
    # The last (event type, from, to) per entity: the seed's ``completed`` event restates the transition
    # ``forwarding_completed`` made (same from -> to, a different type); that is a record, not a move.
    last_event: dict[tuple[str, Any], tuple[str, str, str]] = {}
    transitions = 0
    for event in books.events:
        src, dst = event["from_status"], event["to_status"]
        if not src and not dst:
            continue
        transitions += 1
        if event.get("refund_id"):
            table, last, key, initial = REFUND_TRANSITIONS, last_refund, event["refund_id"], "awaiting_funding"
        elif event["leg_id"]:
            table, last, key, initial = LEG_TRANSITIONS, last_leg, event["leg_id"], "planned"
        else:
            table, last, key, initial = SPLIT_TRANSITIONS, last_split, event["split_id"], "pending"
        entity = ("refund" if event.get("refund_id") else "leg" if event["leg_id"] else "split", key)
        previous = last_event.get(entity)
        last_event[entity] = (event["event_type"], src, dst)
        if not src and dst == initial and key not in last:
            pass  # creation
        elif previous and previous[1:] == (src, dst) and previous[0] != event["event_type"]:
            continue  # a restatement of the transition just recorded
        elif dst not in table.get(src, frozenset()):
            bad.append({"event": event["id"], "type": event["event_type"], "from": src, "to": dst})
        elif key in last and last[key] != src:
            bad.append({"event": event["id"], "type": event["event_type"], "expected_from": last[key], "from": src})
        last[key] = dst
    for split in books.splits:
        if split["payment_hash"] in last_split and last_split[split["payment_hash"]] != split["status"]:
            bad.append({"split": split["id"], "trail_ends": last_split[split["payment_hash"]], "row": split["status"]})
    for leg in books.legs:
        if leg["id"] in last_leg and last_leg[leg["id"]] != leg["status"]:
            bad.append({"leg": leg["id"], "trail_ends": last_leg[leg["id"]], "row": leg["status"]})
    for refund in books.refunds:
        if last_refund.get(str(refund["id"]), refund["status"]) != refund["status"]:
            bad.append({"refund": refund["id"], "trail_ends": last_refund[str(refund["id"])], "row": refund["status"]})
    results.append(Result("only_legal_transitions", not bad, transitions, {"illegal": len(bad)}, bad[:MAX_EXAMPLES]))

    results.append(
        Result(
            "refunds_within_sales",
            not refunds.ceiling_bad,
            len(books.refunds),
            dict(refunds.statuses),
            refunds.ceiling_bad[:MAX_EXAMPLES],
        )
    )

    totals: dict[str, Any] = {
        "splits": len(books.splits),
        "paid_at_blink": len(paid),
        "legs": len(books.legs),
        "events": len(books.events),
        "split_status": dict(Counter(s["status"] for s in books.splits)),
        "leg_status": dict(Counter(leg["status"] for leg in books.legs)),
        "refunds": len(books.refunds),
        "refund_status": dict(refunds.statuses),
    }
    return Report(results=results, totals=totals)
