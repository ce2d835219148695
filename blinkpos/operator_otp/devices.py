"""Every write to an operator's second factor: the pending authenticator, its confirmation, recovery
codes, and spending a code at sign-in.

Codes and keys are returned to the caller, who shows them once; they never reach a log line.
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from blinkpos.logging import get_logger

log = get_logger(__name__)

RECOVERY_CODE_COUNT = 10
RECOVERY_DEVICE_NAME = "recovery codes"
PENDING_DEVICE_NAME = "pending"
DEVICE_NAME_MAX = 64


@dataclass(frozen=True)
class Enrolment:
    """A new authenticator's setup URI and fresh recovery codes, to be shown once."""

    config_url: str = field(repr=False)
    recovery_codes: list[str] = field(repr=False)


def totp_secret(device: TOTPDevice) -> str:
    """The key as authenticator apps take it typed in: base32 in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def totp_devices_confirmed(*, user: AbstractBaseUser) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.devices_for_user(user, confirmed=True).order_by("pk"))


def recovery_codes_left(*, user: AbstractBaseUser) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def totp_device_pending(*, user: AbstractBaseUser) -> TOTPDevice:
    """The user's authenticator that waits for its first code (created on the first call, then reused so
    reloading the page keeps the same QR). It signs nobody in until confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=PENDING_DEVICE_NAME, confirmed=False)
    return device


@transaction.atomic
def totp_device_confirm(*, user: AbstractBaseUser, token: str, name: str) -> TOTPDevice | None:
    """Activate the pending authenticator if ``token`` is its current code; None changes nothing but the
    device's failure throttle. Locks the pending row so two submissions cannot both confirm it."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
    if device is None or not device.verify_token(_normalise(token)):
        return None
    device.confirmed = True
    device.name = name[:DEVICE_NAME_MAX] or "authenticator"
    device.save(update_fields=["confirmed", "name"])
    log.info("operator_otp.totp_confirmed", user_id=user.pk, device_id=device.pk)
    return device


@transaction.atomic
def recovery_codes_replace(*, user: AbstractBaseUser) -> list[str]:
    """New single-use recovery codes; every earlier one stops working."""
    device = StaticDevice.objects.filter(user=user).order_by("pk").first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    StaticDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    StaticToken.objects.filter(device__user=user).delete()
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    log.info("operator_otp.recovery_codes_replaced", user_id=user.pk, count=len(codes))
    return codes


@transaction.atomic
def second_factor_verify(*, user: AbstractBaseUser, token: str) -> Device | None:
    """The user's confirmed device that accepts ``token``, or None.

    Digits go to the authenticators: a code is accepted once per time step, so a replayed code is
    refused. Anything else goes to the recovery codes, each deleted when used. The devices are locked
    (SELECT ... FOR UPDATE) so two concurrent sign-ins cannot spend the same code; a wrong code counts
    against django-otp's per-device throttle.
    """
    token = _normalise(token)
    if not token:
        return None
    model: type[TOTPDevice] | type[StaticDevice] = TOTPDevice if token.isdigit() else StaticDevice
    for device in model.objects.devices_for_user(user, confirmed=True).select_for_update().order_by("pk"):
        if device.verify_token(token):
            log.info("operator_otp.verified", user_id=user.pk, device=model.__name__)
            return device
    log.info("operator_otp.refused", user_id=user.pk, device=model.__name__)
    return None


@transaction.atomic
def operator_enrol(*, user: AbstractBaseUser) -> Enrolment:
    """Replace every second factor of ``user`` with a new, already active authenticator and new recovery
    codes. For an operator at the server's shell (who needs no sign-in to prove anything)."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    codes = recovery_codes_replace(user=user)
    log.info("operator_otp.enrolled_from_shell", user_id=user.pk, device_id=device.pk)
    return Enrolment(config_url=device.config_url, recovery_codes=codes)


def _normalise(token: str) -> str:
    return "".join(str(token).split()).lower()
