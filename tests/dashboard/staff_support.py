"""Helpers for the staff self-service tests: sign a staff member in, read a PDF's text."""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.test import Client
from django.utils import timezone

from payments.models import (
    ClockEntry,
    LegStatus,
    Merchant,
    PaymentLeg,
    PoolAccrual,
    PoolAllocation,
    PoolPayout,
    PoolPayoutStatus,
    Shift,
    ShiftStatus,
    SplitStatus,
    Staff,
    TerminalGroup,
)
from payments.services.staff_access import staff_login_update, staff_portal_get_or_create
from tests.factories import PaymentLegFactory, PaymentSplitFactory

PIN = "4826"


def give_login(merchant: Merchant, staff: Staff, *, email: str = "", pin: str = PIN) -> str:
    """Set the staff member's email and PIN; returns the merchant's staff code."""
    staff_login_update(merchant=merchant, staff_id=staff.pk, email=email, pin=pin)
    return staff_portal_get_or_create(merchant=merchant).code


def pin_sign_in(client: Client, *, code: str, name: str, pin: str = PIN) -> Any:
    return client.post("/staff/login/", {"code": code, "name": name, "pin": pin})


def signed_in_client(merchant: Merchant, staff: Staff) -> Client:
    client = Client()
    code = give_login(merchant, staff)
    response = pin_sign_in(client, code=code, name=staff.blink_username)
    assert response.status_code == 302 and response["Location"] == "/staff/"
    return client


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the pages (fpdf2 writes Latin-1 strings in Flate-compressed content streams)."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            out.append(stream.decode("latin-1"))
    return "\n".join(out)


@dataclass(frozen=True)
class Person:
    staff: Staff
    seconds: int = 3600
    share: int = 0  # sats, tip-out part included
    tip_out: int = 0  # of share: from tip-outs
    adjustment: int = 0  # deducted for refunded tips
    payout: str | None = PoolPayoutStatus.SUCCEEDED  # None: no payout row


def closed_shift(
    merchant: Merchant,
    people: list[Person],
    *,
    pooled: list[tuple[int, Decimal | None]],  # (tip sats, sats per USD) of each pooled sale
    closed_at: datetime | None = None,
) -> Shift:
    """A closed shift as the close leaves it: pooled sales (accruals), clock entries, allocations and
    payouts (rows written directly: these tests read them, the shifts feature writes them)."""
    closed_at = closed_at or timezone.now() - timedelta(minutes=5)
    group, _ = TerminalGroup.objects.get_or_create(merchant=merchant, name="Main floor")
    opened = closed_at - timedelta(hours=8)
    shift = Shift.objects.create(
        merchant=merchant,
        group=group,
        status=ShiftStatus.CLOSED,
        opened_at=opened,
        closed_at=closed_at,
        pool_sats=sum(t for t, _ in pooled),
        method="hours",
    )
    for tip, rate in pooled:
        split = PaymentSplitFactory(
            merchant=merchant,
            base_amount=5000,
            tip_amount=tip,
            pooled_amount=tip,
            shift=shift,
            status=SplitStatus.COMPLETED,
            paid_at=opened + timedelta(hours=1),
            display_currency="USD",
            sats_per_unit=rate,
        )
        PoolAccrual.objects.create(split=split, merchant=merchant, group=group, shift=shift, amount_sats=tip)
    for p in people:
        ClockEntry.objects.create(
            shift=shift,
            staff=p.staff,
            clock_in_at=opened,
            clock_out_at=opened + timedelta(seconds=p.seconds),
            source="dashboard",
        )
        allocation = PoolAllocation.objects.create(
            shift=shift,
            staff=p.staff,
            worked_seconds=p.seconds,
            tip_out_sats=p.tip_out,
            share_sats=p.share,
            adjustment_sats=p.adjustment,
            amount_sats=p.share - p.adjustment,
        )
        if p.payout is not None and allocation.amount_sats > 0:
            succeeded = p.payout == PoolPayoutStatus.SUCCEEDED
            PoolPayout.objects.create(
                allocation=allocation,
                shift=shift,
                staff=p.staff,
                external_id=f"pool-{shift.pk}-{p.staff.pk}",
                amount_sats=allocation.amount_sats,
                status=p.payout,
                payment_hash=secrets.token_hex(32) if p.payout != PoolPayoutStatus.PLANNED else None,
                preimage=secrets.token_hex(32) if succeeded else "",
                fee_sats=1 if succeeded else None,
                succeeded_at=closed_at + timedelta(minutes=1) if succeeded else None,
            )
    return shift


def tip_leg(merchant: Merchant, staff: Staff, *, tip: int, rate: Decimal | None, status: str, **kw: Any) -> PaymentLeg:
    """A paid per-sale tip for ``staff`` with its leg in ``status`` (sale priced in USD at ``rate``)."""
    split = PaymentSplitFactory(
        merchant=merchant,
        base_amount=5000,
        tip_amount=tip,
        status=SplitStatus.COMPLETED if status == LegStatus.SUCCEEDED else SplitStatus.PROCESSING,
        paid_at=kw.pop("paid_at", timezone.now() - timedelta(minutes=10)),
        display_currency=kw.pop("currency", "USD"),
        sats_per_unit=rate,
        staff=staff,
    )
    succeeded = status == LegStatus.SUCCEEDED
    return PaymentLegFactory(
        split=split,
        kind="tip",
        staff=staff,
        recipient_username=staff.blink_username,
        recipient_wallet_id=staff.wallet_id,
        amount=tip,
        status=status,
        payment_hash=secrets.token_hex(32),
        preimage=secrets.token_hex(32) if succeeded else "",
        succeeded_at=timezone.now() if succeeded else None,
        fee_sats=0 if succeeded else None,
    )
