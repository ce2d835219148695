"""What arrives from outside: webhook deliveries (deduplicated on svix-id), payments nobody expected,
and idempotency records for POS requests."""

from __future__ import annotations

from django.db import models

# ``webhook_deliveries.outcome`` of a delivery recorded and acknowledged but not yet acted on: waiting
# for ``webhook_delivery_task`` (or, if that message was lost, the reconciler's sweep). Every other
# value is final (``ignored*``, ``rejected`` or the detection outcome: ``paid``, ``already_handled``...).
DELIVERY_QUEUED = "queued"


class WebhookDelivery(models.Model):
    """One Svix delivery, recorded by the view in a single INSERT before it answers.

    The view stores only what the worker needs to act on a ``receive.lightning``: the payment hash, the
    settlement amount and whether a preimage was given AND hashed to the payment hash. The preimage
    itself is never stored (nor logged, nor put in a Celery message): ``preimage_verified`` is the
    proof's result, checked in the view with sha256.
    """

    svix_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=50)
    payment_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=30)
    received_at = models.DateTimeField(auto_now_add=True)
    amount_sats = models.BigIntegerField(null=True, blank=True, help_text="settlementAmount as delivered")
    preimage_verified = models.BooleanField(
        default=False, help_text="a preimage came with the delivery and sha256(preimage) == payment_hash"
    )
    processed_at = models.DateTimeField(null=True, blank=True, help_text="when the outcome became final")
    # The account whose endpoint received it (NULL: the default account's /webhooks/blink). Detection
    # acts only on that account's splits.
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ["-received_at"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The sweep's read (deliveries still queued after a grace period). Partial: it holds only the
            # handful of rows in flight, so it stays tiny however long the audit trail grows.
            models.Index(
                fields=["received_at"], name="webhook_delivery_queued", condition=models.Q(outcome=DELIVERY_QUEUED)
            ),
        ]

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

    # The platform account whose wallet received it (NULL: the default account).
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

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
