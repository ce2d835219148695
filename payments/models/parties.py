"""The people and devices around a sale: merchants, their staff (tip recipients), team split profiles
and POS terminals."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from payments.models.accounts import PlatformAccount

# Merchants created by the legacy import before their Blink username was known get ``legacy-<digest>``:
# a hyphen is not allowed in Blink usernames, so a placeholder can never name a real account.
PLACEHOLDER_USERNAME_PREFIX = "legacy-"


def default_tip_presets() -> list[int]:
    return [10, 15, 20]


class PayoutRouteKind(models.TextChoices):
    """How a person's share reaches them (payments/services/payout_routes.py)."""

    CUSTODIAL = "custodial", "Blink wallet"
    LNURL = "lnurl", "Lightning address (LNURL-pay)"


class PayoutDestinationFields(models.Model):
    """Where a party is paid and what the last resolution found. ``lightning_address`` empty: the
    Blink username's custodial wallet, falling back to ``<username>@blink.sv``. db_default keeps raw
    inserts (bench, legacy SQL) working."""

    lightning_address = models.CharField(
        max_length=255, blank=True, default="", db_default="", help_text="name@domain; empty: the Blink username"
    )
    payout_route = models.CharField(
        max_length=10, choices=PayoutRouteKind.choices, blank=True, default="", db_default=""
    )
    # Wallet id (custodial) or the LNURL callback's host (lnurl); never a secret.
    payout_route_detail = models.CharField(max_length=255, blank=True, default="", db_default="")
    payout_route_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def payout_destination(self) -> str:
        """What the merchant entered, for display: the address, else @username."""
        username = getattr(self, "blink_username", "")
        return self.lightning_address or (f"@{username}" if username else "")


class Merchant(PayoutDestinationFields):
    """A business taking payments. Its base amounts are forwarded to ``wallet_id`` (a Blink BTC wallet)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="merchant"
    )
    name = models.CharField(max_length=120)
    blink_username = models.CharField(max_length=50, unique=True)
    wallet_id = models.CharField(max_length=100, help_text="Resolved Blink BTC wallet id")
    display_currency = models.CharField(max_length=10, default="USD")
    tip_presets = models.JSONField(default=default_tip_presets, help_text="Tip percents offered at the POS")
    # MultiFernet token; see payments.crypto. Never shown again after it is set.
    blink_api_key_encrypted = models.TextField(blank=True, default="")
    blink_api_key_scopes = models.CharField(max_length=50, blank=True, default="")
    is_active = models.BooleanField(default=True)
    # Written by the recipient check: a wallet that no longer resolves is flagged before money is lost.
    wallet_check_ok = models.BooleanField(default=True)
    wallet_checked_at = models.DateTimeField(null=True, blank=True)
    wallet_check_error = models.CharField(max_length=255, blank=True, default="")
    # Set on merchants the legacy import created (no login user; maybe a placeholder username); an
    # operator completes the record in the admin and clears it. Informational: payouts do not wait on it.
    needs_setup = models.BooleanField(
        default=False, db_default=False, help_text="An operator still has to complete this merchant"
    )
    # Routing fees of Lightning-address payouts: False, each recipient's share pays its own fee; True,
    # the merchant absorbs them out of the base (payments/domain/payout_fees.py).
    absorbs_payout_fees = models.BooleanField(default=False, db_default=False)
    # "pooled": tips of sales during an open shift go to the shift's pool (payments/models/shifts.py).
    tip_mode = models.CharField(
        max_length=10,
        choices=[("per_sale", "Per sale"), ("pooled", "Pooled per shift")],
        default="per_sale",
        db_default="per_sale",
    )
    setup_note = models.CharField(
        max_length=255, blank=True, default="", db_default="", help_text="What is missing, and why"
    )
    # The Blink account new sales are created on; empty: the default account (BLINK_* settings). A
    # change applies to new sales only: each split keeps the account it was created on.
    platform_account = models.ForeignKey(
        PlatformAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="merchants"
    )
    # Printed on customer receipts (docs/ARCHITECTURE.md, Receipts and the cashier's view).
    receipt_address = models.CharField(
        max_length=300, blank=True, default="", db_default="", help_text="Address lines shown on receipts"
    )
    receipt_footer = models.CharField(
        max_length=200, blank=True, default="", db_default="", help_text="A closing line on receipts"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "merchants"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (@{self.blink_username})"

    @property
    def has_blink_api_key(self) -> bool:
        return bool(self.blink_api_key_encrypted)

    @property
    def has_placeholder_username(self) -> bool:
        return self.blink_username.startswith(PLACEHOLDER_USERNAME_PREFIX)


class Staff(PayoutDestinationFields):
    """A tip recipient working for one merchant, paid to the BTC wallet behind ``blink_username`` or
    to ``lightning_address`` (one of the two is set; see ``PayoutDestinationFields``).

    ``wallet_id`` is empty only for staff the legacy import could not resolve at the provider: no new
    tip can name them and their imported tips wait for an operator until the wallet is resolved.
    """

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="staff")
    display_name = models.CharField(max_length=120)
    blink_username = models.CharField(max_length=50, blank=True)
    wallet_id = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)
    wallet_check_ok = models.BooleanField(default=True)
    wallet_checked_at = models.DateTimeField(null=True, blank=True)
    wallet_check_error = models.CharField(max_length=255, blank=True, default="")
    # The role used by pooled tips (weights and tip-outs); null: weight 1x, no tip-out.
    role = models.ForeignKey(
        "payments.StaffRole", null=True, blank=True, on_delete=models.SET_NULL, related_name="staff"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "staff_members"
        verbose_name = "staff member"
        verbose_name_plural = "staff"
        ordering = ["display_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "blink_username"],
                condition=~models.Q(blink_username=""),
                name="staff_unique_username_per_merchant",
            ),
            models.UniqueConstraint(
                fields=["merchant", "lightning_address"],
                condition=~models.Q(lightning_address=""),
                name="staff_unique_address_per_merchant",
            ),
            models.CheckConstraint(
                condition=~models.Q(blink_username="") | ~models.Q(lightning_address=""),
                name="staff_has_payout_destination",
            ),
        ]
        indexes = [models.Index(fields=["blink_username"], name="idx_staff_username")]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.payout_destination})"


class SplitProfile(models.Model):
    """Team tips: the tip is shared by weight (basis points summing to 10 000, enforced by a deferred
    constraint trigger created in the migrations)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="split_profiles")
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "split_profiles"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["merchant", "name"], name="split_profile_unique_name")]

    def __str__(self) -> str:
        return self.name


class SplitProfileShare(models.Model):
    profile = models.ForeignKey(SplitProfile, on_delete=models.CASCADE, related_name="shares")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="profile_shares")
    weight_bps = models.PositiveIntegerField(help_text="Share of the tip in basis points (1/100 of a percent)")

    class Meta:
        db_table = "split_profile_shares"
        constraints = [
            models.UniqueConstraint(fields=["profile", "staff"], name="split_share_unique_staff"),
            models.CheckConstraint(
                condition=models.Q(weight_bps__gt=0, weight_bps__lte=10_000), name="split_share_weight_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id}: {self.weight_bps} bps"


class Terminal(models.Model):
    """A POS device. Its API key is shown once; only a SHA-256 digest and a lookup prefix are stored."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(max_length=120)
    key_prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # The merchant lets this terminal refund its completed sales through the API (payments/api/refunds.py).
    can_refund = models.BooleanField(default=False, db_default=False)
    # The location / terminal group whose open shift pools this terminal's tips (pooled mode).
    group = models.ForeignKey(
        "payments.TerminalGroup", null=True, blank=True, on_delete=models.SET_NULL, related_name="terminals"
    )

    class Meta:
        db_table = "terminals"
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
