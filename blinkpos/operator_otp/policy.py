"""Who must pass a second factor before the admin lets them in.

- Every superuser while ``ADMIN_OTP_REQUIRED`` is on (production's default): one without an enrolled
  authenticator cannot sign in to the admin at all; ``manage.py operator_otp`` enrols them.
- Any staff user who has enrolled an authenticator (or holds recovery codes): once enrolled, a password
  alone never opens the admin again, whatever the setting.
- A staff user who is not a superuser and has no authenticator signs in with the password; their
  permissions are what a superuser granted them, and they can enrol from the two-factor page.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django_otp import user_has_device


def second_factor_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if settings.ADMIN_OTP_REQUIRED and getattr(user, "is_superuser", False):
        return True
    return bool(user_has_device(user, confirmed=True))


def session_verified(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether this request's session passed a second factor (set by django-otp's OTPMiddleware)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified()) if callable(is_verified) else False


def second_factor_satisfied(user: AbstractBaseUser | AnonymousUser) -> bool:
    return session_verified(user) or not second_factor_required(user)
