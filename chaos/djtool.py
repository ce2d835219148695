"""The soak's Django-side steps, run as ``python -m chaos.djtool COMMAND`` in the soak's environment
(its own database, Redis and fake Blink). Each prints one JSON object on stdout.

    setup --fake-url URL --merchants N --staff N   parties at the fake and in BlinkPOS, terminal keys
                                                     (allowed to refund), a staff and a team pay code
                                                     per merchant, a customer's wallet for refunds
    reconcile --times N                              reconciler and refund-sweep passes (faults are over)
    state                                            what is still in flight (legs, splits, refunds)
    invariants --fake-url URL                        the money invariants (chaos.invariants)
    preimages                                        proof-of-payment values, for the secret scan

The terminal keys and preimages go to the soak's pipe, never to a log file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chaos.settings")
django.setup()

import httpx  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db.models import Count  # noqa: E402

from payments.models import PaymentLeg, PaymentSplit, Refund  # noqa: E402

IN_FLIGHT = ("invoice_ready", "sending", "pending", "unknown")
# A refund paying out is in flight; one whose funding is unpaid or unclaimed waits on a person, not on us.
REFUND_IN_FLIGHT = ("paying",)


def setup(fake_url: str, merchants: int, staff: int, tag: str, outside_host: str = "") -> dict[str, Any]:
    from payments.services.parties import merchant_create, split_profile_save, staff_create
    from payments.services.paycodes import paycode_create
    from payments.services.terminals import terminal_create

    out = []
    with httpx.Client(base_url=fake_url, timeout=10) as fake:
        # The customer who claims the soak's refunds (chaos.refunds) with their own Blink wallet.
        customer = fake.post("/control/accounts", json={"username": f"customer_{tag}"})
        customer.raise_for_status()
        customer_wallet_id = str(customer.json()["wallets"]["BTC"])
        for m in range(merchants):
            owner = f"shop{m}_{tag}"
            fake.post("/control/accounts", json={"username": owner}).raise_for_status()
            user = get_user_model().objects.create_user(username=f"owner{m}_{tag}", password=None)
            merchant = merchant_create(user=user, name=f"Chaos shop {m}", blink_username=owner, display_currency="USD")
            members = []
            for s in range(staff):
                username = f"s{m}x{s}_{tag}"
                if s == staff - 1 and outside_host:
                    # One member per shop keeps their tips at an outside Lightning address (LNURL-pay).
                    name = f"o{m}{tag}"
                    fake.post("/control/outside/users", json={"name": name}).raise_for_status()
                    members.append(
                        staff_create(
                            merchant=merchant, display_name=f"Staff {s}", payout_destination=f"{name}@{outside_host}"
                        )
                    )
                    continue
                fake.post("/control/accounts", json={"username": username}).raise_for_status()
                members.append(staff_create(merchant=merchant, display_name=f"Staff {s}", blink_username=username))
            weights = [10_000 // staff] * staff
            weights[0] += 10_000 - sum(weights)
            profile = split_profile_save(
                merchant=merchant, name="Floor", shares=list(zip(members, weights, strict=True))
            )
            terminal, key = terminal_create(merchant=merchant, name="chaos terminal")
            # The merchant lets this terminal refund (dashboard settings), so the soak can mix refunds in.
            terminal.can_refund = True
            terminal.save(update_fields=["can_refund"])
            # Static tip codes for chaos.tip_payments: one member's (a Blink user) and the team's.
            codes = [
                paycode_create(merchant=merchant, kind="staff", username=f"t{m}-{tag}".lower(), staff=members[0]),
                paycode_create(
                    merchant=merchant, kind="team", username=f"team{m}-{tag}".lower(), split_profile=profile
                ),
            ]
            out.append(
                {
                    "merchant_id": merchant.pk,
                    "owner": user.get_username(),
                    "staff_ids": [s.pk for s in members],
                    "profile_id": profile.pk,
                    "key": key,
                    "paycodes": [code.username for code in codes],
                }
            )
    return {"merchants": out, "customer_wallet_id": customer_wallet_id}


def reconcile(times: int) -> dict[str, Any]:
    from payments.services.reconcile import reconcile_once

    # Faults are over and the read timeout is 1.5 s: a leg still ``sending`` after 10 s has no live sender.
    passes: list[dict[str, Any]] = []
    for _ in range(times):
        passes.append(reconcile_once(lease_seconds=0, stale_seconds=0, sending_stale_seconds=10))
        passes.append({"refunds": _refunds_pass(stale_seconds=10)})
    return {"passes": passes, "state": state()}


def _refunds_pass(stale_seconds: int) -> dict[str, int]:
    """The beat's refund sweep, plus what it leaves for minutes: with the faults over, a payout still
    committed or sending after ``stale_seconds`` has no live task (its worker was killed). Sending again
    only from ``invoice_ready`` (nothing went out); a send that may have gone out is looked up at Blink."""
    from datetime import timedelta

    from django.utils import timezone

    from payments.models import PayoutState, RefundStatus
    from payments.services.refund_payouts import refund_pay, refund_payout_lookup
    from payments.services.refund_sweep import refunds_sweep

    outcomes = refunds_sweep()
    stale = Refund.objects.filter(
        status=RefundStatus.PAYING, updated_at__lte=timezone.now() - timedelta(seconds=stale_seconds)
    )
    for refund_id in stale.filter(payout_state=PayoutState.INVOICE_READY).values_list("pk", flat=True):
        outcomes[f"send_{refund_pay(refund_id=refund_id)}"] += 1
    sent = (PayoutState.SENDING, PayoutState.PENDING, PayoutState.UNKNOWN)
    for refund_id in stale.filter(payout_state__in=sent).values_list("pk", flat=True):
        outcomes[f"lookup_{refund_payout_lookup(refund_id=refund_id)}"] += 1
    return dict(outcomes)


def state() -> dict[str, Any]:
    splits = dict(PaymentSplit.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    legs = dict(PaymentLeg.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    refunds = dict(Refund.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    in_flight = sum(legs.get(s, 0) for s in IN_FLIGHT) + splits.get("paid", 0) + splits.get("processing", 0)
    in_flight += sum(refunds.get(s, 0) for s in REFUND_IN_FLIGHT)
    return {"splits": splits, "legs": legs, "refunds": refunds, "in_flight": in_flight}


def invariants(fake_url: str) -> dict[str, Any]:
    from chaos.invariants import check, load_books

    # Books first, then the provider's ledger: a leg can only be recorded as succeeded after Blink
    # debited for it, so this order never shows "succeeded without a debit" for a payment in flight.
    books = load_books()
    ledger = httpx.get(f"{fake_url}/control/ledger", timeout=120).json()
    report = check(books, ledger)
    return {**report.as_dict(), "lines": report.lines()}


def preimages() -> dict[str, Any]:
    values = list(PaymentLeg.objects.exclude(preimage="").values_list("preimage", flat=True))
    # The customers' proofs too (kept on the split for their receipts): no log or Redis value may hold one.
    values += PaymentSplit.objects.exclude(preimage="").values_list("preimage", flat=True)
    values += Refund.objects.exclude(payout_preimage="").values_list("payout_preimage", flat=True)
    return {"preimages": values}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chaos.djtool")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--fake-url", required=True)
    p.add_argument("--merchants", type=int, default=2)
    p.add_argument("--staff", type=int, default=3)
    p.add_argument("--tag", default="c")
    p.add_argument("--outside-host", default="", help="host:port of the fake's outside LNURL host")
    p = sub.add_parser("reconcile")
    p.add_argument("--times", type=int, default=1)
    sub.add_parser("state")
    p = sub.add_parser("invariants")
    p.add_argument("--fake-url", required=True)
    sub.add_parser("preimages")
    args = parser.parse_args(argv)
    if args.command == "setup":
        result = setup(args.fake_url, args.merchants, args.staff, args.tag, args.outside_host)
    elif args.command == "reconcile":
        result = reconcile(args.times)
    elif args.command == "state":
        result = state()
    elif args.command == "invariants":
        result = invariants(args.fake_url)
    else:
        result = preimages()
    sys.stdout.write("\n@@RESULT@@" + json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
