"""Login, logout, who may see the dashboard, and the security headers on its pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import Merchant
from tests.dashboard.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PAGES = ["pos", "transactions", "tips", "report", "charts", "settings"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_need_login(name: str) -> None:
    response = Client().get(reverse(f"dashboard:{name}"))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_login_with_password_then_logout(merchant: Merchant) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    token = page.cookies["csrftoken"].value
    response = client.post("/login/", {"username": "alice-owner", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    client.post("/logout/", {"csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert client.get("/").status_code == 302


def test_login_refuses_a_wrong_password(merchant: Merchant) -> None:
    response = Client().post("/login/", {"username": "alice-owner", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_login_form_needs_csrf(merchant: Merchant) -> None:
    response = Client(enforce_csrf_checks=True).post("/login/", {"username": "alice-owner", "password": PASSWORD})
    assert response.status_code == 403


def test_user_without_merchant_gets_403() -> None:
    client = Client()
    client.force_login(UserFactory(username="nobody"))
    response = client.get(reverse("dashboard:pos"))
    assert response.status_code == 403
    assert "No merchant account" in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_a_strict_csp_and_no_inline_script(client_a: Client, name: str) -> None:
    response = client_a.get(reverse(f"dashboard:{name}"))
    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    body = response.content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), "inline script"
    assert "http://" not in body.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no CDN
    assert 'name="viewport"' in body  # phone-sized screens


def test_admin_pages_also_satisfy_the_csp(client_a: Client) -> None:
    op = Client()
    op.force_login(UserFactory(username="op", is_staff=True, is_superuser=True))
    response = op.get(reverse("admin:index"))
    assert "Content-Security-Policy" in response
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", response.content.decode())
