"""Refunds of completed sales (``refunds``) and the tip adjustments a refunded tip leaves on staff
(``tip_adjustments``).

A refund is merchant-funded: the merchant pays a funding invoice on the platform wallet, then the
customer claims exactly the refund's amount (LNURL-withdraw, or an invoice / Lightning address given
on the refund page). The state machine is in ``payments.services.refund_transitions``; the database
refuses refunds that would return more than the sale received (trigger ``refunds_within_paid``,
migration 0018) whatever code runs.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from payments.models.parties import Merchant, Staff, Terminal
from payments.models.splits import PaymentSplit

REASON_MAX_CHARS = 500


class RefundStatus(models.TextChoices):
    AWAITING_FUNDING = "awaiting_funding"  # the merchant has not paid the funding invoice yet
    FUNDED = "funded"  # money on the platform wallet, waiting for the customer's claim
    PAYING = "paying"  # the customer's invoice is committed; the send is in flight or being looked up
    PAID = "paid"
    EXPIRED = "expired"  # the funding invoice expired unpaid: nothing moved
    FAILED = "failed"  # the payout failed too often: an operator decides (the money is still ours)
    CANCELLED = "cancelled"  # the merchant withdrew it before funding


class PayoutState(models.TextChoices):
    """The customer's payout, the leg machinery's states (docs/ARCHITECTURE.md, money rules 2-3)."""

    NONE = ""
    INVOICE_READY = "invoice_ready"
    SENDING = "sending"
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"


class PayoutVia(models.TextChoices):
    NONE = ""
    LNURL_WITHDRAW = "lnurl_withdraw"  # the customer's wallet scanned the claim QR (LUD-03)
    INVOICE = "invoice"  # a bolt11 pasted on the refund page
    ADDRESS = "address"  # a Lightning address given on the refund page (LNURL-pay)


# Refunds that count against the sale's paid amount (trigger ``refunds_within_paid``).
ACTIVE_STATUSES = (
    RefundStatus.AWAITING_FUNDING,
    RefundStatus.FUNDED,
    RefundStatus.PAYING,
    RefundStatus.PAID,
    RefundStatus.FAILED,
)


class Refund(models.Model):
    split = models.ForeignKey(PaymentSplit, on_delete=models.PROTECT, related_name="refunds")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="refunds")
    terminal = models.ForeignKey(Terminal, null=True, blank=True, on_delete=models.SET_NULL, related_name="refunds")
    requested_by = models.CharField(max_length=100, help_text="merchant:<user id> or terminal:<id>")

    # Sats. amount = base_part + tip_part; tip_part > 0 only when tip_refunded.
    amount_sats = models.BigIntegerField()
    tip_refunded = models.BooleanField(default=False)
    tip_part_sats = models.BigIntegerField(default=0)
    base_part_sats = models.BigIntegerField()
    reason = models.CharField(max_length=REASON_MAX_CHARS)

    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.AWAITING_FUNDING)

    # The funding invoice on the platform wallet (the merchant pays it). Its bolt11 is stored like a
    # sale's: never logged, never in Redis.
    funding_payment_hash = models.CharField(max_length=64, unique=True)
    funding_external_id = models.CharField(max_length=100, unique=True)
    funding_payment_request = models.TextField()
    funding_expires_at = models.DateTimeField()
    funded_at = models.DateTimeField(null=True, blank=True)

    # The customer's claim (LUD-03): an unguessable URL token and k1, one payout, until claim_expires_at.
    claim_token = models.CharField(max_length=64, unique=True)
    claim_k1 = models.CharField(max_length=64, unique=True)
    claim_expires_at = models.DateTimeField(null=True, blank=True)

    # The customer's payout: committed before it is paid, the same bolt11 on every attempt.
    payout_via = models.CharField(max_length=20, choices=PayoutVia.choices, blank=True, default="")
    payout_state = models.CharField(max_length=20, choices=PayoutState.choices, blank=True, default="")
    payout_request = models.TextField(blank=True, default="")  # never logged
    payout_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    payout_attempts = models.PositiveIntegerField(default=0)
    payout_failures = models.PositiveIntegerField(default=0)
    payout_fee_sats = models.BigIntegerField(null=True, blank=True)
    payout_preimage = models.CharField(max_length=64, blank=True, default="")
    last_error_code = models.CharField(max_length=50, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "refunds"
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="idx_refund_status_next"),
            models.Index(fields=["merchant", "-created_at"], name="idx_refund_merchant_created"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_sats__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(
                condition=Q(tip_part_sats__gte=0, base_part_sats__gte=0), name="refund_parts_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(amount_sats=F("base_part_sats") + F("tip_part_sats")), name="refund_parts_conserve"
            ),
            models.CheckConstraint(
                condition=Q(tip_refunded=True) | Q(tip_part_sats=0), name="refund_tip_part_only_when_refunded"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="refund_reason_required"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="refund_status_valid"),
            models.CheckConstraint(condition=Q(payout_state__in=PayoutState.values), name="refund_payout_state_valid"),
            models.CheckConstraint(
                condition=~Q(status=RefundStatus.PAID) | Q(payout_state=PayoutState.SUCCEEDED),
                name="refund_paid_means_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"refund {self.pk} of {self.split_id}: {self.amount_sats} sats ({self.status})"


class AdjustmentKind(models.TextChoices):
    REFUNDED_TIP = "refunded_tip"  # negative: a staff member's share of a refunded tip, to recover
    RECOVERY = "recovery"  # positive: deducted from one of their later tip payouts
    POOL_RECOVERY = "pool_recovery"  # positive: deducted from their share of a shift's tip pool


class TipAdjustment(models.Model):
    """One line of a staff member's tip statement that is not a tip: what they owe after a refunded tip
    (negative) and what later tip payouts recovered (positive). The balance still to recover is
    ``-sum(amount_sats)``; it never goes below zero (a recovery takes at most what is owed)."""

    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="tip_adjustments")
    kind = models.CharField(max_length=20, choices=AdjustmentKind.choices)
    amount_sats = models.BigIntegerField(help_text="sats; negative = owed, positive = recovered")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments")
    # For a recovery: the later sale whose tip leg was reduced (and whose base leg received it).
    split = models.ForeignKey(
        PaymentSplit, null=True, blank=True, on_delete=models.PROTECT, related_name="tip_recoveries"
    )
    # For a pool recovery: the pool share it was deducted from (payments/services/shift_close.py).
    pool_allocation = models.ForeignKey(
        "payments.PoolAllocation", null=True, blank=True, on_delete=models.PROTECT, related_name="recoveries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "tip_adjustments"
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["staff", "created_at"], name="idx_tipadj_staff_created")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=AdjustmentKind.REFUNDED_TIP, amount_sats__lt=0, refund__isnull=False)
                    | Q(kind=AdjustmentKind.RECOVERY, amount_sats__gt=0, split__isnull=False)
                    | Q(kind=AdjustmentKind.POOL_RECOVERY, amount_sats__gt=0, pool_allocation__isnull=False)
                ),
                name="tip_adjustment_kind_shape",
            ),
            models.UniqueConstraint(
                fields=["refund", "staff"],
                condition=Q(kind=AdjustmentKind.REFUNDED_TIP),
                name="tip_adjustment_once_per_refund",
            ),
            models.UniqueConstraint(
                fields=["split", "staff"],
                condition=Q(kind=AdjustmentKind.RECOVERY),
                name="tip_recovery_once_per_sale",
            ),
            models.UniqueConstraint(
                fields=["pool_allocation"],
                condition=Q(kind=AdjustmentKind.POOL_RECOVERY),
                name="tip_recovery_once_per_pool_share",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount_sats} sats for staff {self.staff_id}"
