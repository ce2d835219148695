"""One customer invoice (``payment_splits``) and its outgoing transfers (``payment_legs``).

The state machines live in ``payments.services.transitions``; these classes only hold fields and the
constraints PostgreSQL enforces whatever code runs.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from payments.models.accounts import PlatformAccount
from payments.models.parties import Merchant, SplitProfile, Staff, Terminal


class SplitStatus(models.TextChoices):
    PENDING = "pending"
    PAID = "paid"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class LegStatus(models.TextChoices):
    PLANNED = "planned"
    INVOICE_READY = "invoice_ready"
    SENDING = "sending"
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RESOLVED = "resolved"


class SplitKind(models.TextChoices):
    """What the customer paid for: a sale (base + tip), a tip alone (a staff or team code, or "add a
    tip" on a receipt; base 0), or a merchant pay code (base only)."""

    SALE = "sale"
    TIP_ONLY = "tip_only"
    PAYCODE = "paycode"


class LegKind(models.TextChoices):
    MERCHANT = "merchant"
    TIP = "tip"


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class PaymentSplit(models.Model):
    # Identity. external_id is sent to Blink as the invoice's externalId (lowercase, unique per account).
    payment_hash = models.CharField(max_length=64, unique=True)
    external_id = models.CharField(max_length=100, unique=True)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="splits")
    terminal = models.ForeignKey(Terminal, null=True, blank=True, on_delete=models.SET_NULL, related_name="splits")
    # The Blink account that created the invoice, copied from the merchant at creation (NULL: the default
    # account). Every later call about this sale uses it, whatever the merchant's account is by then.
    platform_account = models.ForeignKey(
        PlatformAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="splits", db_index=False
    )

    # Seed columns: the merchant's wallet and username at the time of the sale.
    user_wallet_id = models.CharField(max_length=100)
    user_api_key_encrypted = models.TextField(blank=True, default="")  # legacy imports only; MultiFernet token
    username = models.CharField(max_length=50, blank=True, default="")

    # Amounts in satoshis.
    total_amount = models.BigIntegerField(help_text="sats invoiced: base + tip")
    base_amount = models.BigIntegerField(help_text="sats for the merchant")
    tip_amount = models.BigIntegerField(help_text="sats for staff")
    tip_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    invoice_satoshis = models.BigIntegerField(null=True, blank=True, help_text="sats on the invoice")
    received_amount = models.BigIntegerField(null=True, blank=True, help_text="sats actually received")

    # Display currency (major units) and the rate used.
    display_currency = models.CharField(max_length=10, default="BTC")
    base_amount_display = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    tip_amount_display = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    sats_per_unit = models.DecimalField(
        max_digits=24, decimal_places=8, null=True, blank=True, help_text="sats per 1 display-currency unit"
    )

    tip_recipient = models.CharField(max_length=50, blank=True, default="", help_text="staff username or team")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.PROTECT, related_name="splits")
    split_profile = models.ForeignKey(
        SplitProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="splits"
    )

    kind = models.CharField(max_length=10, choices=SplitKind.choices, default=SplitKind.SALE, db_default="sale")
    # The pay code a customer paid through (kind tip_only or paycode), and the sale a tip added from its
    # receipt belongs to (kind tip_only).
    pay_code = models.ForeignKey(
        "payments.PayCode", null=True, blank=True, on_delete=models.PROTECT, related_name="splits"
    )
    tip_for = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="added_tips")

    # Pooled mode: the shift open at the sale and the sats of the tip kept for its pool (no tip leg);
    # sum(legs) + pooled_amount == total. See payments/models/shifts.py.
    shift = models.ForeignKey("payments.Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="splits")
    pooled_amount = models.BigIntegerField(default=0, db_default=0, help_text="sats of the tip kept for the pool")

    status = models.CharField(max_length=20, choices=SplitStatus.choices, default=SplitStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    user_payment_hash = models.CharField(max_length=64, blank=True, default="")
    tip_payment_hash = models.CharField(max_length=64, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    memo = models.TextField(blank=True, default="")
    # The customer's bolt11. Stored so a terminal can redisplay it; never logged, never in Redis.
    payment_request = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    # The customer's receipt link (/r/<token>/): unguessable, no login. Null for rows written by raw
    # SQL (bench, legacy); those get one the first time a receipt is asked for.
    receipt_token = models.CharField(max_length=64, null=True, blank=True, unique=True)
    # The customer's proof of payment (sha256(preimage) == payment_hash, checked before it is stored),
    # printed on the receipt. Kept like the bolt11: never logged, never in Redis or a task message.
    preimage = models.CharField(max_length=64, blank=True, default="", db_default="")
    # When the forwarder may try again (backoff lives in the row, not in Celery countdowns).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When Blink, asked after it could no longer settle the invoice (its expiry plus a margin), said it
    # was not paid. Until then an expired or cancelled split keeps being polled (payments.services.unpaid).
    unpaid_confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "payment_splits"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user_wallet_id"], name="idx_user_wallet"),
            models.Index(fields=["status"], name="idx_status"),
            models.Index(fields=["tip_recipient"], name="idx_tip_recipient"),
            models.Index(fields=["merchant", "-created_at"], name="idx_split_merchant_created"),
            models.Index(
                fields=["platform_account", "status"],
                name="idx_split_platform_account",
                condition=Q(platform_account__isnull=False),
            ),
            models.Index(fields=["expires_at"], name="idx_split_pending_expiry", condition=Q(status="pending")),
            models.Index(
                fields=["expires_at"],
                name="idx_split_unconfirmed_unpaid",
                condition=Q(status__in=["expired", "cancelled"], unpaid_confirmed_at__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(total_amount__gt=0), name="split_total_positive"),
            models.CheckConstraint(condition=Q(base_amount__gte=0), name="split_base_nonnegative"),
            models.CheckConstraint(condition=Q(tip_amount__gte=0), name="split_tip_nonnegative"),
            models.CheckConstraint(
                condition=Q(total_amount=F("base_amount") + F("tip_amount")), name="split_amounts_conserve"
            ),
            models.CheckConstraint(
                condition=Q(tip_percent__isnull=True) | Q(tip_percent__gte=0, tip_percent__lte=100),
                name="split_tip_percent_range",
            ),
            models.CheckConstraint(
                condition=Q(received_amount__isnull=True) | Q(received_amount__gte=0),
                name="split_received_nonnegative",
            ),
            models.CheckConstraint(condition=_in("status", SplitStatus), name="split_status_valid"),
            models.CheckConstraint(
                condition=Q(pooled_amount=0) | Q(pooled_amount__gt=0, pooled_amount__lte=F("tip_amount")),
                name="split_pooled_within_tip",
            ),
            models.CheckConstraint(condition=_in("kind", SplitKind), name="split_kind_valid"),
            # A sale has a base; a tip-only payment has none; only a tip-only payment follows a sale.
            models.CheckConstraint(
                condition=~Q(kind=SplitKind.TIP_ONLY) | Q(base_amount=0, tip_amount__gt=0),
                name="split_tip_only_amounts",
            ),
            models.CheckConstraint(
                condition=Q(tip_for__isnull=True) | Q(kind=SplitKind.TIP_ONLY), name="split_tip_for_is_tip_only"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_hash[:12]}… {self.total_amount} sats ({self.status})"


class PaymentLeg(models.Model):
    """One outgoing transfer. The payout invoice is created and committed before it is paid, so a
    retry pays the same bolt11 and Blink answers ALREADY_PAID instead of debiting twice."""

    split = models.ForeignKey(PaymentSplit, on_delete=models.PROTECT, related_name="legs")
    external_id = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=LegKind.choices)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.PROTECT, related_name="legs")
    recipient_username = models.CharField(max_length=50)
    recipient_wallet_id = models.CharField(max_length=100)
    amount = models.BigIntegerField(help_text="sats to forward")
    weight_bps = models.PositiveIntegerField(null=True, blank=True)

    status = models.CharField(max_length=20, choices=LegStatus.choices, default=LegStatus.PLANNED)
    payment_request = models.TextField(blank=True, default="")  # payout bolt11; never logged
    payment_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    # Lookups at Blink that failed in a row for a pending/unknown leg; at FORWARD_LOOKUP_MAX_FAILURES the
    # leg needs an operator (payments.services.leg_outcomes). Reset by a new send or a known outcome.
    lookup_failures = models.PositiveIntegerField(default=0, db_default=0)
    last_error_code = models.CharField(max_length=50, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    fee_sats = models.BigIntegerField(null=True, blank=True)
    preimage = models.CharField(max_length=64, blank=True, default="")  # proof of payment for statements
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")

    # The route the committed payout invoice was obtained through (payments/services/payout_plan.py):
    # custodial (on-behalf invoice on the recipient's Blink wallet) or lnurl (the address's callback).
    route_kind = models.CharField(max_length=10, blank=True, default="", db_default="")
    route_address = models.CharField(max_length=255, blank=True, default="", db_default="")
    # Sats on the committed payout invoice: ``amount`` less the routing fee estimate when the recipient
    # pays the fee; null for legs planned before routes existed (then it is ``amount``).
    payout_amount = models.BigIntegerField(null=True, blank=True)
    fee_estimate_sats = models.BigIntegerField(null=True, blank=True)
    # "recipient" (out of this share) or "merchant" (out of the base leg); empty: intraledger, no fee.
    fee_payer = models.CharField(max_length=10, blank=True, default="", db_default="")
    # ``fee_sats`` is what Blink charged on the send (its settlementFee); this is what Blink gave back.
    fee_reimbursed_sats = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "payment_legs"
        ordering = ["split_id", "id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="idx_leg_status_next"),
            models.Index(fields=["recipient_username"], name="idx_leg_recipient"),
        ]
        constraints = [
            # Legs paid to a Lightning address have no wallet id: only known wallets must be distinct.
            models.UniqueConstraint(
                fields=["split", "recipient_wallet_id"],
                name="leg_unique_recipient",
                condition=~Q(recipient_wallet_id=""),
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="leg_amount_positive"),
            models.CheckConstraint(condition=_in("status", LegStatus), name="leg_status_valid"),
            models.CheckConstraint(condition=_in("kind", LegKind), name="leg_kind_valid"),
            models.CheckConstraint(condition=Q(fee_sats__isnull=True) | Q(fee_sats__gte=0), name="leg_fee_nonnegative"),
            models.CheckConstraint(
                condition=Q(payout_amount__isnull=True) | Q(payout_amount__gt=0, payout_amount__lte=F("amount")),
                name="leg_payout_within_share",
            ),
        ]

    def __str__(self) -> str:
        return f"leg {self.pk} → @{self.recipient_username} {self.amount} sats ({self.status})"
