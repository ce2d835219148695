"""The append-only audit trail. A trigger (see migrations) refuses UPDATE, and DELETE of money events;
only non-financial events past retention are dropped, a month at a time.

The table is partitioned by ``retention_class`` and then by month (migration 0014,
payments/services/event_partitions.py). Two once-only rules are enforced by the database through
small guard tables a trigger fills, under these constraint names: ``event_terminal_once_per_payment``
(each ``TERMINAL_EVENT_TYPES`` at most once per payment) and ``event_leg_completion_once``
(``leg_succeeded`` / ``leg_resolved`` at most once per leg). A duplicate insert fails with an
IntegrityError naming the constraint, which means "already handled".
"""

from __future__ import annotations

from django.db import models

# Each of these happens at most once per payment; a duplicate insert means "already handled".
TERMINAL_EVENT_TYPES = ("created", "paid", "paid_late", "forwarding_completed", "completed", "expired", "cancelled")
# Events that record money moving or owed; never deleted by retention.
MONEY_EVENT_TYPES = (
    "created",
    "paid",
    "paid_late",
    "forwarding_started",
    "leg_invoice_created",
    "leg_sent",
    "leg_succeeded",
    "leg_failed",
    "leg_resolved",
    "leg_pending",
    "leg_unknown",
    "leg_retry",
    "forwarding_retried",
    "tip_sent",
    "forwarding_completed",
    "completed",
    "failed",
    "expired",
    "cancelled",
    # Refunds (payments/services/refunds.py) and the tip adjustments they leave (tip_adjustments.py).
    "refund_created",
    "refund_funded",
    "refund_expired",
    "refund_cancelled",
    "refund_payout_committed",
    "refund_sent",
    "refund_pending",
    "refund_unknown",
    "refund_payout_failed",
    "refund_paid",
    "refund_failed",
    "tip_adjusted",
    "tip_recovered",
    # Pooled tips (payments/services/pool_accruals.py).
    "tip_pooled",
)


MONEY = "money"
OPS = "ops"


def retention_class_for(event_type: str) -> str:
    """'money' events are kept for ever; 'ops' events are dropped with their month after retention."""
    return MONEY if event_type in MONEY_EVENT_TYPES else OPS


class PaymentEvent(models.Model):
    split = models.ForeignKey(
        "payments.PaymentSplit",
        to_field="payment_hash",
        db_column="payment_hash",
        on_delete=models.PROTECT,
        related_name="events",
    )
    leg = models.ForeignKey(
        "payments.PaymentLeg", null=True, blank=True, on_delete=models.PROTECT, related_name="events"
    )
    event_type = models.CharField(max_length=50)
    event_data = models.JSONField(default=dict, blank=True)
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    timestamp = models.DateTimeField(auto_now_add=True)
    # The partition the row lives in (see the module docstring). The database default keeps raw SQL
    # inserts in 'money' (kept); a CHECK refuses a money event in 'ops'.
    retention_class = models.CharField(max_length=10, default=MONEY, db_default=MONEY, editable=False)

    class Meta:
        db_table = "payment_events"
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(fields=["event_type"], name="idx_event_type"),
            models.Index(fields=["timestamp"], name="idx_timestamp"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
