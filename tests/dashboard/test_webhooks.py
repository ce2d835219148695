"""Settings → Webhooks in the dashboard: register (secret shown once on the answer), every bad input a
400 naming the field with nothing written, another merchant's endpoint a 404, reveal, rotate, test
event, replay, and the banner when an endpoint was disabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import Merchant, MerchantWebhookEndpoint, MerchantWebhookMessage
from payments.services.webhook_endpoints import endpoint_create, endpoint_secret
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver(settings: Any) -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    settings.MERCHANT_WEBHOOKS_ALLOW_HTTP_HOSTS = [server.host]
    yield server
    server.stop()


def form(receiver: Receiver, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "url": receiver.url,
        "description": "ERP",
        "event_types": ["invoice.paid", "refund.paid"],
        "enabled": "on",
    }
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def test_register_shows_the_secret_once_and_lists_the_endpoint(client_a: Client, receiver: Receiver) -> None:
    response = client_a.post("/settings/webhooks/new/", form(receiver))
    assert response.status_code == 201
    endpoint = MerchantWebhookEndpoint.objects.get()
    secret = endpoint_secret(endpoint=endpoint)
    assert secret.encode() in response.content
    assert endpoint.event_types == ["invoice.paid", "refund.paid"] and endpoint.enabled

    listing = client_a.get("/settings/webhooks/")
    assert listing.status_code == 200 and receiver.url.encode() in listing.content
    assert secret.encode() not in listing.content
    assert secret.encode() not in client_a.get(f"/settings/webhooks/{endpoint.pk}/").content


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": None}, "url"),
        ({"url": "http://example.com/x"}, "url"),
        ({"url": "https://192.168.1.10/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://" + "a" * 600}, "url"),
        ({"event_types": None}, "event_types"),
        ({"event_types": ["invoice.created"]}, "event_types"),
        ({"description": "d" * 201}, "description"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written(
    client_a: Client, receiver: Receiver, change: dict[str, Any], field: str
) -> None:
    response = client_a.post("/settings/webhooks/new/", form(receiver, **change))
    assert response.status_code == 400
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert not MerchantWebhookEndpoint.objects.exists()


def test_a_bad_edit_is_a_400_and_changes_nothing(client_a: Client, merchant: Merchant, receiver: Receiver) -> None:
    endpoint, _ = endpoint_create(merchant=merchant, url=receiver.url, event_types=["invoice.paid"])
    response = client_a.post(f"/settings/webhooks/{endpoint.pk}/edit/", form(receiver, url="https://10.1.2.3/"))
    assert response.status_code == 400 and response.context["form"].errors.get("url")
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url


def test_another_merchants_endpoint_is_404_for_every_page_and_action(
    client_a: Client, other_merchant: Merchant, receiver: Receiver
) -> None:
    endpoint, _ = endpoint_create(merchant=other_merchant, url=receiver.url, event_types=["invoice.paid"])
    MerchantWebhookMessage.objects.create(
        endpoint=endpoint, msg_id="msg_y", event_type="invoice.paid", body="{}", created_at=timezone.now()
    )
    assert client_a.get(f"/settings/webhooks/{endpoint.pk}/").status_code == 404
    for action in ["edit", "remove", "secret", "rotate", "test", "dismiss", "messages/msg_y/replay"]:
        response = client_a.post(
            f"/settings/webhooks/{endpoint.pk}/{action}/", form(receiver, url="https://x.example/")
        )
        assert response.status_code == 404, action
    endpoint.refresh_from_db()
    assert endpoint.url == receiver.url and MerchantWebhookMessage.objects.count() == 1


def test_reveal_rotate_test_event_and_replay(client_a: Client, merchant: Merchant, receiver: Receiver) -> None:
    endpoint, secret = endpoint_create(merchant=merchant, url=receiver.url, event_types=["invoice.paid"])
    assert secret.encode() in client_a.post(f"/settings/webhooks/{endpoint.pk}/secret/").content

    rotated = client_a.post(f"/settings/webhooks/{endpoint.pk}/rotate/")
    endpoint.refresh_from_db()
    new = endpoint_secret(endpoint=endpoint)
    assert new != secret and new.encode() in rotated.content and b"also signs until" in rotated.content

    assert client_a.post(f"/settings/webhooks/{endpoint.pk}/test/").status_code == 302
    message = MerchantWebhookMessage.objects.get()
    assert message.event_type == "webhook.test"
    MerchantWebhookMessage.objects.filter(pk=message.pk).update(status="failed")
    assert client_a.post(f"/settings/webhooks/{endpoint.pk}/messages/{message.msg_id}/replay/").status_code == 302
    message.refresh_from_db()
    assert message.status == "pending" and message.trigger == "replay"
    page = client_a.get(f"/settings/webhooks/{endpoint.pk}/")
    assert message.msg_id.encode() in page.content


def test_a_disabled_endpoint_puts_a_banner_on_every_page_until_dismissed(
    client_a: Client, merchant: Merchant, receiver: Receiver
) -> None:
    endpoint, _ = endpoint_create(merchant=merchant, url=receiver.url, event_types=["invoice.paid"])
    MerchantWebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_at=timezone.now(), disabled_reason="every delivery failed for 3 days"
    )
    for page in ["/", "/transactions/", "/settings/"]:
        assert b"every delivery failed for 3 days" in client_a.get(page).content, page
    assert client_a.post(f"/settings/webhooks/{endpoint.pk}/test/").status_code == 409
    client_a.post(f"/settings/webhooks/{endpoint.pk}/dismiss/")
    assert b"every delivery failed for 3 days" not in client_a.get("/transactions/").content
