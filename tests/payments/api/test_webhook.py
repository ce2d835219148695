"""``POST /webhooks/blink`` (payments/api/webhook.py) at its size limit: a body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` is answered 413 in the one error format, unread, and nothing is
written or queued. (The webhook's behaviour is tested in tests/payments/forwarding/test_webhooks.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from fakeblink import FakeBlink
from payments.models import PaymentSplit, WebhookDelivery
from tests.payments.forwarding.conftest import queue_length, receive_body, sign

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_body_over_the_size_limit_is_413_and_nothing_is_written(
    client: Client, fake_blink: FakeBlink, settings: Any
) -> None:
    # given a correctly signed receive event padded past the limit
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    event = json.loads(receive_body(fake_blink, "ab" * 32, 1000))
    event["transaction"]["memo"] = "x" * limit
    body = json.dumps(event).encode()
    assert len(body) > limit

    # when it is delivered
    response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))

    # then
    assert response.status_code == 413
    assert response.json() == {
        "error": {
            "code": "request_too_large",
            "message": f"The request body is larger than {limit} bytes.",
            "fields": {},
        }
    }
    assert not WebhookDelivery.objects.exists()
    assert not PaymentSplit.objects.exists()
    assert queue_length() == 0


def test_a_body_just_under_the_limit_is_read(client: Client, fake_blink: FakeBlink, settings: Any) -> None:
    # the same event kept under the limit is verified and recorded as usual (ignored: no such split)
    event = json.loads(receive_body(fake_blink, "cd" * 32, 1000, event_type="send.lightning"))
    event["transaction"]["memo"] = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 2000)
    body = json.dumps(event).encode()

    response = client.post("/webhooks/blink", data=body, content_type="application/json", headers=sign(body))

    assert response.status_code == 200 and response.json()["outcome"] == "ignored"
    assert WebhookDelivery.objects.count() == 1
