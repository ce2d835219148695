"""Operators, their authenticators and the admin sign-in, for the two-factor tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"  # UserFactory's


def current_code(device: TOTPDevice) -> str:
    """What the operator's authenticator app shows right now."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def admin_path(suffix: str = "") -> str:
    return "/" + settings.ADMIN_URL.strip("/") + "/" + suffix


def sign_in(client: Client, user: AbstractBaseUser, code: str = "") -> Any:
    return client.post(
        admin_path("login/"),
        {"username": user.get_username(), "password": PASSWORD, "otp_token": code, "next": admin_path()},
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def otp_required(settings: Any) -> None:
    settings.ADMIN_OTP_REQUIRED = True


@pytest.fixture
def superuser() -> AbstractBaseUser:
    return UserFactory(username="root_operator", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_user() -> AbstractBaseUser:
    return UserFactory(username="desk_operator", is_staff=True, is_superuser=False)


@pytest.fixture
def authenticator(superuser: AbstractBaseUser) -> TOTPDevice:
    return TOTPDevice.objects.create(user=superuser, name="phone", confirmed=True)
