"""Every console page: 200 for an operator with ``console.view_console``, 403 for staff without it, the
admin's sign-in for anyone else; the landing page links to the console only for those who may use it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PAGES = [
    ("admin:console_home", []),
    ("admin:console_database", []),
    ("admin:console_redis", []),
    ("admin:console_queues", []),
    ("admin:console_reports", []),
    ("admin:console_report", ["pending-payments"]),
    ("admin:console_activepayment_changelist", []),
    ("admin:console_paymentstatistic_changelist", []),
    ("admin:console_toptiprecipient_changelist", []),
    ("admin:console_activepayment_export", []),
]


@pytest.fixture(autouse=True)
def _quick_inspect(monkeypatch: pytest.MonkeyPatch) -> None:
    from console import queues

    monkeypatch.setattr(queues, "INSPECT_TIMEOUT", 0.2)


@pytest.mark.parametrize(("name", "args"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_renders_for_an_operator_with_the_permission(console_operator: Client, name: str, args: list) -> None:
    response = console_operator.get(reverse(name, args=args))
    assert response.status_code == 200, response.content[:500]


@pytest.mark.parametrize(("name", "args"), PAGES, ids=[p[0] for p in PAGES])
def test_each_page_is_403_for_staff_without_the_permission(plain_staff: Client, name: str, args: list) -> None:
    assert plain_staff.get(reverse(name, args=args)).status_code == 403


@pytest.mark.parametrize("name", ["admin:console_redis_evict", "admin:console_redis_rewarm"])
def test_the_actions_are_403_for_staff_without_the_permission(plain_staff: Client, name: str) -> None:
    assert plain_staff.post(reverse(name), {"key": "tip:" + "a" * 64}).status_code == 403


def test_anonymous_visitors_are_sent_to_the_admin_sign_in() -> None:
    response = Client().get(reverse("admin:console_database"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_landing_page_links_to_the_console_only_with_the_permission(
    console_operator: Client, plain_staff: Client
) -> None:
    console_link = reverse("admin:console_database")
    assert console_link in console_operator.get(reverse("admin:index")).content.decode()
    assert console_link not in plain_staff.get(reverse("admin:index")).content.decode()
