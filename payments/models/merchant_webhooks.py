"""Outgoing webhooks to merchants' own systems (docs/WEBHOOKS.md).

- ``MerchantWebhookEndpoint``: a URL a merchant registered, the events it wants, its signing secret
  (encrypted at rest; during a rotation the previous one too, until ``previous_secret_expires_at``).
- ``MerchantWebhookMessage``: one event for one endpoint (the transactional outbox). Written in the
  same PostgreSQL transaction as the status change it reports; its ``msg_id`` is the ``webhook-id``
  the receiver dedupes on, the same on every attempt and on a manual replay.
- ``MerchantWebhookAttempt``: the delivery log, one row per HTTP attempt (status, duration, the first
  KB of the answer).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from payments.models.parties import Merchant

RESPONSE_BODY_MAX_CHARS = 1024


class WebhookEventType(models.TextChoices):
    INVOICE_PAID = "invoice.paid"
    PAYMENT_COMPLETED = "payment.completed"
    PAYMENT_FAILED = "payment.failed"
    PAYOUT_FAILED = "payout.failed"
    REFUND_CREATED = "refund.created"
    REFUND_FUNDED = "refund.funded"
    REFUND_PAID = "refund.paid"
    REFUND_FAILED = "refund.failed"
    REFUND_EXPIRED = "refund.expired"
    REFUND_CANCELLED = "refund.cancelled"
    # Only ever sent by the "send test event" button, whatever the endpoint subscribed to.
    TEST = "webhook.test"


SUBSCRIBABLE_EVENTS = tuple(e for e in WebhookEventType.values if e != WebhookEventType.TEST)


class MessageStatus(models.TextChoices):
    PENDING = "pending"  # waiting for its next attempt (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker until ``claimed_until``; a lapsed claim is swept
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries exhausted, 410, or its endpoint disabled: a manual replay re-opens it


class MerchantWebhookEndpoint(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True, default="")
    event_types = ArrayField(models.CharField(max_length=40), default=list)
    enabled = models.BooleanField(default=True)
    # MultiFernet tokens (payments.crypto) of the ``whsec_`` secrets; never logged, never in Redis.
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True, default="")
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # The first failed attempt since the last success: the 3-day window is counted from here.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    # The merchant dismissed the "endpoint disabled" notice.
    notice_dismissed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "merchant_webhook_endpoints"
        ordering = ["created_at"]
        indexes = [models.Index(fields=["merchant", "enabled"], name="idx_mwh_endpoint_merchant")]

    def __str__(self) -> str:
        return f"webhook endpoint {self.pk} of merchant {self.merchant_id}"


class MerchantWebhookMessage(models.Model):
    endpoint = models.ForeignKey(MerchantWebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    msg_id = models.CharField(max_length=40, unique=True, help_text="The webhook-id header")
    event_type = models.CharField(max_length=40)
    # The exact JSON body ({type, timestamp, data}); signed as stored, byte for byte.
    body = models.TextField()
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts of the current round")
    # When the current round (the first delivery, or a manual replay) made its first attempt: the
    # retry schedule and the 3-day window count from here.
    round_started_at = models.DateTimeField(null=True, blank=True)
    trigger = models.CharField(max_length=10, default="auto", help_text="auto, replay or test")
    # Last time a task was published for it: the sweep re-publishes only after a while, so a backlog
    # is never multiplied (the claim, not this, is what keeps two workers from sending).
    published_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.IntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "merchant_webhook_messages"
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="idx_mwh_message_due",
                condition=Q(status__in=["pending", "sending"]),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="idx_mwh_message_endpoint"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=MessageStatus.values), name="mwh_message_status_valid")
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id} ({self.status})"


class MerchantWebhookAttempt(models.Model):
    message = models.ForeignKey(MerchantWebhookMessage, on_delete=models.CASCADE, related_name="attempt_log")
    endpoint = models.ForeignKey(MerchantWebhookEndpoint, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField()
    trigger = models.CharField(max_length=10, default="auto", help_text="auto, replay or test")
    status_code = models.IntegerField(null=True, blank=True, help_text="Null: no HTTP answer (see error)")
    duration_ms = models.PositiveIntegerField(default=0)
    response_body = models.CharField(max_length=RESPONSE_BODY_MAX_CHARS, blank=True, default="")
    error = models.CharField(max_length=200, blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        db_table = "merchant_webhook_attempts"
        ordering = ["-attempted_at", "-pk"]
        indexes = [models.Index(fields=["endpoint", "-attempted_at"], name="idx_mwh_attempt_endpoint")]

    def __str__(self) -> str:
        return f"attempt {self.pk} of {self.message_id}: {self.status_code or self.error}"
