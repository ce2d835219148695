"""Static pay codes (``pay_codes``): LNURL-pay endpoints BlinkPOS serves for a merchant, a staff member
or a team, printed on posters (docs/ARCHITECTURE.md, Pay codes and tips after payment).

A payment to a code is an ordinary split (``PaymentSplit.kind``): the merchant's code is a sale with
no tip, a staff or team code a tip-only payment forwarded like any tip.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from payments.models.parties import Merchant, SplitProfile, Staff

# LUD-16: the name of an address is a-z0-9-_. (we store it lower case, at most 64 characters).
USERNAME_PATTERN = r"^[a-z0-9_.-]{1,64}$"
DEFAULT_MIN_SENDABLE_SATS = 1
DEFAULT_MAX_SENDABLE_SATS = 1_000_000


class PayCodeKind(models.TextChoices):
    MERCHANT = "merchant", "merchant pay code"
    STAFF = "staff", "staff tip code"
    TEAM = "team", "team tip code"


class PayCode(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="pay_codes")
    kind = models.CharField(max_length=10, choices=PayCodeKind.choices)
    staff = models.ForeignKey(Staff, null=True, blank=True, on_delete=models.PROTECT, related_name="pay_codes")
    split_profile = models.ForeignKey(
        SplitProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="pay_codes"
    )
    # The name of ``username@<this server's host>``; one host serves every merchant, so it is unique.
    username = models.CharField(max_length=64)
    min_sendable_sats = models.BigIntegerField(default=DEFAULT_MIN_SENDABLE_SATS, help_text="sats")
    max_sendable_sats = models.BigIntegerField(default=DEFAULT_MAX_SENDABLE_SATS, help_text="sats")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "pay_codes"
        ordering = ["-is_active", "username"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="pay_code_username_unique"),
            models.CheckConstraint(condition=Q(username__regex=USERNAME_PATTERN), name="pay_code_username_charset"),
            models.CheckConstraint(condition=Q(kind__in=PayCodeKind.values), name="pay_code_kind_valid"),
            models.CheckConstraint(
                condition=Q(min_sendable_sats__gte=1, max_sendable_sats__gte=models.F("min_sendable_sats")),
                name="pay_code_bounds_valid",
            ),
            # Exactly the recipient its kind names: a staff code pays one member, a team code a profile.
            models.CheckConstraint(
                condition=(
                    Q(kind=PayCodeKind.MERCHANT, staff__isnull=True, split_profile__isnull=True)
                    | Q(kind=PayCodeKind.STAFF, staff__isnull=False, split_profile__isnull=True)
                    | Q(kind=PayCodeKind.TEAM, staff__isnull=True, split_profile__isnull=False)
                ),
                name="pay_code_recipient_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.username} ({self.kind})"
