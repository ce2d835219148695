"""Staff self-service sign-in: the merchant's public staff code, each staff member's email and PIN, and
one-time sign-in links (docs/ARCHITECTURE.md, Staff self-service and payroll).

A staff session is its own kind (``dashboard/staff_session.py``): never a Django user, never the
merchant's. Only hashes are stored: the PIN as a Django password hash, a link's token as its SHA-256.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from payments.models.parties import Merchant, Staff


class StaffPortal(models.Model):
    """The merchant's public code staff type with their PIN (printed in the back office, not a secret)."""

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="staff_portal")
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "staff_portals"

    def __str__(self) -> str:
        return f"staff code {self.code} of merchant {self.merchant_id}"


class StaffLogin(models.Model):
    """How one staff member signs in: an email for links, a PIN with the merchant's code."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="login")
    # Lower-cased; unique within a merchant (checked by the service: the merchant is on the staff row).
    email = models.EmailField(max_length=254, blank=True, default="")
    pin_hash = models.CharField(max_length=128, blank=True, default="", help_text="Django password hash of the PIN")
    failed_attempts = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # A session remembers it: any change of email or PIN (or "sign out everywhere") ends open sessions.
    session_version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "staff_logins"
        indexes = [models.Index(fields=["email"], name="idx_staff_login_email", condition=~Q(email=""))]

    def __str__(self) -> str:
        return f"sign-in of staff {self.staff_id}"

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)


class SignInLinkOrigin(models.TextChoices):
    STAFF = "staff", "Asked for by the staff member"
    MERCHANT = "merchant", "Sent by the merchant"


class StaffSignInToken(models.Model):
    """A one-time sign-in link: only the token's SHA-256 is kept; used once (``used_at``), short-lived."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="sign_in_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    origin = models.CharField(max_length=10, choices=SignInLinkOrigin.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "staff_sign_in_tokens"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["expires_at"], name="idx_staff_token_expiry")]

    def __str__(self) -> str:
        return f"sign-in link of staff {self.staff_id} ({'used' if self.used_at else 'unused'})"
