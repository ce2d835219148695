"""Per-recipient tip totals, updated in the same transaction as a tip leg's success and rebuildable
from the legs (``manage.py update_tip_recipient_stats --rebuild``)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class TipRecipientStats(models.Model):
    recipient_username = models.CharField(max_length=50, unique=True)
    total_tips_received = models.BigIntegerField(default=0, help_text="sats")
    total_tips_count = models.IntegerField(default=0)
    average_tip_amount = models.DecimalField(max_digits=20, decimal_places=2, null=True, blank=True)
    first_tip_received_at = models.DateTimeField(null=True, blank=True)
    last_tip_received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "tip_recipient_stats"
        ordering = ["-total_tips_received"]
        verbose_name_plural = "tip recipient stats"
        constraints = [
            models.CheckConstraint(
                condition=Q(total_tips_received__gte=0, total_tips_count__gte=0), name="tip_stats_nonnegative"
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.recipient_username}: {self.total_tips_received} sats / {self.total_tips_count}"
