"""The webhook endpoints API: the signed-in owner registers, reads, changes, removes endpoints, reveals
and rotates the secret, sends a test event, reads the log and replays; bad input is a 400 naming the
field with nothing written; another merchant sees 404; a terminal key is refused."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from payments.models import (
    Merchant,
    MerchantWebhookAttempt,
    MerchantWebhookEndpoint,
    MerchantWebhookMessage,
    MessageStatus,
)
from payments.services.webhook_delivery import message_deliver
from tests.factories import MerchantFactory, TerminalFactory
from tests.webhook_receiver import Answer, Receiver, verify

pytestmark = pytest.mark.django_db

BASE = "/api/v1/webhook-endpoints"


def owner(merchant: Merchant) -> Client:
    client = Client()
    client.force_login(merchant.user)
    return client


def create(client: Client, receiver: Receiver, **extra: Any) -> Any:
    body = {"url": receiver.url, "event_types": ["invoice.paid", "refund.paid"], "description": "ERP", **extra}
    return client.post(BASE, body, content_type="application/json")


def test_register_list_read_change_and_remove(merchant: Merchant, receiver: Receiver) -> None:
    client = owner(merchant)
    created = create(client, receiver)
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["enabled"] is True
    assert body["event_types"] == ["invoice.paid", "refund.paid"]
    endpoint = MerchantWebhookEndpoint.objects.get()
    assert body["secret"] not in endpoint.secret_encrypted  # encrypted at rest

    assert [e["id"] for e in client.get(BASE).json()] == [endpoint.pk]
    assert "secret" not in client.get(f"{BASE}/{endpoint.pk}").json()
    assert client.get(f"{BASE}/{endpoint.pk}/secret").json()["secret"] == body["secret"]

    changed = client.patch(
        f"{BASE}/{endpoint.pk}", {"enabled": False, "event_types": ["payout.failed"]}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["event_types"] == ["payout.failed"]

    assert client.delete(f"{BASE}/{endpoint.pk}").status_code == 204
    assert not MerchantWebhookEndpoint.objects.exists()


def names(response: Any, field: str) -> bool:
    """The error names ``field`` (a list item as ``field.<index>``)."""
    return any(k == field or k.startswith(f"{field}.") for k in response.json()["error"]["fields"])


BAD_INPUTS = [
    ({"url": None}, "url"),
    ({"url": ""}, "url"),
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "http://example.com/hooks"}, "url"),  # not https
    ({"url": "https://10.0.0.7/hooks"}, "url"),  # private
    ({"url": "https://[::1]/hooks"}, "url"),  # loopback
    ({"url": "https://user:pw@example.com/"}, "url"),
    ({"url": "https://" + "a" * 600 + ".com/"}, "url"),
    ({"event_types": []}, "event_types"),
    ({"event_types": ["invoice.created"]}, "event_types"),
    ({"event_types": "invoice.paid"}, "event_types"),
    ({"event_types": ["webhook.test"]}, "event_types"),
    ({"description": "x" * 201}, "description"),
    ({"enabled": "perhaps"}, "enabled"),
    ({"secret": "whsec_mine"}, "secret"),  # unknown field
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUTS)
def test_every_bad_input_is_a_400_naming_the_field_and_nothing_is_written(
    merchant: Merchant, receiver: Receiver, change: dict[str, Any], field: str
) -> None:
    body: dict[str, Any] = {"url": receiver.url, "event_types": ["invoice.paid"], **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = owner(merchant).post(BASE, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert names(response, field)
    assert not MerchantWebhookEndpoint.objects.exists()


@pytest.mark.parametrize(("change", "field"), BAD_INPUTS[1:])
def test_a_bad_change_is_a_400_naming_the_field_and_nothing_changes(
    merchant: Merchant, receiver: Receiver, change: dict[str, Any], field: str
) -> None:
    client = owner(merchant)
    endpoint_id = create(client, receiver).json()["id"]
    before = MerchantWebhookEndpoint.objects.values().get()
    response = client.patch(f"{BASE}/{endpoint_id}", change, content_type="application/json")
    assert response.status_code == 400 and names(response, field)
    assert MerchantWebhookEndpoint.objects.values().get() == before


def test_malformed_json_and_a_non_object_body_are_400s(merchant: Merchant) -> None:
    client = owner(merchant)
    assert client.post(BASE, "{not json", content_type="application/json").status_code == 400
    assert client.post(BASE, "[1, 2]", content_type="application/json").status_code == 400
    assert not MerchantWebhookEndpoint.objects.exists()


def test_another_merchant_gets_404_everywhere(merchant: Merchant, receiver: Receiver) -> None:
    endpoint_id = create(owner(merchant), receiver).json()["id"]
    MerchantWebhookMessage.objects.create(
        endpoint_id=endpoint_id, msg_id="msg_x", event_type="invoice.paid", body="{}", created_at="2026-01-01T00:00Z"
    )
    stranger = owner(MerchantFactory())
    assert stranger.get(BASE).json() == []
    for method, path in [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("get", "/secret"),
        ("post", "/rotate-secret"),
        ("post", "/test"),
        ("get", "/messages"),
        ("get", "/attempts"),
        ("post", "/messages/msg_x/replay"),
    ]:
        response = getattr(stranger, method)(f"{BASE}/{endpoint_id}{path}", {}, content_type="application/json")
        assert response.status_code == 404, (method, path)
    for junk in ["abc", "-1", "9" * 30]:
        assert stranger.get(f"{BASE}/{junk}").status_code == 404
    endpoint = MerchantWebhookEndpoint.objects.get()
    assert endpoint.enabled and MerchantWebhookMessage.objects.count() == 1


def test_a_terminal_key_is_refused_and_anonymous_is_401(merchant: Merchant, receiver: Receiver) -> None:
    terminal = TerminalFactory(merchant=merchant)
    response = Client().get(BASE, HTTP_AUTHORIZATION=f"Api-Key {terminal.plain_key}")
    assert response.status_code == 403
    assert Client().get(BASE).status_code in (401, 403)


def test_send_test_event_and_replay_use_the_log(merchant: Merchant, receiver: Receiver) -> None:
    client = owner(merchant)
    created = create(client, receiver).json()
    endpoint_id, secret = created["id"], created["secret"]

    queued = client.post(f"{BASE}/{endpoint_id}/test")
    assert queued.status_code == 202 and queued.json()["event_type"] == "webhook.test"
    message = MerchantWebhookMessage.objects.get()
    receiver.answer(Answer(status=500, body=b"boom"))
    assert message_deliver(message_id=message.pk) == "retry"

    replay = client.post(f"{BASE}/{endpoint_id}/messages/{message.msg_id}/replay")
    assert replay.status_code == 202 and replay.json()["attempts"] == 0
    assert message_deliver(message_id=message.pk) == "succeeded"

    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.msg_id
    assert verify(secret, second)["type"] == "webhook.test"
    log = client.get(f"{BASE}/{endpoint_id}/attempts").json()
    assert [(a["status_code"], a["trigger"]) for a in log] == [(200, "replay"), (500, "test")]
    assert log[1]["response_body"] == "boom"
    assert client.get(f"{BASE}/{endpoint_id}/messages").json()[0]["status"] == MessageStatus.SUCCEEDED


def test_rotate_returns_the_new_secret_and_the_overlap(merchant: Merchant, receiver: Receiver) -> None:
    client = owner(merchant)
    created = create(client, receiver).json()
    rotated = client.post(f"{BASE}/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"] and rotated.json()["previous_secret_expires_at"]
    assert client.get(f"{BASE}/{created['id']}/secret").json()["secret"] == rotated.json()["secret"]


def test_replay_and_test_event_on_a_disabled_endpoint_are_409(merchant: Merchant, receiver: Receiver) -> None:
    client = owner(merchant)
    endpoint_id = create(client, receiver, enabled=False).json()["id"]
    assert client.post(f"{BASE}/{endpoint_id}/test").status_code == 409
    assert not MerchantWebhookMessage.objects.exists() and not MerchantWebhookAttempt.objects.exists()


def test_the_back_office_shows_endpoints_and_the_log_with_the_secret_masked(
    merchant: Merchant, receiver: Receiver
) -> None:
    from tests.factories import UserFactory

    operator = Client()
    operator.force_login(UserFactory(username="hooks-operator", is_staff=True, is_superuser=True))
    created = create(owner(merchant), receiver).json()
    owner(merchant).post(f"{BASE}/{created['id']}/test")
    message = MerchantWebhookMessage.objects.get()
    message_deliver(message_id=message.pk)

    page = operator.get(f"/admin/payments/merchantwebhookendpoint/{created['id']}/change/")
    assert page.status_code == 200 and b"whsec_\xe2\x80\xa2" in page.content
    assert created["secret"].encode() not in page.content
    endpoint = MerchantWebhookEndpoint.objects.get()
    assert endpoint.secret_encrypted.encode() not in page.content
    log = operator.get(f"/admin/payments/merchantwebhookmessage/{message.pk}/change/")
    assert log.status_code == 200 and message.msg_id.encode() in log.content
