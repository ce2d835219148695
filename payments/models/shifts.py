"""Shifts and tip pools (docs/ARCHITECTURE.md, Shifts and pooled tips).

A merchant in pooled mode (``Merchant.tip_mode``) keeps the tips of sales made during an open shift of
the sale's terminal group in the platform wallet (``PaymentSplit.pooled_amount``, accrued by
``PoolAccrual``) instead of forwarding them per sale. Closing the shift allocates the pool to the people
who clocked in (``PoolAllocation``, pure arithmetic in ``payments.domain.pool_allocation``) and pays each
of them once (``PoolPayout``, the leg machinery's states: invoice committed before it is paid).

Clock corrections are append-only rows (``ClockCorrection``); shift events are an append-only trail
(``ShiftEvent``, a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from payments.models.parties import Merchant, Staff
from payments.models.splits import PaymentSplit

REASON_MAX_CHARS = 500


class TipMode(models.TextChoices):
    PER_SALE = "per_sale", "Per sale (forward each tip to the chosen staff)"
    POOLED = "pooled", "Pooled per shift"


class PoolMethod(models.TextChoices):
    EQUAL = "equal", "Equal shares"
    HOURS = "hours", "By hours worked"
    ROLE = "role", "By role weight"
    HOURS_ROLE = "hours_role", "Hours x role weight"


class TerminalGroup(models.Model):
    """A location or a group of terminals sharing shifts (``Terminal.group``)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminal_groups")
    name = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "terminal_groups"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["merchant", "name"], name="terminal_group_unique_name")]

    def __str__(self) -> str:
        return self.name


class StaffRole(models.Model):
    """A role on the floor (server, bar, kitchen). ``weight`` is in hundredths: 100 = 1x, 150 = 1.5x."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="staff_roles")
    name = models.CharField(max_length=60)
    weight = models.PositiveIntegerField(default=100, help_text="hundredths: 100 = 1x")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "staff_roles"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "name"], name="staff_role_unique_name"),
            models.CheckConstraint(condition=Q(weight__gt=0, weight__lte=100_000), name="staff_role_weight_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight / 100:g}x)"


class PoolRule(models.Model):
    """How a shift's pool is shared: one per terminal group, or the merchant's default (group null)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="pool_rules")
    group = models.ForeignKey(TerminalGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="pool_rules")
    method = models.CharField(max_length=12, choices=PoolMethod.choices, default=PoolMethod.HOURS)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "pool_rules"
        constraints = [
            models.UniqueConstraint(fields=["merchant", "group"], name="pool_rule_once_per_group"),
            models.UniqueConstraint(fields=["merchant"], condition=Q(group__isnull=True), name="pool_rule_one_default"),
            models.CheckConstraint(condition=Q(method__in=PoolMethod.values), name="pool_rule_method_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_method_display()} ({self.group or 'default'})"


class TipOut(models.Model):
    """A share of the pool taken first for everyone of a role (e.g. kitchen 10 %), in basis points."""

    rule = models.ForeignKey(PoolRule, on_delete=models.CASCADE, related_name="tip_outs")
    role = models.ForeignKey(StaffRole, on_delete=models.PROTECT, related_name="tip_outs")
    percent_bps = models.PositiveIntegerField(help_text="basis points of the pool (1000 = 10 %)")

    class Meta:
        db_table = "pool_tip_outs"
        constraints = [
            models.UniqueConstraint(fields=["rule", "role"], name="tip_out_once_per_role"),
            models.CheckConstraint(
                condition=Q(percent_bps__gt=0, percent_bps__lte=10_000), name="tip_out_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role_id}: {self.percent_bps} bps"


class ShiftStatus(models.TextChoices):
    OPEN = "open"  # staff clock in and out; pooled tips accrue
    CLOSED = "closed"  # allocation confirmed, payouts in progress
    SETTLED = "settled"  # every payout succeeded (or there was nothing to pay)


class Shift(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="shifts")
    group = models.ForeignKey(TerminalGroup, on_delete=models.PROTECT, related_name="shifts")
    status = models.CharField(max_length=10, choices=ShiftStatus.choices, default=ShiftStatus.OPEN)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=100, blank=True, default="", help_text="merchant:<user id>")
    # Snapshot of the rule at close, so the allocation can be explained later whatever the rule becomes.
    method = models.CharField(max_length=12, choices=PoolMethod.choices, blank=True, default="")
    tip_outs = models.JSONField(default=list, blank=True, help_text="[{role, percent_bps}] at close")
    pool_sats = models.BigIntegerField(null=True, blank=True, help_text="sats allocated at close")
    settled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "shifts"
        ordering = ["-opened_at"]
        indexes = [models.Index(fields=["merchant", "-opened_at"], name="idx_shift_merchant_opened")]
        constraints = [
            models.UniqueConstraint(fields=["group"], condition=Q(status="open"), name="shift_one_open_per_group"),
            models.CheckConstraint(condition=Q(status__in=ShiftStatus.values), name="shift_status_valid"),
            models.CheckConstraint(
                condition=Q(status="open") | Q(closed_at__isnull=False, pool_sats__gte=0), name="shift_closed_shape"
            ),
        ]

    def __str__(self) -> str:
        return f"shift {self.pk} of {self.group_id} ({self.status})"


class ClockSource(models.TextChoices):
    POS = "pos", "Web POS (PIN)"
    DASHBOARD = "dashboard", "Dashboard"
    API = "api", "Terminal API"


class ClockEntry(models.Model):
    """One stretch of work: clocked in, and (once done) clocked out. Times are corrected only through
    ``ClockCorrection`` rows written in the same transaction."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="entries")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="clock_entries")
    clock_in_at = models.DateTimeField()
    clock_out_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=ClockSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "clock_entries"
        ordering = ["clock_in_at", "id"]
        indexes = [models.Index(fields=["staff", "-clock_in_at"], name="idx_clock_staff_in")]
        constraints = [
            models.UniqueConstraint(
                fields=["staff"], condition=Q(clock_out_at__isnull=True), name="clock_one_open_entry_per_staff"
            ),
            models.CheckConstraint(
                condition=Q(clock_out_at__isnull=True) | Q(clock_out_at__gte=F("clock_in_at")),
                name="clock_out_after_in",
            ),
        ]

    def __str__(self) -> str:
        return f"staff {self.staff_id} {self.clock_in_at:%H:%M}-{self.clock_out_at or '…'}"


class ClockCorrection(models.Model):
    """Append-only audit of a manager's change to a clock entry: who, when, old, new, why."""

    entry = models.ForeignKey(ClockEntry, on_delete=models.PROTECT, related_name="corrections")
    corrected_by = models.CharField(max_length=100, help_text="merchant:<user id>")
    old_clock_in_at = models.DateTimeField()
    old_clock_out_at = models.DateTimeField(null=True, blank=True)
    new_clock_in_at = models.DateTimeField()
    new_clock_out_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=REASON_MAX_CHARS)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "clock_corrections"
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="clock_correction_reason_required")]

    def __str__(self) -> str:
        return f"correction of entry {self.entry_id} by {self.corrected_by}"


class PoolAccrual(models.Model):
    """A paid sale's pooled tip, waiting in the platform wallet. ``shift`` null: the sale's shift had
    closed before it was paid; the next close of that group sweeps it in."""

    split = models.OneToOneField(PaymentSplit, on_delete=models.PROTECT, related_name="pool_accrual")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="pool_accruals")
    group = models.ForeignKey(TerminalGroup, on_delete=models.PROTECT, related_name="pool_accruals")
    shift = models.ForeignKey(Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="accruals")
    amount_sats = models.BigIntegerField(help_text="sats")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "pool_accruals"
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount_sats__gt=0), name="pool_accrual_positive")]

    def __str__(self) -> str:
        return f"{self.amount_sats} sats pooled from split {self.split_id}"


class PoolAllocation(models.Model):
    """One person's share of a closed shift's pool. ``amount_sats = share_sats - adjustment_sats``."""

    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="allocations")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="pool_allocations")
    role_name = models.CharField(max_length=60, blank=True, default="")
    role_weight = models.PositiveIntegerField(default=100)
    worked_seconds = models.BigIntegerField(default=0)
    tip_out_sats = models.BigIntegerField(default=0, help_text="sats of share_sats that came from tip-outs")
    share_sats = models.BigIntegerField(help_text="sats: tip-out part + pool part")
    adjustment_sats = models.BigIntegerField(default=0, help_text="sats recovered for refunded tips")
    amount_sats = models.BigIntegerField(help_text="sats to pay")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "pool_allocations"
        ordering = ["shift_id", "staff_id"]
        constraints = [
            models.UniqueConstraint(fields=["shift", "staff"], name="pool_allocation_once_per_person"),
            models.CheckConstraint(
                condition=Q(share_sats__gte=0, adjustment_sats__gte=0, amount_sats__gte=0, tip_out_sats__gte=0),
                name="pool_allocation_nonnegative",
            ),
            models.CheckConstraint(
                condition=Q(amount_sats=F("share_sats") - F("adjustment_sats")), name="pool_allocation_conserves"
            ),
        ]

    def __str__(self) -> str:
        return f"shift {self.shift_id} → staff {self.staff_id}: {self.amount_sats} sats"


class PoolPayoutStatus(models.TextChoices):
    PLANNED = "planned"
    INVOICE_READY = "invoice_ready"
    SENDING = "sending"
    PENDING = "pending"
    UNKNOWN = "unknown"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # retries exhausted or an explicit failure: an operator re-opens it


class PoolPayout(models.Model):
    """The one payout of a person's pool share; the payout invoice is committed before it is paid.

    The sats deducted from shares for refunded tips go back to the merchant (who funded the refund):
    one payout per shift with ``staff`` and ``allocation`` null."""

    allocation = models.OneToOneField(
        PoolAllocation, null=True, blank=True, on_delete=models.PROTECT, related_name="payout"
    )
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="payouts")
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.PROTECT, related_name="pool_payouts")
    external_id = models.CharField(max_length=100, unique=True)
    amount_sats = models.BigIntegerField(help_text="sats of the share")
    status = models.CharField(max_length=20, choices=PoolPayoutStatus.choices, default=PoolPayoutStatus.PLANNED)
    route_kind = models.CharField(max_length=10, blank=True, default="")
    route_address = models.CharField(max_length=255, blank=True, default="")
    payout_amount = models.BigIntegerField(null=True, blank=True, help_text="sats on the payout invoice")
    fee_estimate_sats = models.BigIntegerField(null=True, blank=True)
    payment_request = models.TextField(blank=True, default="")  # never logged
    payment_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    attempts = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    fee_sats = models.BigIntegerField(null=True, blank=True)
    preimage = models.CharField(max_length=64, blank=True, default="")  # proof for statements; never logged
    last_error_code = models.CharField(max_length=50, blank=True, default="")
    last_error = models.TextField(blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pool_payouts"
        ordering = ["shift_id", "id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="idx_pool_payout_status_next")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_sats__gt=0), name="pool_payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(staff__isnull=True, allocation__isnull=True)
                | Q(staff__isnull=False, allocation__isnull=False),
                name="pool_payout_staff_or_merchant",
            ),
            models.UniqueConstraint(
                fields=["shift"], condition=Q(staff__isnull=True), name="pool_payout_one_merchant_return"
            ),
            models.CheckConstraint(condition=Q(status__in=PoolPayoutStatus.values), name="pool_payout_status_valid"),
            models.CheckConstraint(
                condition=Q(payout_amount__isnull=True) | Q(payout_amount__gt=0, payout_amount__lte=F("amount_sats")),
                name="pool_payout_within_share",
            ),
        ]

    def __str__(self) -> str:
        return f"pool payout {self.pk} → staff {self.staff_id}: {self.amount_sats} sats ({self.status})"


class ShiftEvent(models.Model):
    """Append-only trail of a shift's money and clock events (a trigger refuses UPDATE and DELETE)."""

    shift = models.ForeignKey(Shift, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    payout = models.ForeignKey(PoolPayout, null=True, blank=True, on_delete=models.PROTECT, related_name="events")
    event_type = models.CharField(max_length=50)
    event_data = models.JSONField(default=dict, blank=True)
    timestamp = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "shift_events"
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["shift", "timestamp"], name="idx_shift_event_shift")]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"
