"""A signed-in staff user adds an authenticator on the admin's two-factor page: it is active only after a
current code confirms it, recovery codes come with it and are shown once."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from blinkpos.operator_otp.devices import second_factor_verify
from tests.blinkpos.operator_otp.conftest import admin_path, current_code, sign_in
from tests.security.test_deploy_and_headers import _CspAudit

pytestmark = pytest.mark.django_db

PAGE = admin_path("two-factor/")


def _codes_in(body: str) -> list[str]:
    section = body.split('id="recovery-codes"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<code>([a-z2-7]{8})</code>", section)


@pytest.fixture
def staff_client(staff_user: AbstractBaseUser) -> Client:
    client = Client()
    assert sign_in(client, staff_user).status_code == 302  # no authenticator yet: the password alone
    return client


def test_the_page_shows_a_qr_and_key_for_a_pending_authenticator(
    staff_client: Client, staff_user: AbstractBaseUser
) -> None:
    response = staff_client.get(PAGE)
    body = response.content.decode()
    assert response.status_code == 200
    pending = TOTPDevice.objects.get(user=staff_user)
    assert not pending.confirmed
    assert 'src="data:image/svg+xml' in body
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)
    assert secret is not None
    assert secret.group(1).replace(" ", "") in unquote(pending.config_url)
    assert "no-store" in response["Cache-Control"]
    # reloading keeps the same pending authenticator (the QR already scanned stays valid)
    staff_client.get(PAGE)
    assert TOTPDevice.objects.filter(user=staff_user).count() == 1
    audit = _CspAudit()
    audit.feed(body)
    assert not audit.violations, audit.violations[:5]


def test_a_wrong_code_leaves_the_authenticator_off(staff_client: Client, staff_user: AbstractBaseUser) -> None:
    staff_client.get(PAGE)
    pending = TOTPDevice.objects.get(user=staff_user)
    wrong = f"{(int(current_code(pending)) + 1) % 1_000_000:06d}"
    response = staff_client.post(PAGE, {"action": "confirm", "name": "phone", "otp_token": wrong})
    assert response.status_code == 400
    assert "otp_token" in response.content.decode() and "not accepted" in response.content.decode()
    pending.refresh_from_db()
    assert not pending.confirmed
    assert not StaticToken.objects.filter(device__user=staff_user).exists()


def test_confirming_turns_it_on_and_shows_recovery_codes_once(
    staff_client: Client, staff_user: AbstractBaseUser
) -> None:
    staff_client.get(PAGE)
    pending = TOTPDevice.objects.get(user=staff_user)
    response = staff_client.post(PAGE, {"action": "confirm", "name": "work phone", "otp_token": current_code(pending)})
    assert response.status_code == 200
    pending.refresh_from_db()
    assert pending.confirmed and pending.name == "work phone"
    codes = _codes_in(response.content.decode())
    stored = set(StaticToken.objects.filter(device__user=staff_user).values_list("token", flat=True))
    assert len(codes) == 10 and set(codes) == stored
    # this session proved the new authenticator: it stays in the admin
    assert staff_client.get(admin_path()).status_code == 200
    # the codes are not shown again
    assert 'id="recovery-codes"' not in staff_client.get(PAGE).content.decode()
    # and a password-only session no longer reaches the admin
    other = Client()
    other.force_login(staff_user)
    assert other.get(admin_path()).status_code == 302


def test_replacing_recovery_codes_retires_the_old_ones(staff_client: Client, staff_user: AbstractBaseUser) -> None:
    staff_client.get(PAGE)
    pending = TOTPDevice.objects.get(user=staff_user)
    confirmed = staff_client.post(PAGE, {"action": "confirm", "name": "phone", "otp_token": current_code(pending)})
    first = _codes_in(confirmed.content.decode())
    response = staff_client.post(PAGE, {"action": "recovery"})
    second = _codes_in(response.content.decode())
    assert response.status_code == 200 and len(second) == 10 and not set(first) & set(second)
    assert second_factor_verify(user=staff_user, token=second[0]) is not None
    assert second_factor_verify(user=staff_user, token=first[0]) is None


def test_recovery_codes_need_an_authenticator_first(staff_client: Client, staff_user: AbstractBaseUser) -> None:
    response = staff_client.post(PAGE, {"action": "recovery"})
    assert response.status_code == 400
    assert not StaticToken.objects.filter(device__user=staff_user).exists()
    assert staff_client.post(PAGE, {"action": "delete-everything"}).status_code == 400


@pytest.mark.usefixtures("otp_required")
def test_a_superuser_cannot_enrol_with_a_password_alone(superuser: AbstractBaseUser) -> None:
    client = Client()
    client.force_login(superuser)
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert not TOTPDevice.objects.filter(user=superuser).exists()
