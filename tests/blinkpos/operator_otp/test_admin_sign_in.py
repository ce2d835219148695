"""Signing in to the admin with a second factor: who needs one, a code accepted once, recovery codes,
and refusals counted by the failed sign-in throttle."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from blinkpos.operator_otp.devices import recovery_codes_replace
from tests.blinkpos.operator_otp.conftest import PASSWORD, admin_path, current_code, sign_in, signed_in
from tests.security.test_deploy_and_headers import _CspAudit

pytestmark = pytest.mark.django_db


@pytest.mark.usefixtures("otp_required")
def test_a_superuser_without_an_authenticator_cannot_reach_the_admin(superuser: AbstractBaseUser) -> None:
    # given no enrolled authenticator, when the password alone is offered
    client = Client()
    response = sign_in(client, superuser)
    # then the form says how to enrol, and nobody is signed in
    assert response.status_code == 200
    assert "manage.py operator_otp" in response.content.decode()
    assert not signed_in(client)
    # and a session made some other way (the dashboard's sign-in) does not open the admin either
    client.force_login(superuser)
    response = client.get(admin_path())
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.usefixtures("otp_required")
def test_a_current_code_opens_the_admin_and_cannot_be_replayed(
    superuser: AbstractBaseUser, authenticator: TOTPDevice
) -> None:
    code = current_code(authenticator)
    client = Client()
    response = sign_in(client, superuser, code)
    assert response.status_code == 302 and response["Location"] == admin_path()
    assert client.get(admin_path()).status_code == 200
    # the same code, offered again (stolen over a shoulder), is refused
    replay = Client()
    response = sign_in(replay, superuser, code)
    assert response.status_code == 200
    assert "not accepted" in response.content.decode()
    assert not signed_in(replay)


@pytest.mark.usefixtures("otp_required")
def test_a_wrong_or_missing_code_is_refused(superuser: AbstractBaseUser, authenticator: TOTPDevice) -> None:
    right = int(current_code(authenticator))
    wrong = f"{(right + 1) % 1_000_000:06d}"
    for code in (wrong, "", "not-a-code"):
        client = Client()
        response = sign_in(client, superuser, code)
        assert response.status_code == 200, code
        assert 'class="errorlist' in response.content.decode()
        assert not signed_in(client)


@pytest.mark.usefixtures("otp_required")
def test_a_session_that_skipped_the_code_does_not_reach_the_admin(
    superuser: AbstractBaseUser, authenticator: TOTPDevice
) -> None:
    client = Client()
    client.force_login(superuser)  # e.g. the merchant dashboard's password-only sign-in
    response = client.get(admin_path("payments/paymentsplit/"))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.usefixtures("otp_required")
def test_a_recovery_code_works_once(superuser: AbstractBaseUser, authenticator: TOTPDevice) -> None:
    codes = recovery_codes_replace(user=superuser)
    assert len(codes) == 10 and len(set(codes)) == 10
    client = Client()
    assert sign_in(client, superuser, codes[3].upper()).status_code == 302
    assert client.get(admin_path()).status_code == 200
    # another code still works; the spent one is refused
    assert sign_in(Client(), superuser, codes[4]).status_code == 302
    again = Client()
    assert sign_in(again, superuser, codes[3]).status_code == 200
    assert not signed_in(again)


@pytest.mark.usefixtures("otp_required")
def test_staff_without_an_authenticator_sign_in_with_the_password_until_they_enrol(
    staff_user: AbstractBaseUser,
) -> None:
    # A staff user who is not a superuser: the password alone, as long as nothing is enrolled.
    client = Client()
    assert sign_in(client, staff_user).status_code == 302
    assert client.get(admin_path()).status_code == 200
    # Once they enrol, the code is required, whatever ADMIN_OTP_REQUIRED says.
    device = TOTPDevice.objects.create(user=staff_user, name="phone", confirmed=True)
    assert client.get(admin_path()).status_code == 302  # this session never proved the new authenticator
    assert sign_in(Client(), staff_user).status_code == 200
    assert sign_in(Client(), staff_user, current_code(device)).status_code == 302


def test_without_the_requirement_a_superuser_signs_in_with_the_password(superuser: AbstractBaseUser) -> None:
    client = Client()
    assert sign_in(client, superuser).status_code == 302
    assert client.get(admin_path()).status_code == 200


@pytest.mark.usefixtures("otp_required")
def test_wrong_codes_count_towards_the_failed_sign_in_limit(
    superuser: AbstractBaseUser, authenticator: TOTPDevice, settings: Any
) -> None:
    settings.AUTH_FAILURE_LIMITS = {"login": [3, 900], "api_key": [8, 600]}
    for _ in range(3):
        assert sign_in(Client(), superuser, "000000").status_code == 200
    # the right password and a current code are now turned away before they are checked
    blocked = Client()
    response = sign_in(blocked, superuser, current_code(authenticator))
    assert response.status_code == 429
    assert not signed_in(blocked)


@pytest.mark.usefixtures("otp_required")
def test_the_sign_in_page_asks_for_the_code_and_keeps_the_csp(superuser: AbstractBaseUser) -> None:
    response = Client().get(admin_path("login/"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="otp_token"' in body and 'autocomplete="one-time-code"' in body
    assert "script-src 'self'" in response["Content-Security-Policy"]
    audit = _CspAudit()
    audit.feed(body)
    assert not audit.violations, audit.violations[:5]
    assert PASSWORD not in body
