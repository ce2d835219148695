"""``manage.py operator_otp USERNAME``: the first superuser of an install gets an authenticator and
recovery codes printed once, and can then sign in."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.blinkpos.operator_otp.conftest import admin_path, current_code, sign_in
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("operator_otp", *args, stdout=out)
    return out.getvalue()


@pytest.mark.usefixtures("otp_required")
def test_the_command_enrols_a_superuser_who_then_signs_in(
    superuser: AbstractBaseUser, caplog: pytest.LogCaptureFixture
) -> None:
    output = _run(superuser.get_username())
    uris = re.findall(r"otpauth://totp/\S+", output)
    assert len(uris) == 1
    uri = urlsplit(uris[0])
    assert unquote(uri.path) == f"/BlinkPOS:{superuser.get_username()}"
    secret = parse_qs(uri.query)["secret"][0]
    device = TOTPDevice.objects.get(user=superuser)
    assert device.confirmed
    codes = re.findall(r"^  ([a-z2-7]{8})$", output, re.MULTILINE)
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.filter(device__user=superuser).values_list("token", flat=True))
    assert "█" in output or "▀" in output  # the terminal QR
    # nothing secret went to the logs
    assert secret not in caplog.text and not any(code in caplog.text for code in codes)
    # the operator signs in with the app's code
    client = Client()
    assert sign_in(client, superuser, current_code(device)).status_code == 302
    assert client.get(admin_path()).status_code == 200


def test_the_uri_is_printed_once(superuser: AbstractBaseUser) -> None:
    first = _run(superuser.get_username(), "--no-qr")
    with pytest.raises(CommandError, match="--replace"):
        _run(superuser.get_username(), "--no-qr")
    assert TOTPDevice.objects.filter(user=superuser).count() == 1
    old_key = TOTPDevice.objects.get(user=superuser).key
    # --replace enrols anew: a different secret, the old authenticator and codes gone
    second = _run(superuser.get_username(), "--replace", "--no-qr")
    assert re.findall(r"otpauth://\S+", first) != re.findall(r"otpauth://\S+", second)
    device = TOTPDevice.objects.get(user=superuser)
    assert device.key != old_key
    assert StaticToken.objects.filter(device__user=superuser).count() == 10


def test_the_command_refuses_unknown_and_non_staff_users() -> None:
    with pytest.raises(CommandError, match="no user 'nobody'"):
        _run("nobody")
    cashier = UserFactory(username="cashier", is_staff=False)
    with pytest.raises(CommandError, match="not an active staff user"):
        _run(cashier.get_username())
    assert not TOTPDevice.objects.exists()
