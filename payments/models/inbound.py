"""What arrives from outside: webhook deliveries (deduplicated on svix-id), payments nobody expected,
and idempotency records for POS requests."""

from __future__ import annotations

from django.db import models


class WebhookDelivery(models.Model):
    svix_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=50)
    payment_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=30)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.svix_id} ({self.outcome})"


class UnmatchedPayment(models.Model):
    """Money that reached the platform wallet for no known split. Recorded for an operator, never dropped."""

    payment_hash = models.CharField(max_length=64, unique=True)
    amount = models.BigIntegerField(help_text="sats received")
    event_data = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_note = models.TextField(blank=True, default="")

    class Meta:
        db_table = "unmatched_payments"
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"unmatched {self.payment_hash[:12]}… {self.amount} sats"


class IdempotencyRecord(models.Model):
    """The first response to an ``Idempotency-Key``, replayed for the same key and body."""

    merchant = models.ForeignKey("payments.Merchant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "idempotency_keys"
        constraints = [models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"idempotency key {self.key}"
