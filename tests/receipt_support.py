"""A tipped sale split between two staff members, paid, with its proof of payment (receipts tests)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from payments.models import LegStatus, PaymentSplit, SplitStatus
from tests.factories import MerchantFactory, PaymentLegFactory, PaymentSplitFactory, StaffFactory


def make_tipped_sale(**merchant_fields: object) -> PaymentSplit:
    merchant = MerchantFactory(
        name="Corner Cafe",
        display_currency="USD",
        receipt_address="12 Harbour Street\nPort Town",
        receipt_footer="Thank you, come again",
        **merchant_fields,
    )
    dana = StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")
    eli = StaffFactory(merchant=merchant, display_name="Eli", blink_username="eli")
    preimage = secrets.token_hex(32)
    split = PaymentSplitFactory(
        merchant=merchant,
        payment_hash=hashlib.sha256(bytes.fromhex(preimage)).hexdigest(),
        preimage=preimage,
        base_amount=10_000,
        tip_amount=1_500,
        tip_percent=Decimal("15.00"),
        display_currency="USD",
        base_amount_display=Decimal("6.50000000"),
        tip_amount_display=Decimal("0.97500000"),
        memo="Table 4",
        tip_recipient="team:Floor",
        status=SplitStatus.COMPLETED,
        paid_at=timezone.make_aware(datetime(2026, 11, 30, 14, 3)),
        receipt_token=secrets.token_urlsafe(32),
    )
    PaymentLegFactory(split=split, amount=10_000, status=LegStatus.SUCCEEDED)
    for staff, amount in ((dana, 900), (eli, 600)):
        PaymentLegFactory(
            split=split,
            kind="tip",
            staff=staff,
            recipient_username=staff.blink_username,
            recipient_wallet_id=staff.wallet_id,
            amount=amount,
            weight_bps=amount * 10_000 // 1_500,
            status=LegStatus.SUCCEEDED,
        )
    return split
