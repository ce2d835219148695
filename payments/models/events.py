"""The append-only audit trail. A trigger (see migrations) refuses UPDATE, and DELETE of money events;
only non-financial events past retention may be deleted."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

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
)


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

    class Meta:
        db_table = "payment_events"
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(fields=["event_type"], name="idx_event_type"),
            models.Index(fields=["timestamp"], name="idx_timestamp"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["split", "event_type"],
                condition=Q(event_type__in=TERMINAL_EVENT_TYPES),
                name="event_terminal_once_per_payment",
            ),
            models.UniqueConstraint(
                fields=["leg", "event_type"],
                condition=Q(event_type__in=("leg_succeeded", "leg_resolved")),
                name="event_leg_completion_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
