"""blinkpos/db_unavailable.py: a database outage raised by a plain Django view is a 503 with
Retry-After (the API's error body for machine paths, a short page for browsers), never a 500; any
other exception is still Django's 500."""

from __future__ import annotations

import pytest
from django.db.utils import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

from payments.api.errors import DATABASE_RETRY_AFTER_SECONDS


def database_gone(request: HttpRequest) -> HttpResponse:
    raise OperationalError("server closed the connection unexpectedly")


def pool_closed(request: HttpRequest) -> HttpResponse:
    raise InterfaceError("the connection is closed")


def bug(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("api/v1/t/gone", database_gone),
    path("webhooks/t/closed", pool_closed),
    path("pages/gone", database_gone),
    path("pages/bug", bug),
    path("", include("blinkpos.urls")),
]

pytestmark = pytest.mark.django_db


@pytest.fixture
def client() -> Client:
    return Client(raise_request_exception=False)


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("url", ["/api/v1/t/gone", "/webhooks/t/closed"])
def test_machine_paths_get_the_apis_503(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER_SECONDS)
    assert response.json()["error"]["code"] == "service_unavailable"


@override_settings(ROOT_URLCONF=__name__)
def test_a_page_gets_a_short_503_page_and_a_json_client_json(client: Client) -> None:
    page = client.get("/pages/gone")
    assert page.status_code == 503 and page["Content-Type"].startswith("text/html")
    assert b"Temporarily unavailable" in page.content
    assert "Content-Security-Policy" in page  # it went back out through the other middleware
    assert client.get("/pages/gone", headers={"Accept": "application/json"}).json()["error"]["code"] == (
        "service_unavailable"
    )


@override_settings(ROOT_URLCONF=__name__)
def test_any_other_exception_is_still_a_500(client: Client) -> None:
    assert client.get("/pages/bug").status_code == 500


def test_blinks_webhook_during_a_database_outage_is_a_503(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.api import webhook

    def receive(**kwargs: object) -> None:
        raise OperationalError("consuming input failed: server closed the connection unexpectedly")

    monkeypatch.setattr(webhook, "webhook_receive", receive)
    response = client.post("/webhooks/blink", data=b"{}", content_type="application/json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
