"""The console's models: the permission's anchor, the three reporting views (unmanaged: migration 0002 of
``payments`` creates them, Django only reads them) and the bounded record of Celery task failures."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone


class ConsoleAccess(models.Model):
    """No table: only carries the ``console.view_console`` permission (and is the content type of the
    console's admin-log rows)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_console", "Can open the operators' console")]
        verbose_name = "console access"

    def __str__(self) -> str:
        return "console access"


class ActivePayment(models.Model):
    """A row of the ``active_payments`` view: a split still pending, paid or processing."""

    id = models.BigIntegerField(primary_key=True)
    payment_hash = models.CharField(max_length=64)
    merchant_id = models.BigIntegerField()
    username = models.CharField(max_length=50)
    user_wallet_id = models.CharField(max_length=100)
    total_amount = models.BigIntegerField()
    base_amount = models.BigIntegerField()
    tip_amount = models.BigIntegerField()
    tip_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    tip_recipient = models.CharField(max_length=50)
    display_currency = models.CharField(max_length=10)
    status = models.CharField(max_length=20)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True)
    paid_at = models.DateTimeField(null=True)
    age_seconds = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "active_payments"
        ordering = ["created_at"]
        default_permissions = ("view",)
        verbose_name = "active payment"

    def __str__(self) -> str:
        return f"{self.payment_hash[:12]}… {self.status}"


class PaymentStatistic(models.Model):
    """A row of the ``payment_statistics`` view: one UTC day of splits."""

    date = models.DateField(primary_key=True)
    total_payments = models.BigIntegerField()
    completed_payments = models.BigIntegerField()
    pending_payments = models.BigIntegerField()
    processing_payments = models.BigIntegerField()
    failed_payments = models.BigIntegerField()
    expired_payments = models.BigIntegerField()
    total_volume = models.BigIntegerField(help_text="sats")
    total_base = models.BigIntegerField(help_text="sats")
    total_tips = models.BigIntegerField(help_text="sats")
    average_tip_percent = models.DecimalField(max_digits=7, decimal_places=2, null=True)
    unique_tip_recipients = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "payment_statistics"
        ordering = ["-date"]
        default_permissions = ("view",)
        verbose_name = "payment statistics day"
        verbose_name_plural = "payment statistics"

    def __str__(self) -> str:
        return str(self.date)


class TopTipRecipient(models.Model):
    """A row of the ``top_tip_recipients`` view (the 100 best-tipped recipients, ranked)."""

    recipient_username = models.CharField(max_length=50, primary_key=True)
    total_tips_received = models.BigIntegerField(help_text="sats")
    total_tips_count = models.IntegerField()
    average_tip_amount = models.DecimalField(max_digits=20, decimal_places=2, null=True)
    first_tip_received_at = models.DateTimeField(null=True)
    last_tip_received_at = models.DateTimeField(null=True)
    rank = models.BigIntegerField()

    class Meta:
        managed = False
        db_table = "top_tip_recipients"
        ordering = ["rank"]
        default_permissions = ("view",)
        verbose_name = "top tip recipient"

    def __str__(self) -> str:
        return f"#{self.rank} @{self.recipient_username}"


class TaskFailure(models.Model):
    """A Celery task that failed or was retried, as the worker's signal saw it. Kept for
    ``RETENTION`` and at most ``MAX_ROWS`` rows (``console.task_failures`` trims on every insert)."""

    RETENTION = timedelta(days=7)
    MAX_ROWS = 1000

    class Kind(models.TextChoices):
        FAILURE = "failure"
        RETRY = "retry"

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=64, blank=True, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    exception_type = models.CharField(max_length=120, blank=True, default="")
    message = models.CharField(max_length=500, blank=True, default="", help_text="secrets masked")
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "console_task_failures"
        ordering = ["-recorded_at"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.kind} {self.task_name} {self.exception_type}"
