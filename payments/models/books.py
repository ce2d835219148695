"""The books reconciliation (``payments.services.books``): what Blink's ledger of the platform wallet
says, matched against ours, and the differences an operator should look at. Nothing here moves money.

- ``books_transactions``: the platform wallet's history as Blink lists it, one row per Blink
  transaction, each matched to the split it paid (a receive) or the leg it paid or refunded (a send or
  a reimbursement), or to nothing (money we cannot explain).
- ``books_runs``: one row per run: the range walked, counts and totals, the balance expected and
  found, and whether everything agreed.
- ``books_differences``: one row per problem, open while runs keep finding it (``first_run`` /
  ``last_run``, first and last seen) and closed by the first run that no longer does. Not one row per
  run: a difference that lasts a month is one row with its age, not thirty copies.
- ``books_checkpoint``: the newest Blink transaction up to which the history has been walked by a
  complete run (one row per platform account).

Every row names its platform account (NULL: the default account): each account's wallet is walked,
matched and balanced on its own, and each difference says which wallet it is about.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class BooksRunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"


class DifferenceKind(models.TextChoices):
    RECEIVED_WITHOUT_SPLIT = "received_without_split", "money received with no split"
    SPLIT_UNPAID_BUT_PAID = "split_unpaid_but_paid", "split marked unpaid that Blink shows paid"
    SPLIT_PAID_NOT_RECEIVED = "split_paid_not_received", "split marked paid that Blink shows no receipt for"
    UNKNOWN_SEND = "unknown_send", "send we do not know"
    LEG_NOT_AT_BLINK = "leg_not_at_blink", "leg we think succeeded that Blink does not show"
    LEG_PAID_TWICE = "leg_paid_twice", "leg Blink shows debited more than once"
    LEG_PAID_NOT_RECORDED = "leg_paid_not_recorded", "leg not succeeded that Blink shows paid"
    FEE_MISMATCH = "fee_mismatch", "fee different from Blink's"
    BALANCE_MISMATCH = "balance_mismatch", "platform balance different from what we should hold"


class DifferenceStatus(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed"


class BooksRun(models.Model):
    status = models.CharField(max_length=10, choices=BooksRunStatus.choices, default=BooksRunStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The range walked: from the newest transaction back to the checkpoint the run started from.
    from_checkpoint_tx_id = models.CharField(max_length=100, blank=True, default="")
    newest_tx_id = models.CharField(max_length=100, blank=True, default="")
    oldest_tx_id = models.CharField(max_length=100, blank=True, default="")
    checkpoint_tx_id = models.CharField(max_length=100, blank=True, default="", help_text="where the next run stops")
    pages = models.PositiveIntegerField(default=0)
    transactions_walked = models.PositiveIntegerField(default=0)
    receives = models.PositiveIntegerField(default=0)
    sends = models.PositiveIntegerField(default=0)
    received_sats = models.BigIntegerField(default=0, help_text="successful receives in the range walked")
    sent_sats = models.BigIntegerField(default=0, help_text="successful sends in the range walked, fees included")
    fees_sats = models.BigIntegerField(default=0, help_text="fees of those sends")
    balance_expected = models.BigIntegerField(null=True, blank=True, help_text="what we should hold (sats)")
    balance_actual = models.BigIntegerField(null=True, blank=True, help_text="Blink's balance (sats)")
    balance_parts = models.JSONField(default=dict, blank=True, help_text="how balance_expected was made up")
    differences = models.PositiveIntegerField(default=0, help_text="open differences after the run")
    new_differences = models.PositiveIntegerField(default=0)
    closed_differences = models.PositiveIntegerField(default=0)
    by_kind = models.JSONField(default=dict, blank=True)
    ok = models.BooleanField(null=True, blank=True, help_text="complete and nothing differs")
    error = models.TextField(blank=True, default="")
    note = models.TextField(blank=True, default="")
    # The platform account whose wallet this is about (NULL: the default account, BLINK_* settings).
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "books_runs"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=BooksRunStatus.values), name="books_run_status_valid"),
            # One run at a time per account: the claim is this insert (docs/ARCHITECTURE.md, money rule 5).
            models.UniqueConstraint(
                fields=["status", "platform_account"],
                condition=Q(status="running"),
                nulls_distinct=False,
                name="books_one_running",
            ),
        ]

    def __str__(self) -> str:
        return f"books run {self.pk} ({self.status}, {self.differences} difference(s))"


class BooksTransaction(models.Model):
    blink_id = models.CharField(max_length=100, unique=True)
    cursor = models.CharField(max_length=512)
    created_at = models.DateTimeField(db_index=True, help_text="Blink's createdAt")
    direction = models.CharField(max_length=10)  # RECEIVE | SEND
    status = models.CharField(max_length=10)  # SUCCESS | PENDING | FAILURE
    amount_sats = models.BigIntegerField(help_text="Blink's signed settlementAmount")
    fee_sats = models.BigIntegerField(default=0)
    payment_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    external_id = models.CharField(max_length=100, blank=True, default="")
    split = models.ForeignKey(
        "payments.PaymentSplit", null=True, blank=True, on_delete=models.PROTECT, related_name="books_transactions"
    )
    leg = models.ForeignKey(
        "payments.PaymentLeg", null=True, blank=True, on_delete=models.PROTECT, related_name="books_transactions"
    )
    first_run = models.ForeignKey(BooksRun, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)
    # The platform account whose wallet this is about (NULL: the default account, BLINK_* settings).
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "books_transactions"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["direction"], name="books_tx_unmatched", condition=Q(split__isnull=True, leg__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount_sats} sats ({self.status}) {self.blink_id}"


class BooksDifference(models.Model):
    kind = models.CharField(max_length=30, choices=DifferenceKind.choices)
    # What the difference is about, unique among open ones of its kind: a Blink transaction id, a
    # payment hash, a leg id or the platform wallet.
    key = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=DifferenceStatus.choices, default=DifferenceStatus.OPEN)
    payment_hash = models.CharField(max_length=64, blank=True, default="")
    blink_tx_id = models.CharField(max_length=100, blank=True, default="")
    expected_sats = models.BigIntegerField(null=True, blank=True, help_text="what our books say")
    actual_sats = models.BigIntegerField(null=True, blank=True, help_text="what Blink says")
    split = models.ForeignKey(
        "payments.PaymentSplit", null=True, blank=True, on_delete=models.PROTECT, related_name="books_differences"
    )
    leg = models.ForeignKey(
        "payments.PaymentLeg", null=True, blank=True, on_delete=models.PROTECT, related_name="books_differences"
    )
    detail = models.TextField(blank=True, default="")
    first_run = models.ForeignKey(BooksRun, on_delete=models.PROTECT, related_name="new_differences_found")
    last_run = models.ForeignKey(BooksRun, on_delete=models.PROTECT, related_name="differences_seen")
    closed_run = models.ForeignKey(
        BooksRun, null=True, blank=True, on_delete=models.PROTECT, related_name="differences_closed"
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    # The platform account whose wallet this is about (NULL: the default account, BLINK_* settings).
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "books_differences"
        ordering = ["-last_seen_at", "kind", "id"]
        indexes = [models.Index(fields=["status", "kind"], name="books_difference_status_kind")]
        constraints = [
            models.UniqueConstraint(fields=["kind", "key"], condition=Q(status="open"), name="books_difference_open"),
            models.CheckConstraint(condition=Q(kind__in=DifferenceKind.values), name="books_difference_kind_valid"),
            models.CheckConstraint(
                condition=Q(status__in=DifferenceStatus.values), name="books_difference_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"

    @property
    def delta_sats(self) -> int | None:
        if self.expected_sats is None or self.actual_sats is None:
            return None
        return self.actual_sats - self.expected_sats


class BooksCheckpoint(models.Model):
    """One row per platform account (the default account's is id 1): the newest transaction a complete
    run walked and everything older is final."""

    tx_id = models.CharField(max_length=100, blank=True, default="")
    cursor = models.CharField(max_length=512, blank=True, default="")
    tx_created_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(BooksRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The balance no Blink transaction explains (what the wallet held before its first listed
    # transaction), measured once by the first run that walked the whole history.
    opening_balance_sats = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The platform account whose wallet this is about (NULL: the default account, BLINK_* settings).
    platform_account = models.ForeignKey(
        "payments.PlatformAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        db_table = "books_checkpoint"
        constraints = [
            models.UniqueConstraint(
                fields=["platform_account"], nulls_distinct=False, name="books_checkpoint_one_per_account"
            )
        ]

    def __str__(self) -> str:
        return f"books checkpoint at {self.tx_id or '(start)'}"
