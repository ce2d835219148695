"""The merchant's staff sign-in settings: the staff code, each person's email and PIN, sending a sign-in
link and signing someone out everywhere; every bad input is a 400 naming the field, nothing written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from payments.models import Merchant, Staff, StaffLogin, StaffPortal, StaffSignInToken
from tests.dashboard.staff_support import PIN, give_login, pin_sign_in
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana(merchant: Merchant) -> Staff:
    return StaffFactory(merchant=merchant, display_name="Dana", blink_username="dana")


def test_page_shows_the_staff_code(client_a: Client, merchant: Merchant, dana: Staff) -> None:
    html = client_a.get("/settings/staff-access/").content.decode()
    code = StaffPortal.objects.get(merchant=merchant).code
    assert re.fullmatch(r"[A-Z2-9]{8}", code) and code in html and "Dana" in html
    assert "/settings/staff-access/" in client_a.get("/settings/").content.decode()


def test_set_email_and_pin_then_the_person_signs_in(client_a: Client, merchant: Merchant, dana: Staff) -> None:
    response = client_a.post(
        "/settings/staff-access/login/", {"staff": dana.pk, "email": "Dana@Example.com", "pin": PIN}
    )
    assert response.status_code == 302
    login = StaffLogin.objects.get(staff=dana)
    assert login.email == "dana@example.com" and login.pin_hash and PIN not in login.pin_hash
    code = StaffPortal.objects.get(merchant=merchant).code
    assert pin_sign_in(Client(), code=code, name="dana@example.com").status_code == 302

    # empty fields keep what the person has; the check boxes take it away
    client_a.post("/settings/staff-access/login/", {"staff": dana.pk, "email": "", "pin": ""})
    kept = StaffLogin.objects.get(staff=dana)
    assert kept.pin_hash == login.pin_hash and kept.email == "dana@example.com"
    client_a.post("/settings/staff-access/login/", {"staff": dana.pk, "remove_pin": "on"})
    assert not StaffLogin.objects.get(staff=dana).pin_hash
    assert StaffLogin.objects.get(staff=dana).email == "dana@example.com"
    client_a.post("/settings/staff-access/login/", {"staff": dana.pk, "remove_email": "on"})
    assert StaffLogin.objects.get(staff=dana).email == ""


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "a@example.com"}, "staff"),
        ({"staff": "abc", "email": "a@example.com"}, "staff"),
        ({"staff": "OTHER", "email": "a@example.com"}, "staff"),
        ({"staff": "DANA", "email": "not-an-email"}, "email"),
        ({"staff": "DANA", "email": "taken@example.com"}, "email"),
        ({"staff": "DANA", "pin": "12"}, "pin"),
        ({"staff": "DANA", "pin": "12ab"}, "pin"),
        ({"staff": "DANA", "pin": "1234", "remove_pin": "on"}, "pin"),
        ({"staff": "DANA", "email": "a@example.com", "remove_email": "on"}, "email"),
    ],
)
def test_bad_login_settings_name_the_field(
    client_a: Client, merchant: Merchant, other_merchant: Merchant, dana: Staff, data: dict[str, Any], field: str
) -> None:
    taken = StaffFactory(merchant=merchant, blink_username="kai")
    give_login(merchant, taken, email="taken@example.com")
    other = StaffFactory(merchant=other_merchant, blink_username="stranger")
    ids = {"DANA": dana.pk, "OTHER": other.pk}
    data = {k: ids.get(v, v) if k == "staff" else v for k, v in data.items()}

    response = client_a.post("/settings/staff-access/login/", data)

    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(rf'<label class="field invalid">[^<]*<[^>]*name="{field}"', html), html[-3000:]
    assert not StaffLogin.objects.filter(staff__in=[dana, other]).exists()


def test_send_a_sign_in_link(client_a: Client, merchant: Merchant, dana: Staff) -> None:
    # without an email there is nowhere to send it
    response = client_a.post("/settings/staff-access/link/", {"staff": dana.pk})
    assert response.status_code == 400 and "Set this staff member" in response.content.decode()
    assert not mail.outbox

    give_login(merchant, dana, email="dana@example.com")
    assert client_a.post("/settings/staff-access/link/", {"staff": dana.pk}).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["dana@example.com"]
    token = re.search(r"http://testserver/staff/link/#(\S+)", mail.outbox[0].body).group(1)  # type: ignore[union-attr]
    staff_client = Client()
    assert staff_client.post("/staff/link/", {"token": token})["Location"] == "/staff/"
    assert StaffSignInToken.objects.get(staff=dana).origin == "merchant"


def test_links_from_the_merchant_are_limited_too(
    client_a: Client, settings: Any, merchant: Merchant, dana: Staff
) -> None:
    settings.STAFF_LINKS_PER_WINDOW = 1
    give_login(merchant, dana, email="dana@example.com")
    assert client_a.post("/settings/staff-access/link/", {"staff": dana.pk}).status_code == 302
    refused = client_a.post("/settings/staff-access/link/", {"staff": dana.pk})
    assert refused.status_code == 429 and len(mail.outbox) == 1


@pytest.mark.parametrize("url", ["/settings/staff-access/link/", "/settings/staff-access/sign-out/"])
def test_another_merchants_staff_is_an_invalid_choice(client_a: Client, other_merchant: Merchant, url: str) -> None:
    stranger = StaffFactory(merchant=other_merchant, blink_username="stranger")
    give_login(other_merchant, stranger, email="s@example.com")
    before = StaffLogin.objects.get(staff=stranger).session_version
    response = client_a.post(url, {"staff": stranger.pk})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    assert not mail.outbox and StaffLogin.objects.get(staff=stranger).session_version == before


def test_sign_out_everywhere_ends_the_persons_sessions(client_a: Client, merchant: Merchant, dana: Staff) -> None:
    code = give_login(merchant, dana)
    staff_client = Client()
    pin_sign_in(staff_client, code=code, name="dana")
    assert staff_client.get("/staff/").status_code == 200
    assert client_a.post("/settings/staff-access/sign-out/", {"staff": dana.pk}).status_code == 302
    assert staff_client.get("/staff/")["Location"] == "/staff/login/"


def test_settings_need_the_merchant(client: Client, dana: Staff) -> None:
    assert client.get("/settings/staff-access/")["Location"].startswith("/login/")
    assert client.post("/settings/staff-access/login/", {"staff": dana.pk, "pin": PIN})["Location"].startswith(
        "/login/"
    )
    assert not StaffLogin.objects.exists()


def test_operator_sees_sign_ins_without_secrets_and_lifts_a_lock(merchant: Merchant, dana: Staff) -> None:
    from django.urls import reverse
    from django.utils import timezone

    from tests.factories import UserFactory

    give_login(merchant, dana, email="dana@example.com")
    StaffLogin.objects.filter(staff=dana).update(failed_attempts=4, locked_until=timezone.now())
    operator = Client()
    operator.force_login(UserFactory(username="op", is_staff=True, is_superuser=True))
    login = StaffLogin.objects.get(staff=dana)

    page = operator.get(reverse("admin:payments_stafflogin_change", args=[login.pk])).content.decode()
    assert "dana@example.com" in page and login.pin_hash not in page and "pin_hash" not in page

    operator.post(
        reverse("admin:payments_stafflogin_changelist"),
        {"action": "unlock", "_selected_action": [login.pk]},
    )
    login.refresh_from_db()
    assert login.failed_attempts == 0 and login.locked_until is None
