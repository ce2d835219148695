"""Refunds and tip adjustments (docs/ARCHITECTURE.md, Refunds).

- ``refunds`` and ``tip_adjustments``, and the terminals' ``can_refund`` flag.
- ``refunds_within_paid``: a trigger that refuses any refund row (insert, or an update that brings it
  back into the count) taking the sale's refunds above what the sale received, or their tip parts
  above its tip. It locks the sale's row first, so two concurrent refunds are counted one after the
  other and the second one over the ceiling is refused by PostgreSQL whatever code inserted it.
- The money event types gain the refund and tip-adjustment events (``payment_event_is_money``; a
  schema test keeps it equal to ``MONEY_EVENT_TYPES``).
"""

import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models


OLD_MONEY_EVENT_TYPES = (
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
REFUND_EVENT_TYPES = (
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
)
# Statuses that count against the sale (payments.models.refunds.ACTIVE_STATUSES).
ACTIVE = "'awaiting_funding', 'funded', 'paying', 'paid', 'failed'"


def _money_function(types: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{t}'" for t in types)
    return f"""
CREATE OR REPLACE FUNCTION payment_event_is_money(event_type text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT event_type IN ({listed}) $$;
"""


CEILING_SQL = f"""
CREATE FUNCTION refunds_within_paid() RETURNS trigger AS $$
DECLARE
    paid bigint;
    tip bigint;
    refunded bigint;
    tip_refunded bigint;
BEGIN
    IF NEW.status NOT IN ({ACTIVE}) THEN
        RETURN NEW;
    END IF;
    SELECT COALESCE(received_amount, total_amount), tip_amount INTO paid, tip
        FROM payment_splits WHERE id = NEW.split_id FOR UPDATE;
    SELECT COALESCE(SUM(amount_sats), 0), COALESCE(SUM(tip_part_sats), 0) INTO refunded, tip_refunded
        FROM refunds WHERE split_id = NEW.split_id AND id <> NEW.id AND status IN ({ACTIVE});
    IF refunded + NEW.amount_sats > paid THEN
        RAISE EXCEPTION 'refunds_within_paid: refunds of sale % would return % sats of the % it received',
            NEW.split_id, refunded + NEW.amount_sats, paid
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_within_paid';
    END IF;
    IF tip_refunded + NEW.tip_part_sats > tip THEN
        RAISE EXCEPTION 'refunds_tip_within_tip: refunded tip parts of sale % would exceed its % sats tip', NEW.split_id, tip
            USING ERRCODE = 'check_violation', CONSTRAINT = 'refunds_tip_within_tip';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER refunds_within_paid BEFORE INSERT OR UPDATE OF amount_sats, tip_part_sats, status, split_id
    ON refunds FOR EACH ROW EXECUTE FUNCTION refunds_within_paid();
"""

CEILING_REVERSE_SQL = """
DROP TRIGGER refunds_within_paid ON refunds;
DROP FUNCTION refunds_within_paid();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0017_receipts_and_cashier"),
    ]

    operations = [
        migrations.AddField(
            model_name="terminal",
            name="can_refund",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.CreateModel(
            name="Refund",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("requested_by", models.CharField(help_text="merchant:<user id> or terminal:<id>", max_length=100)),
                ("amount_sats", models.BigIntegerField()),
                ("tip_refunded", models.BooleanField(default=False)),
                ("tip_part_sats", models.BigIntegerField(default=0)),
                ("base_part_sats", models.BigIntegerField()),
                ("reason", models.CharField(max_length=500)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("awaiting_funding", "Awaiting Funding"),
                            ("funded", "Funded"),
                            ("paying", "Paying"),
                            ("paid", "Paid"),
                            ("expired", "Expired"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="awaiting_funding",
                        max_length=20,
                    ),
                ),
                ("funding_payment_hash", models.CharField(max_length=64, unique=True)),
                ("funding_external_id", models.CharField(max_length=100, unique=True)),
                ("funding_payment_request", models.TextField()),
                ("funding_expires_at", models.DateTimeField()),
                ("funded_at", models.DateTimeField(blank=True, null=True)),
                ("claim_token", models.CharField(max_length=64, unique=True)),
                ("claim_k1", models.CharField(max_length=64, unique=True)),
                ("claim_expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "payout_via",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "None"),
                            ("lnurl_withdraw", "Lnurl Withdraw"),
                            ("invoice", "Invoice"),
                            ("address", "Address"),
                        ],
                        default="",
                        max_length=20,
                    ),
                ),
                (
                    "payout_state",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("", "None"),
                            ("invoice_ready", "Invoice Ready"),
                            ("sending", "Sending"),
                            ("pending", "Pending"),
                            ("unknown", "Unknown"),
                            ("succeeded", "Succeeded"),
                        ],
                        default="",
                        max_length=20,
                    ),
                ),
                ("payout_request", models.TextField(blank=True, default="")),
                ("payout_hash", models.CharField(blank=True, max_length=64, null=True, unique=True)),
                ("payout_attempts", models.PositiveIntegerField(default=0)),
                ("payout_failures", models.PositiveIntegerField(default=0)),
                ("payout_fee_sats", models.BigIntegerField(blank=True, null=True)),
                ("payout_preimage", models.CharField(blank=True, default="", max_length=64)),
                ("last_error_code", models.CharField(blank=True, default="", max_length=50)),
                ("last_error", models.TextField(blank=True, default="")),
                ("next_attempt_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("paid_at", models.DateTimeField(blank=True, null=True)),
                (
                    "merchant",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="refunds", to="payments.merchant"
                    ),
                ),
                (
                    "split",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="refunds", to="payments.paymentsplit"
                    ),
                ),
                (
                    "terminal",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="refunds",
                        to="payments.terminal",
                    ),
                ),
            ],
            options={
                "db_table": "refunds",
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="TipAdjustment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("refunded_tip", "Refunded Tip"), ("recovery", "Recovery")], max_length=20
                    ),
                ),
                ("amount_sats", models.BigIntegerField(help_text="sats; negative = owed, positive = recovered")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "refund",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="adjustments",
                        to="payments.refund",
                    ),
                ),
                (
                    "split",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="tip_recoveries",
                        to="payments.paymentsplit",
                    ),
                ),
                (
                    "staff",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="tip_adjustments", to="payments.staff"
                    ),
                ),
            ],
            options={
                "db_table": "tip_adjustments",
                "ordering": ["created_at", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="refund",
            index=models.Index(fields=["status", "next_attempt_at"], name="idx_refund_status_next"),
        ),
        migrations.AddIndex(
            model_name="refund",
            index=models.Index(fields=["merchant", "-created_at"], name="idx_refund_merchant_created"),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount_sats__gt", 0)), name="refund_amount_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(("base_part_sats__gte", 0), ("tip_part_sats__gte", 0)),
                name="refund_parts_nonnegative",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "amount_sats",
                        django.db.models.expressions.CombinedExpression(
                            models.F("base_part_sats"), "+", models.F("tip_part_sats")
                        ),
                    )
                ),
                name="refund_parts_conserve",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(("tip_refunded", True), ("tip_part_sats", 0), _connector="OR"),
                name="refund_tip_part_only_when_refunded",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(("reason", ""), _negated=True), name="refund_reason_required"
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("status__in", ["awaiting_funding", "funded", "paying", "paid", "expired", "failed", "cancelled"])
                ),
                name="refund_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("payout_state__in", ["", "invoice_ready", "sending", "pending", "unknown", "succeeded"])
                ),
                name="refund_payout_state_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="refund",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "paid"), _negated=True), ("payout_state", "succeeded"), _connector="OR"
                ),
                name="refund_paid_means_sent",
            ),
        ),
        migrations.AddIndex(
            model_name="tipadjustment",
            index=models.Index(fields=["staff", "created_at"], name="idx_tipadj_staff_created"),
        ),
        migrations.AddConstraint(
            model_name="tipadjustment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("amount_sats__lt", 0), ("kind", "refunded_tip"), ("refund__isnull", False)),
                    models.Q(("amount_sats__gt", 0), ("kind", "recovery"), ("split__isnull", False)),
                    _connector="OR",
                ),
                name="tip_adjustment_kind_shape",
            ),
        ),
        migrations.AddConstraint(
            model_name="tipadjustment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "refunded_tip")),
                fields=("refund", "staff"),
                name="tip_adjustment_once_per_refund",
            ),
        ),
        migrations.AddConstraint(
            model_name="tipadjustment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("kind", "recovery")), fields=("split", "staff"), name="tip_recovery_once_per_sale"
            ),
        ),
        migrations.RunSQL(CEILING_SQL, CEILING_REVERSE_SQL),
        migrations.RunSQL(
            _money_function(OLD_MONEY_EVENT_TYPES + REFUND_EVENT_TYPES), _money_function(OLD_MONEY_EVENT_TYPES)
        ),
    ]
